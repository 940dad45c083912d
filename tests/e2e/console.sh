#!/usr/bin/env bash
# e2e: the interactive serial console of `caixa run` on a terminal, with the
# guest tests/e2e/console_guest.asm (an interrupt-driven echo on COM1 that
# upper-cases a-z), driven through a pseudo-terminal by python3's pty module.
#   tests/e2e/console.sh [CAIXA_BINARY]      (default: $CAIXA, then $BUILD/caixa)
# On a terminal: raw mode while the guest runs (no echo, no line editing,
# no signal keys: Ctrl-C reaches the guest), typed bytes come back from the
# guest at once, Ctrl-A A sends Ctrl-A, Ctrl-A H lists the keys, Ctrl-A X
# ends caixa with status 0; the terminal settings afterwards equal those
# before, also after SIGTERM, SIGHUP, SIGINT and SIGQUIT, and while stopped
# by SIGTSTP (raw again after SIGCONT). On a pipe: no console
# keys, every byte reaches the guest.
# Exit 0 pass, 1 fail, 77 skipped (no nasm or python3).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../../build}
caixa=${1:-${CAIXA:-$build/caixa}}
limit=${CONSOLE_TIMEOUT:-30}      # seconds for each wait
[ -n "${CAIXA_SANITIZE:-}" ] && limit=$((limit * 3))

if [ ! -x "$caixa" ]; then
    echo "console.sh: caixa binary '$caixa' not found (give it as \$1 or CAIXA)" >&2
    exit 2
