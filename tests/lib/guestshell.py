"""Drives a guest's busybox shell over its serial console: caixa (or QEMU)
runs with COM1 on stdio, this sends a command line, waits for the prompt and
returns what the command printed. Used by the Linux guest tests and bench/."""
import os
import re
import select
import subprocess
import time

PROMPT = re.compile(rb"caixa:[^\n#]*# ")
ANSI = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")


class GuestError(Exception):
    pass


class Guest:
    def __init__(self, argv, log_path=None):
        self.argv = argv
        self.log = open(log_path, "wb") if log_path else None
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, bufsize=0)
        self.buf = b""
        self.start = time.monotonic()

    def _read(self, timeout):
        r, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not r:
            return False
        chunk = os.read(self.proc.stdout.fileno(), 65536)
        if not chunk:
            raise GuestError("the VM process ended (status %s); last output:\n%s"
                             % (self.proc.wait(), self.tail()))
        if self.log:
            self.log.write(chunk)
            self.log.flush()
        self.buf += chunk
        return True

    def tail(self, n=1500):
        return self.buf[-n:].decode("utf-8", "replace")

    def expect(self, pattern, timeout):
        """Waits until pattern (bytes regex) appears after what was consumed;
        returns the text before the match and consumes through it."""
        rx = re.compile(pattern) if isinstance(pattern, bytes) else pattern
        deadline = time.monotonic() + timeout
        while True:
            m = rx.search(self.buf)
            if m:
                before = self.buf[:m.start()]
                self.buf = self.buf[m.end():]
                return before
            left = deadline - time.monotonic()
            if left <= 0:
                raise GuestError("timed out after %ds waiting for %r; last output:\n%s"
                                 % (timeout, rx.pattern, self.tail()))
            self._read(min(left, 1.0))

    def wait_prompt(self, timeout=300):
        return self.expect(PROMPT, timeout)

    def send(self, text):
        self.proc.stdin.write(text.encode())
        self.proc.stdin.flush()

    def run(self, cmd, timeout=120):
        """Runs one shell command; returns its output (echo and prompt removed)."""
        self.send(cmd + "\n")
        out = self.wait_prompt(timeout)
        out = ANSI.sub(b"", out).replace(b"\r", b"").decode("utf-8", "replace")
        lines = out.split("\n")
        if lines and lines[0].strip() == cmd.strip():
            lines = lines[1:]
        return "\n".join(lines).strip("\n")

    def wait_exit(self, timeout):
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None:
            if time.monotonic() > deadline:
                raise GuestError("the VM did not end within %ds; last output:\n%s" % (timeout, self.tail()))
            try:
                self._read(0.5)
            except GuestError:
                break
        return self.proc.wait()

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.log:
            self.log.close()
