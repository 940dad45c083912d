#!/usr/bin/env python3
"""Prints, in load order, the kernel modules that the named ones need: each
module's "depends=" field in its .modinfo section lists what must be loaded
first. Debian's package ships no modules.dep (depmod makes it at install
time), so the guest builder works it out here.

usage: kmod-closure.py MODULES_DIR NAME...   (prints paths relative to MODULES_DIR)"""
import os
import sys


def index(moddir):
    mods = {}
    for dirpath, _, files in os.walk(moddir):
        for f in files:
            if f.endswith(".ko"):
                mods[f[:-3].replace("-", "_")] = os.path.join(dirpath, f)
    return mods


def depends(path):
    with open(path, "rb") as fh:
        data = fh.read()
    i = data.find(b"\0depends=")
    if i < 0:
        return []
    val = data[i + 9:data.index(b"\0", i + 9)].decode()
    return [d.replace("-", "_") for d in val.split(",") if d]


def main(argv):
    moddir, names = argv[1], argv[2:]
    mods = index(moddir)
    order, seen = [], set()

    def visit(n, chain):
        if n in seen:
            return
        if n not in mods:
            sys.exit("kmod-closure.py: module %s not found (needed by %s)" % (n, chain or "request"))
        seen.add(n)
        for d in depends(mods[n]):
            visit(d, n)
        order.append(n)

    for n in names:
        visit(n.replace("-", "_"), None)
    for n in order:
        print(os.path.relpath(mods[n], moddir))


if __name__ == "__main__":
    main(sys.argv)
