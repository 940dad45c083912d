#!/bin/bash
# CLI error handling: every user mistake ends with exactly one "caixa: ..."
# line on stderr and exit status 2, never a crash; --help/--version work.
#   tests/e2e/cli_errors.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
set -u
caixa=${1:-${CAIXA:-build/caixa}}
[ -x "$caixa" ] || { echo "cli_errors: no caixa binary at '$caixa'" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# A 64 KiB image of HLT (0xF4) bytes: valid for the checks that must get
# past the BIOS test.
head -c 65536 /dev/zero | tr '\0' '\364' >"$tmp/hlt.bin"
head -c 3072 /dev/zero >"$tmp/3k.bin"
head -c $((65536 + 4096)) /dev/zero >"$tmp/68k.bin"
head -c $((4 << 20)) /dev/zero >"$tmp/4m.bin"
mkdir "$tmp/dir"

# expect_error NAME WANT_REGEX ARGS...: status 2, one stderr line matching.
expect_error() {
    local name=$1 want=$2
    shift 2
    timeout 20 "$caixa" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    local status=$? lines
    lines=$(wc -l <"$tmp/err")
    if [ $status -eq 2 ] && [ "$lines" -eq 1 ] && grep -Eq -- "^caixa: .*$want" "$tmp/err"; then
        pass=$((pass + 1))
        echo "ok $name"
    else
        fail=$((fail + 1))
        echo "FAIL $name: status $status (want 2), $lines stderr lines (want 1):"
        sed 's/^/    /' "$tmp/err"
    fi
}

# expect_ok NAME STDOUT_REGEX ARGS...: status 0, stdout matching.
expect_ok() {
    local name=$1 want=$2
    shift 2
    timeout 20 "$caixa" "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
    local status=$?
    if [ $status -eq 0 ] && grep -Eq -- "$want" "$tmp/out" && [ ! -s "$tmp/err" ]; then
        pass=$((pass + 1))
        echo "ok $name"
    else
        fail=$((fail + 1))
        echo "FAIL $name: status $status (want 0)"
        sed 's/^/    /' "$tmp/out" "$tmp/err"
    fi
}

expect_ok version '^caixa [0-9]+\.[0-9]+\.[0-9]+$' --version
expect_ok help 'usage: caixa' --help
expect_ok run-help '--memory MB' run --help

expect_error no-command "no command given"
expect_error unknown-command "unknown command 'frobnicate'" frobnicate
expect_error unknown-option "unknown option '--frob'" --frob
expect_error bad-flag "unknown flag '--bogus'" run --bogus
expect_error stray-argument "unexpected argument 'disk.img'" run disk.img
expect_error missing-value '--memory needs a value' run --memory
expect_error memory-zero '--memory 0: expected a size in MiB' run --memory 0
expect_error memory-huge '--memory 65537: expected a size in MiB' run --memory 65537
expect_error memory-junk '--memory 12x: expected' run --memory 12x
expect_error memory-negative '--memory -5: expected' run --memory=-5
expect_error missing-bios "--bios $tmp/nope.bin: No such file or directory" run --bios "$tmp/nope.bin"
expect_error bios-3k '3072 bytes; a BIOS image is 64 KiB to 2 MiB' run --bios "$tmp/3k.bin"
expect_error bios-68k '69632 bytes' run --bios "$tmp/68k.bin"
expect_error bios-4m 'larger than 2 MiB' run --bios "$tmp/4m.bin"
expect_error bios-dir 'Is a directory' run --bios "$tmp/dir"
expect_error serial-bad '--serial tcp:1234: expected stdio, file:PATH or none' \
    run --bios "$tmp/hlt.bin" --serial tcp:1234
expect_error serial-file-dir "--serial file:$tmp/dir: Is a directory" \
    run --bios "$tmp/hlt.bin" --serial "file:$tmp/dir"
expect_error debugcon-nodir '--debugcon .*No such file or directory' \
    run --bios "$tmp/hlt.bin" --debugcon "$tmp/no/such/dir/log"
expect_error trace-nodir '--trace .*No such file or directory' \
    run --bios "$tmp/hlt.bin" --trace "$tmp/no/such/dir/trace"
expect_error cpus-zero '--cpus 0: expected a number of vCPUs from 1 to 4' run --cpus 0
expect_error cpus-many '--cpus 5: expected a number of vCPUs' run --cpus 5
expect_error initrd-alone '--initrd needs --kernel' run --initrd "$tmp/3k.bin"
expect_error append-alone '--append needs --kernel' run --append console=ttyS0
expect_error kernel-missing "--kernel $tmp/nope: No such file or directory" run --kernel "$tmp/nope"
expect_error kernel-not-bzimage "--kernel $tmp/68k.bin: not a Linux bzImage" run --kernel "$tmp/68k.bin"
expect_error kernel-dir 'Is a directory' run --kernel "$tmp/dir"
expect_error gdb-port '--gdb 70000: expected a TCP port' run --gdb 70000

# Memory the host cannot give: limit the address space (not under ASan,
# which reserves terabytes of shadow memory for itself).
if [ -z "${CAIXA_SANITIZE:-}" ]; then
    (ulimit -v 1048576; exec "$caixa" run --bios "$tmp/hlt.bin" --memory 4096 --serial none \
        </dev/null >"$tmp/out" 2>"$tmp/err")
    status=$?
    if [ $status -eq 2 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ] &&
        grep -q '^caixa: cannot get 4096 MiB of guest RAM' "$tmp/err"; then
        pass=$((pass + 1))
        echo "ok memory-unavailable"
    else
        fail=$((fail + 1))
        echo "FAIL memory-unavailable: status $status"
        sed 's/^/    /' "$tmp/err"
    fi
fi

echo "cli_errors: $pass passed, $fail failed"
[ $fail -eq 0 ]
