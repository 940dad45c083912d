#!/usr/bin/env python3
"""Writes a gzip-compressed cpio "newc" archive (the format the Linux kernel
unpacks as its initramfs, Documentation/driver-api/early-userspace/
buffer-format.rst) from a staging directory, plus device nodes that an
unprivileged build cannot create on disk.

usage: mkinitramfs.py STAGING OUT.cpio.gz [--node PATH:c|b:MAJOR:MINOR:MODE]...
Every file is owned by root; times are fixed so the archive is reproducible."""
import gzip
import os
import stat
import sys

NEWC_MAGIC = b"070701"
TRAILER = "TRAILER!!!"


def header(ino, mode, nlink, size, rmaj, rmin, name):
    fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rmaj, rmin, len(name) + 1, 0]
    return NEWC_MAGIC + b"".join(b"%08X" % f for f in fields)


def pad4(n):
    return b"\0" * ((4 - n % 4) % 4)


def entry(out, ino, mode, name, data=b"", nlink=1, rdev=(0, 0)):
    h = header(ino, mode, nlink, len(data), rdev[0], rdev[1], name)
    nm = name.encode() + b"\0"
    out.write(h + nm + pad4(len(h) + len(nm)))
    out.write(data + pad4(len(data)))


def main(argv):
    if len(argv) < 3:
        sys.exit("usage: mkinitramfs.py STAGING OUT.cpio.gz [--node PATH:c|b:MAJ:MIN:MODE]...")
    root, outp = argv[1], argv[2]
    nodes = []
    rest = argv[3:]
    while rest:
        if rest[0] != "--node" or len(rest) < 2:
            sys.exit("mkinitramfs.py: bad argument " + rest[0])
        path, kind, maj, mnr, mode = rest[1].split(":")
        nodes.append((path.lstrip("/"), kind, int(maj), int(mnr), int(mode, 8)))
        rest = rest[2:]

    ino = 1
    with gzip.GzipFile(outp, "wb", compresslevel=6, mtime=0) as out:
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel = os.path.relpath(dirpath, root)
            if rel != ".":
                st = os.lstat(dirpath)
                entry(out, ino, stat.S_IFDIR | (st.st_mode & 0o7777), rel, nlink=2)
                ino += 1
            for f in sorted(filenames):
                p = os.path.join(dirpath, f)
                name = os.path.normpath(os.path.join(rel, f))
                st = os.lstat(p)
                if stat.S_ISLNK(st.st_mode):
                    data = os.readlink(p).encode()
                elif stat.S_ISREG(st.st_mode):
                    with open(p, "rb") as fh:
                        data = fh.read()
                else:
                    sys.exit("mkinitramfs.py: %s: not a file, link or directory" % p)
                entry(out, ino, st.st_mode, name, data)
                ino += 1
        for path, kind, maj, mnr, mode in nodes:
            t = stat.S_IFCHR if kind == "c" else stat.S_IFBLK
            entry(out, ino, t | mode, path, rdev=(maj, mnr))
            ino += 1
        entry(out, 0, 0, TRAILER)


if __name__ == "__main__":
    main(sys.argv)
