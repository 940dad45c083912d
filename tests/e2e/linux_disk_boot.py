#!/usr/bin/env python3
"""Debian's Linux booted by SeaBIOS from an isolinux CD (--boot cdrom,disk),
with an ext4 disk image in each format caixa writes: the guest mounts the
disk, checks a file the host put there, writes a new one, syncs, reboots
(back through SeaBIOS and isolinux), reads it back, and powers off. The
host then checks the image with qemu-img and reads the new file out of it
with debugfs: the oracle is the host's own ext4 tools.

usage: linux_disk_boot.py CAIXA GUEST_DIR WORKDIR   (WORKDIR has boot.iso, root.raw)
env: CAIXA_DISK_BOOT ("ide:vdi sata:qcow2 virtio:vmdk" by default: bus:format pairs)"""
import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from guestshell import Guest, GuestError  # noqa: E402

BOOT_TIMEOUT = int(os.environ.get("LINUX_BOOT_TIMEOUT", "400"))
QEMU_FORMAT = {"vhd": "vpc"}
DEVICE = {"ide": "/dev/sda", "sata": "/dev/sda", "virtio": "/dev/vda"}
NOTE = "written-by-the-guest-on-caixa"

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, detail)


def session(caixa, guest_dir, work, bus, fmt):
    tag = "%s-%s-" % (bus, fmt)
    image = os.path.join(work, "root-%s.%s" % (bus, fmt))
    subprocess.check_call(["qemu-img", "convert", "-O", QEMU_FORMAT.get(fmt, fmt),
                           os.path.join(work, "root.raw"), image])
    data_md5 = hashlib.md5(open(os.path.join(guest_dir, "data.bin"), "rb").read()).hexdigest()
    argv = [caixa, "run", "--memory", "256", "--cdrom", os.path.join(work, "boot.iso"),
            "--disk", "%s,if=%s" % (image, bus), "--boot", "cdrom,disk"]
    log = os.path.join(os.environ.get("BUILD", work), "linux_disk_boot-%s-%s.log" % (bus, fmt))
    g = Guest(argv, log)
    dev = DEVICE[bus]
    try:
        out = g.expect(rb"ISOLINUX", BOOT_TIMEOUT)
        check(tag + "seabios-boots-cd", True)
        g.wait_prompt(BOOT_TIMEOUT)
        check(tag + "linux-prompt", True)
        out = g.run("mkdir -p /mnt && mount -t ext4 %s /mnt && cat /mnt/etc/hostname" % dev)
        check(tag + "mount-read", "caixa-ext4-root" in out.splitlines(), repr(out))
        out = g.run("md5sum /mnt/root/data.bin")
        check(tag + "file-md5", out.split()[:1] == [data_md5], repr(out))
        g.run("echo %s > /mnt/root/note.txt && dd if=/mnt/root/data.bin of=/mnt/root/copy.bin bs=64k 2>/dev/null"
              " && sync" % NOTE, 300)
        g.send("reboot\n")
        g.expect(rb"ISOLINUX", BOOT_TIMEOUT)
        g.wait_prompt(BOOT_TIMEOUT)
        check(tag + "reboot-prompt", True)
        out = g.run("mkdir -p /mnt && mount -t ext4 %s /mnt && cat /mnt/root/note.txt && md5sum /mnt/root/copy.bin" % dev, 300)
        check(tag + "read-back", NOTE in out and data_md5 in out, repr(out))
        g.run("umount /mnt")
        g.send("poweroff\n")
        status = g.wait_exit(120)
        check(tag + "poweroff", status == 0, "status %s" % status)
    except GuestError as e:
        check(tag + "session", False, str(e))
    finally:
        g.kill()
    # The host's view of the image caixa wrote.
    qfmt = QEMU_FORMAT.get(fmt, fmt)
    r = subprocess.run(["qemu-img", "check", "-f", qfmt, image], capture_output=True, text=True)
    check(tag + "qemu-img-check", r.returncode == 0 or fmt == "raw", r.stdout[-300:] + r.stderr[-300:])
    raw = image + ".raw"
    subprocess.check_call(["qemu-img", "convert", "-f", qfmt, "-O", "raw", image, raw])
    r = subprocess.run(["debugfs", "-R", "cat /root/note.txt", raw], capture_output=True, text=True)
    check(tag + "host-reads-note", r.stdout.strip() == NOTE, repr(r.stdout[-200:]))
    r = subprocess.run(["e2fsck", "-fn", raw], capture_output=True, text=True)
    check(tag + "e2fsck-clean", r.returncode == 0, r.stdout[-400:])
    os.unlink(raw)


def main():
    caixa, guest_dir, work = sys.argv[1:4]
    pairs = os.environ.get("CAIXA_DISK_BOOT", "ide:vdi sata:qcow2 virtio:vmdk").split()
    for p in pairs:
        bus, fmt = p.split(":")
        session(caixa, guest_dir, work, bus, fmt)
    print("linux_disk_boot: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