fi
for tool in nasm python3; do
    command -v $tool >/dev/null || { echo "console.sh: $tool not installed: skipped"; exit 77; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/caixa-console.XXXXXX")
trap 'rm -rf "$work"' EXIT
img=$work/console_guest.bin
nasm -f bin -o "$img" "$here/console_guest.asm" || { echo "FAIL: nasm console_guest.asm"; exit 1; }

exec python3 - "$caixa" "$img" "$limit" <<'PY'
import os, pty, resource, select, signal, subprocess, sys, termios, time

caixa, img, limit = sys.argv[1], sys.argv[2], float(sys.argv[3])
argv = [caixa, "run", "--bios", img, "--memory", "16", "--debug-exit"]
failed = False

def check(ok, what, detail=""):
    global failed
    print(("ok   " if ok else "FAIL ") + what + ("" if ok or not detail else ": " + detail))
    failed |= not ok

def no_core():
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

class Run:
    """caixa on a fresh pseudo-terminal (stdin, stdout, stderr)."""
    def __init__(self):
        self.master, self.slave = pty.openpty()
        self.before = termios.tcgetattr(self.slave)
        self.out = b""
        self.p = subprocess.Popen(argv, stdin=self.slave, stdout=self.slave, stderr=self.slave,
                                  start_new_session=True, preexec_fn=no_core)

    def wait_for(self, pat):
        end = time.time() + limit
        while pat not in self.out:
            left = end - time.time()
            if left <= 0:
                return False
            r, _, _ = select.select([self.master], [], [], min(left, 0.5))
            if r:
                try:
                    d = os.read(self.master, 4096)
                except OSError:
                    return pat in self.out
                self.out += d
            elif self.p.poll() is not None and not select.select([self.master], [], [], 0.2)[0]:
                return pat in self.out
        return True

    def type(self, b):
        os.write(self.master, b)

    def finish(self):
        try:
            rc = self.p.wait(timeout=limit)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
            check(False, "caixa ended in time")
        while select.select([self.master], [], [], 0.1)[0]:
            try:
                d = os.read(self.master, 4096)
            except OSError:
                break
            if not d:
                break
            self.out += d
        after = termios.tcgetattr(self.slave)
        os.close(self.master)
        os.close(self.slave)
        return rc, after

# 1. Typing, raw mode, console keys, Ctrl-A X.
r = Run()
check(r.wait_for(b"READY"), "guest is up on the terminal", repr(r.out))
t = termios.tcgetattr(r.slave)
lflag = t[3]
check(not (lflag & (termios.ECHO | termios.ICANON | termios.ISIG)), "raw mode while the guest runs")
r.type(b"hello")
check(r.wait_for(b"HELLO"), "typed bytes come back from the guest", repr(r.out))
check(b"hello" not in r.out, "no echo by the terminal itself")
r.type(b"\x03")
check(r.wait_for(b"\x03"), "Ctrl-C goes to the guest")
check(r.p.poll() is None, "Ctrl-C does not stop caixa")
r.type(b"\x01a")
check(r.wait_for(b"\x01"), "Ctrl-A A sends Ctrl-A")
r.type(b"\x01h")
check(r.wait_for(b"Ctrl-A X"), "Ctrl-A H lists the keys")
r.type(b"x\x01x")
rc, after = r.finish()
check(rc == 0, "Ctrl-A X ends caixa with status 0", "status %s" % rc)
check(b"quitting" in r.out, "Ctrl-A X says why caixa ends")
check(after == r.before, "terminal settings restored after Ctrl-A X")

# 2. Signals from outside: settings restored, status 128+N or death by N.
for sig, want in ((signal.SIGTERM, 143), (signal.SIGHUP, 129), (signal.SIGINT, 130),
                  (signal.SIGQUIT, -signal.SIGQUIT)):
    r = Run()
    check(r.wait_for(b"READY"), "guest up for %s" % sig.name)
    r.p.send_signal(sig)
    rc, after = r.finish()
    check(rc == want, "%s ends caixa" % sig.name, "status %s, want %s" % (rc, want))
    check(after == r.before, "terminal settings restored after %s" % sig.name)

# 3. Stopped from outside (SIGTSTP): the terminal is the shell's while
# caixa is stopped, raw again after SIGCONT.
def state(pid):
    with open("/proc/%d/stat" % pid) as f:
        return f.read().rsplit(")", 1)[1].split()[0]

r = Run()
check(r.wait_for(b"READY"), "guest up for SIGTSTP")
r.p.send_signal(signal.SIGTSTP)
end = time.time() + limit
while state(r.p.pid) != "T" and time.time() < end:
    time.sleep(0.05)
check(state(r.p.pid) == "T", "SIGTSTP stops caixa")
check(termios.tcgetattr(r.slave) == r.before, "terminal settings restored while stopped")
r.p.send_signal(signal.SIGCONT)
end = time.time() + limit
while termios.tcgetattr(r.slave)[3] & termios.ECHO and time.time() < end:
    time.sleep(0.05)
check(not termios.tcgetattr(r.slave)[3] & termios.ECHO, "raw mode again after SIGCONT")
r.out = b""
r.type(b"go")
check(r.wait_for(b"GO"), "the guest still echoes after SIGCONT")
r.type(b"\x01x")
rc, after = r.finish()
check(rc == 0 and after == r.before, "Ctrl-A X after SIGCONT: status 0, settings restored")

# 4. A pipe: no raw mode, no console keys, every byte to the guest.
p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
out = b""
end = time.time() + limit
while b"READY\r\n" not in out and time.time() < end:
    if select.select([p.stdout], [], [], 0.5)[0]:
        d = os.read(p.stdout.fileno(), 4096)
        if not d:
            break
        out += d
p.stdin.write(b"ab\x01xc\x01h!")
p.stdin.flush()
try:
    rest, err = p.communicate(timeout=limit)
except subprocess.TimeoutExpired:
    p.kill()
    rest, err = p.communicate()
out += rest
check(p.returncode == 33, "on a pipe Ctrl-A X does not quit; '!' does", "status %s" % p.returncode)
check(out == b"READY\r\nAB\x01XC\x01H", "on a pipe every byte reaches the guest", repr(out))

sys.exit(1 if failed else 0)
PY
