#!/usr/bin/env python3
"""Disk benchmark: the same Linux guest (Debian's kernel, busybox, and the
storage drivers as modules) under caixa and under QEMU TCG, one after the
other in the same run, each with the same image (same format, same content)
on the same kind of controller. In the guest, bench/diskio.c (built static
here) does direct I/O on the disk: sequential read and write in 1 MiB
requests, random read and write in 4 KiB requests. Prints MB/s (and IOPS
for the random modes) of each, and the ratio caixa/QEMU (above 1: caixa is
faster).
A benchmark, not a test: it never fails on speed.

usage: bench/disk.py [CAIXA]            (default build/caixa)
The image is filled with data first (reads of a sparse file's holes would
measure the host's page allocation). Single runs vary by 20% and more on a
shared host: take BENCH_RUNS=3.
env:   BENCH_RUNS (1), QEMU (qemu-system-x86_64), BENCH_IF ("virtio sata"),
       BENCH_FORMAT (raw; any format both accept: raw, qcow2, vdi, vmdk, vpc),
       BENCH_MIB (64: the span each mode covers)"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "tests", "lib"))
from guestshell import Guest, GuestError  # noqa: E402

MODES = ["seqread", "seqwrite", "randread", "randwrite"]
# The guest's drivers for both controllers (the kernel has them as modules).
MODULES = "virtio_pci virtio_blk ahci sd_mod"
DISK_MIB = 256
MEMORY_MB = "256"
# qemu-img's name for each format, where it differs from caixa's.
QEMU_FORMAT = {"vhd": "vpc"}


def build_guest(outdir):
    """The default guest plus the storage modules and /bin/diskio."""
    extra = os.path.join(outdir, "extra")
    os.makedirs(os.path.join(extra, "bin"), exist_ok=True)
    tool = os.path.join(extra, "bin", "diskio")
    src = os.path.join(here, "diskio.c")
    if not os.path.exists(tool) or os.path.getmtime(tool) < os.path.getmtime(src):
        subprocess.check_call(["gcc", "-O2", "-static", "-o", tool, src])
    env = dict(os.environ, GUEST_MODULES=MODULES, GUEST_EXTRA=extra)
    subprocess.check_call([os.path.join(root, "scripts", "build-guest.sh"), outdir], env=env)


def make_image(path, fmt):
    """A disk whose every sector holds data (the same for both emulators):
    reads then measure the emulator, not the host zero-filling a sparse
    file's holes."""
    qfmt = QEMU_FORMAT.get(fmt, fmt)
    if os.path.exists(path):
        os.unlink(path)
    raw = path if fmt == "raw" else path + ".raw"
    block = bytes((i * 7 + (i >> 9)) & 0xff for i in range(1 << 20))
    with open(raw, "wb") as f:
        for i in range(DISK_MIB):
            f.write(block[i % 251:] + block[:i % 251])
    if raw != path:
        subprocess.check_call(["qemu-img", "convert", "-q", "-f", "raw", "-O", qfmt, raw, path])
        os.unlink(raw)


def controller_args(emu, bus, image, fmt):
    qfmt = QEMU_FORMAT.get(fmt, fmt)
    if emu == "caixa":
        return ["--disk", "%s,if=%s" % (image, bus)]
    if bus == "virtio":
        return ["-drive", "file=%s,format=%s,if=virtio,cache=writeback" % (image, qfmt)]
    return ["-device", "ahci,id=ahci", "-drive", "if=none,id=d0,file=%s,format=%s,cache=writeback" % (image, qfmt),
            "-device", "ide-hd,drive=d0,bus=ahci.0"]


def device_node(bus):
    return "/dev/vda" if bus == "virtio" else "/dev/sda"


def one(emu, argv, bus, mib, logdir):
    log = os.path.join(logdir, "disk-%s-%s.log" % (emu, bus))
    res = {}
    try:
        g = Guest(argv, log)
    except OSError as e:
        print("%s: cannot start %s: %s" % (emu, argv[0], e.strerror), file=sys.stderr)
        return res
    try:
        g.wait_prompt(900)
        dev = device_node(bus)
        g.run("test -b %s && echo present" % dev, 60)
        for mode in MODES:
            out = g.run("diskio %s %s %d" % (dev, mode, mib), 1800)
            m = re.search(r"%s (\d+) ([\d.]+) ([\d.]+) (\d+)" % mode, out)
            if not m:
                print("%s %s %s: no result: %s" % (emu, bus, mode, out.strip()[:200]), file=sys.stderr)
                continue
            res[mode] = (float(m.group(3)), float(m.group(4)))
        g.send("poweroff\n")
        try:
            g.wait_exit(60)
        except GuestError:
            pass
    except GuestError as e:
        print("%s %s: %s" % (emu, bus, str(e).splitlines()[0]), file=sys.stderr)
    finally:
        g.kill()
    return res


def main():
    caixa = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "caixa")
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    qemu = os.environ.get("QEMU", "qemu-system-x86_64")
    buses = os.environ.get("BENCH_IF", "virtio sata").split()
    fmt = os.environ.get("BENCH_FORMAT", "raw")
    mib = int(os.environ.get("BENCH_MIB", "64"))
    logdir = os.path.join(os.path.dirname(os.path.abspath(caixa)), "bench")
    os.makedirs(logdir, exist_ok=True)
    guest = os.path.join(os.path.dirname(os.path.abspath(caixa)), "bench-disk-guest")
    build_guest(guest)
    kernel = os.path.join(guest, "vmlinuz")
    initrd = os.path.join(guest, "initramfs.cpio.gz")
    cmdline = open(os.path.join(guest, "cmdline")).read().strip()
    tmp = tempfile.mkdtemp(prefix="caixa-disk-bench.")
    best = {}
    try:
        for _ in range(runs):
            for bus in buses:
                for emu in ("qemu", "caixa"):
                    image = os.path.join(tmp, "disk.%s" % fmt)
                    make_image(image, fmt)
                    # The last run's dirty pages must not be written back
                    # during this one.
                    os.sync()
                    if emu == "qemu":
                        argv = [qemu, "-accel", "tcg", "-nographic", "-no-reboot", "-m", MEMORY_MB,
                                "-kernel", kernel, "-initrd", initrd, "-append", cmdline]
                    else:
                        argv = [caixa, "run", "--memory", MEMORY_MB, "--kernel", kernel, "--initrd", initrd,
                                "--append", cmdline]
                    argv += controller_args(emu, bus, image, fmt)
                    for mode, v in one(emu, argv, bus, mib, logdir).items():
                        key = (bus, mode, emu)
                        if key not in best or v[0] > best[key][0]:
                            best[key] = v
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print("Disk throughput in the guest (direct I/O, %s image, %d MiB per mode); best of %d run(s)" % (fmt, mib, runs))
    print("%-8s %-10s %16s %16s %8s" % ("", "", "QEMU TCG", "caixa", "ratio"))
    for bus in buses:
        for mode in MODES:
            q, c = best.get((bus, mode, "qemu")), best.get((bus, mode, "caixa"))
            def fmt_v(v):
                if v is None:
                    return "%16s" % "-"
                return ("%7.1f MB/s" % v[0]) + (" %4.1fk" % (v[1] / 1000) if mode.startswith("rand") else "      ")
            ratio = "%7.2fx" % (c[0] / q[0]) if q and c else "%8s" % "-"
            print("%-8s %-10s %s %s %s" % (bus, mode, fmt_v(q), fmt_v(c), ratio))
    print("(ratio: caixa's throughput / QEMU's; logs in %s)" % logdir)


if __name__ == "__main__":
    main()
