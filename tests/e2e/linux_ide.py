"""Debian's Linux on caixa's PIIX3 IDE controller (tests/e2e/linux_ide.sh):
the kernel's ata_piix driver finds the ATA disk (primary master) and the
ATAPI CD (secondary master), reads by bus-master DMA match the image
files' bytes, writes reach the disk file, the CD mounts as ISO 9660 and its
files match the host's, and the kernel's cdrom layer reads the drive's
capabilities.

usage: linux_ide.py CAIXA GUEST_DIR WORK_DIR   (WORK_DIR holds cd.iso and its tree in cd/)"""
import hashlib
import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
from guestshell import Guest, GuestError  # noqa: E402

MIB = 1 << 20
DISK_MIB = 32
WRITE_AT_MIB = 20                  # where the guest writes /root/data.bin


def md5(b):
    return hashlib.md5(b).hexdigest()


def sums(out):
    """The md5sum lines of a command's output (a long command's echo wraps
    on the console)."""
    return re.findall(r"^([0-9a-f]{32})  ", out, re.M)


def kernel_lines(out):
    return [l for l in out.splitlines() if re.match(r"^\[ *[0-9]+\.[0-9]+\]", l)]


def main():
    caixa, guest_dir, work = sys.argv[1:4]
    disk = os.path.join(work, "disk.img")
    with open(disk, "wb") as f:
        f.write(random.Random(7).randbytes(DISK_MIB * MIB))
    iso = os.path.join(work, "cd.iso")
    big = open(os.path.join(work, "cd", "big.bin"), "rb").read()
    data = open(os.path.join(guest_dir, "data.bin"), "rb").read()
    cmdline = open(os.path.join(guest_dir, "cmdline")).read().strip()
    argv = [caixa, "run", "--kernel", os.path.join(guest_dir, "vmlinuz"),
            "--initrd", os.path.join(guest_dir, "initramfs.cpio.gz"), "--append", cmdline,
            "--disk", disk, "--cdrom", iso]
    g = Guest(argv, os.path.join(work, "console.log"))
    failures = []

    def check(what, got, want):
        ok = got == want
        print("%s %s: %r%s" % ("ok  " if ok else "FAIL", what, got, "" if ok else " (want %r)" % want))
        if not ok:
            failures.append(what)

    try:
        t0 = time.monotonic()
        g.wait_prompt(600)
        print("prompt after %.1f s" % (time.monotonic() - t0))
        g.run("for i in $(seq 50); do [ -b /dev/sda ] && [ -b /dev/sr0 ] && break; sleep 0.2; done")
        out = g.run("dmesg | grep -E 'ata[12](\\.00)?: ' | head -6")
        check("disk found by ata_piix", bool(re.search(r"ata1\.00: ATA-7: CAIXA HARDDISK", out)), True)
        check("CD found by ata_piix", bool(re.search(r"ata2\.00: ATAPI: CAIXA DVD-ROM", out)), True)
        check("bus-master DMA in use", bool(re.search(r"ata1: PATA max MWDMA2 .* bmdma 0x", out)), True)
        img = open(disk, "rb").read()
        check("sda size", g.run("cat /sys/block/sda/size"), str(DISK_MIB * MIB // 512))
        out = g.run("dd if=/dev/sda bs=1M count=8 2>/dev/null | md5sum", 300)
        check("sda read 0-8M", sums(out), [md5(img[:8 * MIB])])
        out = g.run("dd if=/dev/sda bs=4k skip=777 count=256 2>/dev/null | md5sum", 300)
        check("sda read 4k-aligned 1M", sums(out), [md5(img[777 * 4096:777 * 4096 + MIB])])
        g.run("dd if=/root/data.bin of=/dev/sda bs=64k seek=%d conv=fsync 2>/dev/null; sync"
              % (WRITE_AT_MIB * 16), 300)
        g.run("echo 3 > /proc/sys/vm/drop_caches")
        out = g.run("dd if=/dev/sda bs=64k skip=%d count=%d 2>/dev/null | md5sum"
                    % (WRITE_AT_MIB * 16, len(data) // 65536), 300)
        check("sda write read back", sums(out), [md5(data)])
        with open(disk, "rb") as f:
            f.seek(WRITE_AT_MIB * MIB)
            check("sda write in the image file", md5(f.read(len(data))), md5(data))
        # The CD: raw sectors, then the file system.
        iso_bytes = open(iso, "rb").read()
        out = g.run("dd if=/dev/sr0 bs=2048 count=64 2>/dev/null | md5sum", 300)
        check("sr0 read first 64 sectors", sums(out), [md5(iso_bytes[:64 * 2048])])
        g.run("mkdir -p /mnt/cd && mount -t iso9660 -o ro /dev/sr0 /mnt/cd")
        out = g.run("md5sum /mnt/cd/big.bin", 300)
        check("CD file big.bin", sums(out), [md5(big)])
        g.run("umount /mnt/cd")
        # The drive's capabilities as the kernel's cdrom layer read them from
        # MODE SENSE page 2Ah (eject and lock are tested in unit/test_piix_ide;
        # Debian's busybox has no eject applet).
        out = g.run("cat /proc/sys/dev/cdrom/info")
        for cap in ("Can open tray", "Can lock tray", "Can read DVD", "Can read multisession"):
            check("cdrom info: " + cap, bool(re.search(cap + r":\s+1\b", out)), True)
        out = g.run("dd if=/dev/sr0 bs=2048 skip=%d count=64 2>/dev/null | md5sum" % 100, 300)
        check("sr0 read 64 sectors from LBA 100", sums(out), [md5(iso_bytes[100 * 2048:164 * 2048])])
        errs = g.run("dmesg | grep -iE 'exception Emask|failed command|hard resetting|timeout' | head -5")
        check("no ATA errors in dmesg", kernel_lines(errs), [])
        g.send("poweroff\n")
        check("poweroff status", g.wait_exit(120), 0)
    except GuestError as e:
        print("FAIL:", e)
        failures.append("guest")
    finally:
        g.kill()
    if failures:
        print("linux_ide: %d check(s) failed: %s (console log: %s/console.log)"
              % (len(failures), ", ".join(failures), work))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
