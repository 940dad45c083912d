#!/bin/bash
# Debian's SeaBIOS boots on caixa: its banner on the debug console, then
# "No bootable device" (there is no disk). Skipped (77) without the image.
#   tests/e2e/seabios.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
set -u
caixa=${1:-${CAIXA:-build/caixa}}
bios=${SEABIOS:-/usr/share/seabios/bios.bin}
limit=${SEABIOS_TIMEOUT:-240}
[ -x "$caixa" ] || { echo "seabios: no caixa binary at '$caixa'" >&2; exit 2; }
[ -f "$bios" ] || { echo "seabios: $bios not installed; skipped"; exit 77; }

tmp=$(mktemp -d)
log=$tmp/debugcon.txt
"$caixa" run --bios "$bios" --debugcon "$log" --serial "file:$tmp/com1.txt" </dev/null \
    >"$tmp/out" 2>"$tmp/err" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$tmp"' EXIT

found=0
for ((i = 0; i < limit * 2; i++)); do
    if grep -q 'No bootable device' "$log" 2>/dev/null; then found=1; break; fi
    kill -0 $pid 2>/dev/null || break
    sleep 0.5
done
kill $pid 2>/dev/null
wait $pid 2>/dev/null

pass=0
fail=0
if grep -q 'SeaBIOS (version' "$log" 2>/dev/null; then
    echo "ok banner"; pass=$((pass + 1))
else
    echo "FAIL banner: no 'SeaBIOS (version' on the debug console"; fail=$((fail + 1))
fi
if [ $found -eq 1 ]; then
    echo "ok no-bootable-device"; pass=$((pass + 1))
else
    echo "FAIL no-bootable-device: not reached in ${limit}s"; fail=$((fail + 1))
fi
if [ $fail -ne 0 ]; then
    echo "--- debug console (last 30 lines)"; tail -n 30 "$log" 2>/dev/null
    echo "--- stderr"; cat "$tmp/err"
fi
echo "seabios: $pass passed, $fail failed"
[ $fail -eq 0 ]
