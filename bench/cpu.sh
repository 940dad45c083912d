#!/usr/bin/env bash
# CPU benchmark: the same guest (bench/cpu.asm) under caixa and under QEMU TCG,
# best wall time of N runs each, guest instructions per second, time ratio.
# See bench/README.md. A benchmark, not a test: it never fails on speed.
#
# usage: bench/cpu.sh [--verify-ref] [path-to-caixa]   (default build/caixa)
# env:   BENCH_RUNS (3), BENCH_QEMU_TIMEOUT (120 s), BENCH_CAIXA_TIMEOUT (600 s),
#        QEMU (qemu-system-x86_64)
# exit:  0 done (also when caixa is missing or did not complete: reported);
#        1 build or QEMU failure, or caixa finished with wrong checksums.
set -u

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
verify_ref=0
caixa=$root/build/caixa
for arg in "$@"; do
    case $arg in
        --verify-ref) verify_ref=1 ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        -*) echo "cpu.sh: unknown option $arg" >&2; exit 2 ;;
        *) caixa=$arg ;;
    esac
done
runs=${BENCH_RUNS:-3}
qemu_timeout=${BENCH_QEMU_TIMEOUT:-120}
caixa_timeout=${BENCH_CAIXA_TIMEOUT:-600}
qemu=${QEMU:-qemu-system-x86_64}
mem_mb=128
# Logs, the image and the instruction count go next to the binary measured
# (build/bench for build/caixa), so that builds never share them.
out=$(dirname "$caixa")/bench
[ -d "$(dirname "$caixa")" ] || out=$root/build/bench
img=$out/cpu.img

# What the guest prints, tsc lines aside; computed by bench/cpu_ref.py.
expected='caixa-bench cpu v1
crc32 c16020bf
crc32c 0187471d
sort e1f4e330fdd8266d
unsorted 00000000
search-count 000011b1
search-pos 0000000234553414
matmul c923c6de996932f0
done'

die() { echo "cpu.sh: $*" >&2; exit 1; }

mkdir -p "$out" || die "cannot create $out"
command -v nasm >/dev/null || die "nasm not found"
nasm -f bin -o "$img" "$here/cpu.asm" || die "nasm failed"
[ "$(stat -c %s "$img")" = 65536 ] || die "$img is not 64 KiB"

if [ $verify_ref = 1 ]; then
    echo "checking the stored checksums against bench/cpu_ref.py ..."
    ref=$(python3 "$here/cpu_ref.py" "$here/cpu.asm") || die "cpu_ref.py failed"
    [ "$ref" = "$expected" ] || die "cpu_ref.py disagrees with the expected lines in cpu.sh:
$ref"
    echo "reference agrees"
fi

# shellcheck disable=SC2054 # the commas belong to QEMU option values
qemu_cmd=("$qemu" -accel tcg -bios "$img" -display none -nodefaults -serial stdio
          -device isa-debug-exit,iobase=0xf4,iosize=4 -no-reboot -machine pc -m "$mem_mb")
caixa_cmd=("$caixa" run --bios "$img" --serial stdio --debug-exit --no-reboot --memory "$mem_mb")

# run_once LOG TIMEOUT CMD... : sets $elapsed and $why; 0 = finished with the
# expected checksums, 1 = did not complete, 2 = completed with wrong checksums
run_once() {
    local log=$1 limit=$2; shift 2
    local t0 t1 rc
    t0=$(date +%s.%N)
    timeout -k 5 "$limit" "$@" <"/dev/null" >"$log" 2>"$log.err"
    rc=$?
    t1=$(date +%s.%N)
    elapsed=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')
    if [ $rc = 124 ] || [ $rc = 137 ]; then
        why="timed out after ${limit}s"; return 1
    fi
    if [ $rc != 33 ]; then
        why="exit status $rc (expected 33 from the debug-exit port)"
        [ -s "$log.err" ] && why="$why; last stderr line: $(tail -n1 "$log.err")"
        return 1
    fi
    if [ "$(tr -d '\r' <"$log" | grep -v '^tsc')" != "$expected" ]; then
        why="wrong checksums (see $log)"; return 2
    fi
    why=""; return 0
}

