#!/usr/bin/env python3
"""Linux guest benchmark: the default guest (Debian's kernel and busybox) under
caixa and under QEMU TCG, one after the other in the same run, each with the
same kernel, initramfs, command line and RAM. For each: seconds from start to
the first shell prompt, seconds for in-guest workloads (md5sum of 32 MiB
streamed from /dev/zero; gzip of a 16 MiB file of random bytes made in the
guest first, so gzip has real work), and the process's peak resident memory
(VmHWM). Prints the ratios caixa/QEMU.
A benchmark, not a test: it never fails on speed.

usage: bench/linux.py [CAIXA] [GUEST_DIR]   (default build/caixa, build/default-guest)
env:   BENCH_RUNS (1), QEMU (qemu-system-x86_64), BENCH_MEMORY_MB (256), BENCH_CPUS (1)"""
import os
import sys
import time

here = os.path.dirname(os.path.abspath(__file__))
root = os.path.dirname(here)
sys.path.insert(0, os.path.join(root, "tests", "lib"))
from guestshell import Guest, GuestError  # noqa: E402

# The workloads, timed inside the guest shell round trip.
PREPARE = "dd if=/dev/urandom of=/tmp/r16 bs=1M count=16 2>/dev/null; sync"
WORKLOADS = [
    ("md5sum 32 MiB", "dd if=/dev/zero bs=1M count=32 2>/dev/null | md5sum"),
    ("gzip 16 MiB", "gzip -c /tmp/r16 | wc -c"),
]


def vm_hwm_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def one(name, argv, logdir):
    log = os.path.join(logdir, "linux-%s.log" % name)
    t0 = time.monotonic()
    try:
        g = Guest(argv, log)
    except OSError as e:
        print("%s: cannot start %s: %s" % (name, argv[0], e.strerror), file=sys.stderr)
        return {}
    res = {}
    try:
        g.wait_prompt(900)
        res["prompt"] = time.monotonic() - t0
        g.run(PREPARE, 600)
        for label, cmd in WORKLOADS:
            t = time.monotonic()
            g.run(cmd, 900)
            res[label] = time.monotonic() - t
        res["hwm"] = vm_hwm_kib(g.proc.pid)
        g.send("poweroff\n")
        try:
            g.wait_exit(60)
        except GuestError:
            pass
    except GuestError as e:
        print("%s: %s" % (name, str(e).splitlines()[0]), file=sys.stderr)
        res["hwm"] = vm_hwm_kib(g.proc.pid)
    finally:
        g.kill()
    return res


def main():
    caixa = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "build", "caixa")
    guest = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "build", "default-guest")
    runs = int(os.environ.get("BENCH_RUNS", "1"))
    mem = os.environ.get("BENCH_MEMORY_MB", "256")
    cpus = int(os.environ.get("BENCH_CPUS", "1"))
    qemu = os.environ.get("QEMU", "qemu-system-x86_64")
    logdir = os.path.join(root, "build", "bench")
    os.makedirs(logdir, exist_ok=True)
    kernel = os.path.join(guest, "vmlinuz")
    initrd = os.path.join(guest, "initramfs.cpio.gz")
    if not os.path.exists(kernel):
        sys.exit("linux.py: no guest at %s (make guest)" % guest)
    cmdline = open(os.path.join(guest, "cmdline")).read().strip()
    common = ["-m", mem, "-kernel", kernel, "-initrd", initrd, "-append", cmdline]
    setups = [
        ("qemu", [qemu, "-accel", "tcg", "-nographic", "-no-reboot", "-smp", str(cpus)] + common),
        ("caixa", [caixa, "run", "--memory", mem, "--kernel", kernel, "--initrd", initrd,
                   "--append", cmdline] + (["--cpus", str(cpus)] if cpus > 1 else [])),
    ]
    best = {}
    for r in range(runs):
        for name, argv in setups:
            res = one(name, argv, logdir)
            for k, v in res.items():
                if k == "hwm":
                    best.setdefault(name, {})[k] = max(best.get(name, {}).get(k, 0), v)
                else:
                    cur = best.setdefault(name, {}).get(k)
                    best[name][k] = v if cur is None else min(cur, v)
    keys = ["prompt"] + [w[0] for w in WORKLOADS]
    print("Linux guest %s, %s MiB, %d vCPU(s); best of %d run(s)" % (
        open(os.path.join(guest, "kernel-release")).read().strip(), mem, cpus, runs))
    print("%-22s %10s %10s %8s" % ("", "QEMU TCG", "caixa", "ratio"))
    for k in keys:
        q, c = best.get("qemu", {}).get(k), best.get("caixa", {}).get(k)
        label = "to shell prompt" if k == "prompt" else k
        fmt = lambda v: "%9.1fs" % v if v is not None else "%10s" % "-"
        ratio = "%7.2fx" % (c / q) if q and c else "%8s" % "-"
        print("%-22s %s %s %s" % (label, fmt(q), fmt(c), ratio))
    qh, ch = best.get("qemu", {}).get("hwm", 0), best.get("caixa", {}).get("hwm", 0)
    print("%-22s %8d MiB %6d MiB %7.2fx" % ("peak RSS (VmHWM)", qh >> 10, ch >> 10, ch / qh if qh else 0))
    print("logs in %s" % logdir)


if __name__ == "__main__":
    main()
