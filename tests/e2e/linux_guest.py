#!/usr/bin/env python3
"""The default Linux guest on caixa, driven over its serial console:
uname, /proc/cpuinfo against the CPU model caixa advertises (docs/cpu.md),
a clean dmesg, a file checksum against the host's, then `reboot` (1 vCPU) or
a kernel panic with panic=-1 (more vCPUs, with a parallel checksum job per
vCPU first), which must come back to a prompt, and `poweroff`, which must end
caixa with status 0. CAIXA_LINUX_CPUS lists the vCPU counts (default "1 2").

usage: linux_guest.py CAIXA GUEST_DIR"""
import hashlib
import os
import re
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from guestshell import Guest, GuestError  # noqa: E402

# CPUID leaf 1/7/0x80000001 features of caixa's CPU model, by Linux's names.
REQUIRED_FLAGS = """fpu vme de pse tsc msr pae mce cx8 sep mtrr pge cmov pat clflush mmx fxsr sse sse2
    syscall nx pdpe1gb rdtscp lm pni ssse3 cx16 movbe popcnt lahf_lm abm 3dnowprefetch adx""".split()
# What the model must not claim: not implemented.
FORBIDDEN_FLAGS = "sse4_1 sse4_2 avx avx2 xsave pcid bmi1 bmi2 hypervisor fma aes rdrand".split()
BOOT_TIMEOUT = int(os.environ.get("LINUX_BOOT_TIMEOUT", "300"))

passed = failed = 0


def check(name, ok, detail=""):
    global passed, failed
    if ok:
        passed += 1
        print("ok", name)
    else:
        failed += 1
        print("FAIL", name, detail)


def session(caixa, guest_dir, cpus, log):
    release = open(os.path.join(guest_dir, "kernel-release")).read().strip()
    data_md5 = hashlib.md5(open(os.path.join(guest_dir, "data.bin"), "rb").read()).hexdigest()
    argv = [caixa, "run", "--memory", "256", "--kernel", os.path.join(guest_dir, "vmlinuz"),
            "--initrd", os.path.join(guest_dir, "initramfs.cpio.gz"),
            "--append", open(os.path.join(guest_dir, "cmdline")).read().strip()]
    if cpus > 1:
        argv += ["--cpus", str(cpus)]
    tag = "cpus%d-" % cpus
    g = Guest(argv, log)
    try:
        g.wait_prompt(BOOT_TIMEOUT)
        check(tag + "boot-to-prompt", True)
        out = g.run("uname -r")
        check(tag + "uname", out.strip() == release, "got %r, want %r" % (out, release))
        out = g.run("nproc")
        check(tag + "nproc", out.strip() == str(cpus), "got %r" % out)
        info = g.run("cat /proc/cpuinfo")
        check(tag + "cpuinfo-model", "model name\t: caixa virtual CPU" in info, info[:300])
        m = re.search(r"^flags\t+: (.*)$", info, re.M)
        flags = set(m.group(1).split()) if m else set()
        missing = [f for f in REQUIRED_FLAGS if f not in flags]
        extra = [f for f in FORBIDDEN_FLAGS if f in flags]
        check(tag + "cpuinfo-flags", m and not missing and not extra,
              "missing %s, unexpected %s" % (missing, extra))
        out = g.run("dmesg | grep -E 'BUG|WARNING|Oops|Call Trace' ; echo end")
        check(tag + "dmesg-clean", out.strip() == "end", out)
        out = g.run("md5sum /root/data.bin")
        check(tag + "md5sum", out.split()[:1] == [data_md5], "got %r, want %s" % (out, data_md5))
        if cpus > 1:
            # One checksum job per vCPU at once; all must agree with the host.
            jobs = 2 * cpus
            out = g.run("for i in $(seq %d); do md5sum /root/data.bin > /tmp/m$i & done; wait; cat /tmp/m*" % jobs, 300)
            # (the shell's job-control "Done" lines come in between)
            sums = [l.split()[0] for l in out.splitlines() if l.endswith("/root/data.bin") and "md5sum" not in l]
            check(tag + "parallel-md5sum", sums == [data_md5] * jobs, out)
            out = g.run("grep LOC: /proc/interrupts")
            counts = [int(x) for x in out.split()[1:1 + cpus] if x.isdigit()]
            check(tag + "timer-on-every-cpu", len(counts) == cpus and all(counts), out)
        if cpus == 1:
            # reboot: the machine resets, the loader starts the kernel again.
            g.send("reboot\n")
            g.expect(rb"reboot: Restarting system", 120)
            g.expect(rb"Linux version", BOOT_TIMEOUT)
            g.wait_prompt(BOOT_TIMEOUT)
            out = g.run("uname -r")
            check(tag + "reboot", out.strip() == release, out)
        else:
            # A kernel panic with panic=-1 resets the machine at once.
            g.send("echo c > /proc/sysrq-trigger\n")
            g.expect(rb"Kernel panic", 120)
            g.expect(rb"Linux version", BOOT_TIMEOUT)
            g.wait_prompt(BOOT_TIMEOUT)
            out = g.run("nproc")
            check(tag + "panic-reboot", out.strip() == str(cpus), out)
        g.send("poweroff\n")
        status = g.wait_exit(120)
        check(tag + "poweroff-status-0", status == 0, "status %s" % status)
    except GuestError as e:
        check(tag + "session", False, str(e))
    finally:
        g.kill()


def main():
    caixa, guest_dir = sys.argv[1], sys.argv[2]
    logdir = os.environ.get("LINUX_GUEST_LOGDIR", "")
    for cpus in [int(c) for c in os.environ.get("CAIXA_LINUX_CPUS", "1 2").split()]:
        log = os.path.join(logdir, "linux_guest_cpus%d.log" % cpus) if logdir else None
        session(caixa, guest_dir, cpus, log)
    print("linux_guest: %d passed, %d failed" % (passed, failed))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
