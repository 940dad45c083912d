"""Debian's Linux on caixa with an AHCI SATA disk, a virtio-blk disk and a
CD on a SATA port (tests/e2e/linux_disks.sh): the kernel's own ahci,
sr_mod and virtio_blk drivers find them, reads match the image files'
bytes, writes reach the files.

usage: linux_disks.py CAIXA GUEST_DIR WORK_DIR"""
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
CD_MIB = 4


def md5(b):
    return hashlib.md5(b).hexdigest()


def sums(out):
    """The md5sum lines of a command's output (a long command's echo wraps
    on the console and job control adds lines of its own)."""
    return re.findall(r"^([0-9a-f]{32})  -", out, re.M)


def kernel_lines(out):
    return [l for l in out.splitlines() if re.match(r"^\[ *[0-9]+\.[0-9]+\]", l)]


def msi_counts(out, name):
    """Interrupts taken per /proc/interrupts line of a PCI-MSI(-X) vector
    whose action is `name` (a regular expression)."""
    counts = []
    for l in out.splitlines():
        m = re.match(r"^\s*\d+:((?:\s+\d+)+)\s+PCI-MSI\S*\s.*\s(%s)\s*$" % name, l)
        if m:
            counts.append(sum(int(c) for c in m.group(1).split()))
    return counts


def main():
    caixa, guest_dir, work = sys.argv[1:4]
    disks = {}
    for name, seed in (("sata", 1), ("virtio", 2)):
        path = os.path.join(work, name + ".img")
        with open(path, "wb") as f:
            f.write(random.Random(seed).randbytes(DISK_MIB * MIB))
        disks[name] = path
    cd = os.path.join(work, "cd.iso")
    with open(cd, "wb") as f:
        f.write(random.Random(3).randbytes(CD_MIB * MIB))
    data = open(os.path.join(guest_dir, "data.bin"), "rb").read()
    cmdline = open(os.path.join(guest_dir, "cmdline")).read().strip()
    argv = [caixa, "run", "--kernel", os.path.join(guest_dir, "vmlinuz"),
            "--initrd", os.path.join(guest_dir, "initramfs.cpio.gz"), "--append", cmdline,
            "--disk", disks["sata"] + ",if=sata", "--disk", disks["virtio"] + ",if=virtio",
            "--cdrom", cd + ",if=sata"]
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
        # Module loading and probing end before init's prompt; the block
        # nodes may still be on their way.
        g.run("for i in $(seq 50); do [ -b /dev/sda ] && [ -b /dev/vda ] && [ -b /dev/sr0 ] && break;"
              " sleep 0.2; done")
        # The CD on a SATA port (ATAPI): its size and contents.
        iso = open(cd, "rb").read()
        check("sr0 size", g.run("cat /sys/block/sr0/size"), str(CD_MIB * MIB // 512))
        out = g.run("dd if=/dev/sr0 bs=2048 count=%d 2>/dev/null | md5sum" % (CD_MIB * MIB // 2048), 300)
        check("sr0 read", sums(out), [md5(iso)])
        for dev, name in (("sda", "sata"), ("vda", "virtio")):
            img = open(disks[name], "rb").read()
            check(dev + " size", g.run("cat /sys/block/%s/size" % dev), str(DISK_MIB * MIB // 512))
            # Read: the first 8 MiB and an unaligned 1 MiB region, against the file.
            out = g.run("dd if=/dev/%s bs=1M count=8 2>/dev/null | md5sum" % dev, 300)
            check(dev + " read 0-8M", sums(out), [md5(img[:8 * MIB])])
            out = g.run("dd if=/dev/%s bs=4k skip=777 count=256 2>/dev/null | md5sum" % dev, 300)
            check(dev + " read 4k-aligned 1M", sums(out), [md5(img[777 * 4096:777 * 4096 + MIB])])
            # Parallel readers keep several requests (NCQ tags) in flight.
            out = g.run("for i in 0 1 2 3; do dd if=/dev/%s bs=64k skip=$((i*64)) count=64 2>/dev/null"
                        " | md5sum > /tmp/p$i & done; wait; cat /tmp/p0 /tmp/p1 /tmp/p2 /tmp/p3" % dev, 300)
            want = [md5(img[i * 4 * MIB:(i + 1) * 4 * MIB]) for i in range(4)]
            check(dev + " parallel reads", sums(out), want)
            # Write a known file, sync, drop the caches, read it back; the host
            # sees the bytes in the image file.
            g.run("dd if=/root/data.bin of=/dev/%s bs=64k seek=%d conv=fsync 2>/dev/null; sync"
                  % (dev, WRITE_AT_MIB * 16), 300)
            g.run("echo 3 > /proc/sys/vm/drop_caches")
            out = g.run("dd if=/dev/%s bs=64k skip=%d count=%d 2>/dev/null | md5sum"
                        % (dev, WRITE_AT_MIB * 16, len(data) // 65536), 300)
            check(dev + " write read back", sums(out), [md5(data)])
            with open(disks[name], "rb") as f:
                f.seek(WRITE_AT_MIB * MIB)
                check(dev + " write in the image file", md5(f.read(len(data))), md5(data))
        # virtio-blk's seg_max (virtio 5.2.4) as Linux took it: a 1 MiB
        # request (256 pages) goes to the device whole.
        check("vda max_segments", g.run("cat /sys/block/vda/queue/max_segments"), "1022")
        # Message signalled interrupts (PCI 3.0 6.8): virtio-blk's queue on
        # an MSI-X vector, AHCI on MSI, both taken; no I/O APIC line left to
        # either driver.
        irqs = g.run("grep -E 'virtio|ahci' /proc/interrupts")
        check("virtio-blk queue on MSI-X, interrupts taken",
              [c > 0 for c in msi_counts(irqs, r"virtio\d+-req\S*")], [True])
        check("ahci on MSI, interrupts taken", [c > 0 for c in msi_counts(irqs, r"ahci\S*")], [True])
        check("no INTx (IO-APIC) line for the disks",
              [l for l in irqs.splitlines() if "IO-APIC" in l and re.search(r"virtio|ahci", l)], [])
        errs = g.run("dmesg | grep -iE 'I/O error|exception Emask|failed command|hard resetting|"
                     "virtio.*(error|broken)' | head -5")
        check("no disk errors in dmesg", kernel_lines(errs), [])
        g.send("poweroff\n")
        check("poweroff status", g.wait_exit(120), 0)
    except GuestError as e:
        print("FAIL:", e)
        failures.append("guest")
    finally:
        g.kill()
    if failures:
        print("linux_disks: %d check(s) failed: %s (console log: %s/console.log)"
              % (len(failures), ", ".join(failures), work))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
