#!/usr/bin/env python3
"""Host reference for bench/cpu.asm: recomputes every checksum the guest prints.

Reads the workload sizes, seeds and search patterns from cpu.asm itself and
prints the result lines in the guest's format (without the tsc lines).
Independent where it can be: CRC-32 comes from zlib, the sort from sorted(),
the bitwise CRC-32C is checked here table-driven; the rest follows the
definitions in cpu.asm's comments. bench/cpu.sh stores this output as the
expected lines; rerun this after changing cpu.asm and update cpu.sh.

usage: cpu_ref.py [path/to/cpu.asm]
"""
import operator
import os
import re
import struct
import sys
import zlib

M32 = 0xFFFFFFFF
M64 = 0xFFFFFFFFFFFFFFFF


def read_asm(path):
    text = open(path, encoding="ascii").read()
    defs = {}
    for name, value in re.findall(r"^%define\s+(\w+)\s+(\S+)", text, re.M):
        try:
            defs[name] = int(value, 0)
        except ValueError:
            pass
    block = text.split("\npatterns:\n", 1)[1]
    block = re.split(r"^\s+db\s+0\s*$", block, maxsplit=1, flags=re.M)[0]
    patterns = []
    for length, pat in re.findall(r'^\s+db\s+(\d+),\s*"([^"]*)"', block, re.M):
        if int(length) != len(pat):
            sys.exit(f"pattern {pat!r}: length byte {length} is wrong")
        patterns.append(pat.encode("ascii"))
    return defs, patterns


def xorshift64_bytes(seed, nbytes):
    s = seed
    out = bytearray()
    pack = struct.Struct("<Q").pack
    for _ in range(nbytes // 8):
        s ^= (s << 13) & M64
        s ^= s >> 7
        s ^= (s << 17) & M64
        out += pack(s)
    return bytes(out)


def xorshift32(state):
    state ^= (state << 13) & M32
    state ^= state >> 17
    state ^= (state << 5) & M32
    return state


def crc32c(data):
    table = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ (0x82F63B78 if c & 1 else 0)
        table.append(c)
    c = M32
    for b in data:
        c = table[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ M32


def fnv1a_dwords(h, values, prime):
    for v in values:
        h = ((h ^ v) * prime) & M64
    return h


def main():
    asm = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "cpu.asm")
    d, patterns = read_asm(asm)
    assert crc32c(b"123456789") == 0xE3069283  # RFC 3720 check value
    assert d["CRC32_POLY"] == 0xEDB88320 and d["CRC32C_POLY"] == 0x82F63B78

    buf = xorshift64_bytes(d["SEED_BUF"], d["BUF_SIZE"])
    crc = 0
    for _ in range(d["CRC_ROUNDS"]):
        crc = zlib.crc32(buf, crc)
    crcc = crc32c(buf[:d["CRCC_LEN"]])

    x = d["SEED_LCG"]
    mul, add = d["LCG_MUL"], d["LCG_ADD"]
    h, unsorted = d["FNV_OFFSET"], 0
    for _ in range(d["SORT_ROUNDS"]):
        keys = []
        for _ in range(d["NKEYS"]):
            x = (x * mul + add) & M64
            keys.append(x >> 32)
        keys.sort()
        h = fnv1a_dwords(h, keys, d["FNV_PRIME"])

    y = d["SEED_TEXT"]
    text = bytearray(d["TEXT_SIZE"])
    for i in range(d["TEXT_SIZE"]):
        y = xorshift32(y)
        text[i] = ord("a") + (y >> 30)
    text = bytes(text)
    count = possum = 0
    for pat in patterns:
        i = text.find(pat)
        while i >= 0:
            count += 1
            possum += i
            i = text.find(pat, i + 1)

    n = d["MAT_N"]
    y = d["SEED_MAT"]
    vals = []
    for _ in range(2 * n * n):
        y = xorshift32(y)
        vals.append((y & 0xFFFF) - 32768)
    a = [vals[r * n:(r + 1) * n] for r in range(n)]
    b_cols = [vals[n * n + c::n] for c in range(n)]
    c_vals = [sum(map(operator.mul, row, col)) & M32 for row in a for col in b_cols]
    mat = fnv1a_dwords(d["FNV_OFFSET"], c_vals, d["FNV_PRIME"])

    print(f"caixa-bench cpu v{d['BENCH_VERSION']}")
    print(f"crc32 {crc:08x}")
    print(f"crc32c {crcc:08x}")
    print(f"sort {h:016x}")
    print(f"unsorted {unsorted:08x}")
    print(f"search-count {count:08x}")
    print(f"search-pos {possum & M64:016x}")
    print(f"matmul {mat:016x}")
    print("done")


if __name__ == "__main__":
    main()