# bench NAME TIMEOUT CMD... : best of $runs; sets $best, $all, $status, $why
bench() {
    local name=$1 limit=$2; shift 2
    local i
    best="" all="" status=0
    for i in $(seq 1 "$runs"); do
        run_once "$out/$name-run$i.log" "$limit" "$@"
        status=$?
        [ $status = 0 ] || return $status
        all="$all $elapsed"
        if [ -z "$best" ] || awk -v a="$elapsed" -v b="$best" 'BEGIN { exit !(a < b) }'; then
            best=$elapsed
        fi
    done
}

# Guest instruction count, once per image and QEMU version: under
# -icount shift=0 QEMU's TSC advances by exactly one per guest instruction,
# so the guest's own "tsc" line is its instruction count (no host clock).
count_key="$(sha256sum "$img" | cut -d' ' -f1) $("$qemu" --version | head -n1)"
count_file=$out/cpu.icount
if [ ! -f "$count_file" ] || [ "$(head -n1 "$count_file")" != "$count_key" ]; then
    echo "counting guest instructions once (QEMU -icount shift=0) ..."
    run_once "$out/icount.log" "$qemu_timeout" "${qemu_cmd[@]}" -icount shift=0 ||
        die "QEMU -icount run failed: $why"
    { echo "$count_key"; grep '^tsc' "$out/icount.log"; } >"$count_file"
fi
tsc_hex=$(awk '$1 == "tsc" { print $2 }' "$count_file")
case $tsc_hex in
    [0-9a-f]*) insns=$((16#$tsc_hex)) ;;
    *) die "no instruction count in $count_file" ;;
esac

echo "running QEMU TCG ($runs runs) ..."
bench qemu "$qemu_timeout" "${qemu_cmd[@]}" || die "QEMU did not pass: $why"
qemu_best=$best qemu_all=$all

caixa_ok=0 caixa_bad=0 caixa_note=""
if [ ! -x "$caixa" ]; then
    caixa_note="not run: $caixa is not an executable (build it with make)"
else
    echo "running caixa ($runs runs) ..."
    bench caixa "$caixa_timeout" "${caixa_cmd[@]}"
    case $? in
        0) caixa_ok=1; caixa_best=$best caixa_all=$all ;;
        2) caixa_bad=1; caixa_note="did not complete correctly: $why" ;;
        *) caixa_note="did not complete: $why (see $out/caixa-run*.log*)" ;;
    esac
fi

mips() { awk -v n="$insns" -v t="$1" 'BEGIN { printf "%.0f", n / t / 1e6 }'; }

echo
echo "caixa CPU benchmark: bench/cpu.asm, best of $runs wall-clock runs each"
printf 'guest instructions: %d (QEMU -icount shift=0)\n' "$insns"
while read -r phase hex; do
    case $phase in
        tsc-*) awk -v p="${phase#tsc-}" -v n=$((16#$hex)) 'BEGIN { printf "  %-8s %6.0f M\n", p, n / 1e6 }' ;;
    esac
done <"$count_file"
printf 'QEMU TCG: %8.3f s  %6s M instr/s  (runs:%s)\n' "$qemu_best" "$(mips "$qemu_best")" "$qemu_all"
if [ $caixa_ok = 1 ]; then
    printf 'caixa:    %8.3f s  %6s M instr/s  (runs:%s)\n' "$caixa_best" "$(mips "$caixa_best")" "$caixa_all"
    own=$(grep -ho 'instructions: *[0-9]\+' "$out/caixa-run1.log.err" "$out/caixa-run1.log" 2>/dev/null |
          head -n1 | tr -dc 0-9)
    [ -n "$own" ] && echo "caixa's own count: $own instructions"
    awk -v c="$caixa_best" -v q="$qemu_best" 'BEGIN { printf "ratio caixa/QEMU (time): %.2fx\n", c / q }'
else
    echo "caixa:    $caixa_note"
    echo "ratio caixa/QEMU (time): n/a"
fi
[ $caixa_bad = 0 ] || exit 1
exit 0
