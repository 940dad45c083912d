#!/usr/bin/env bash
# e2e: caixa's gdb stub (`caixa run --gdb PORT`) driven by Debian's gdb in
# batch mode, on the guest tests/e2e/gdb_guest.asm (built into $BUILD/e2e/).
#   tests/e2e/gdb.sh [CAIXA_BINARY]      (default: $CAIXA, then $BUILD/caixa)
# Session 1: registers at reset, memory at the reset vector, stepi, a
# hardware and a software breakpoint, a register write seen by the guest (on
# COM1 and in RAM), a memory write, detach. Session 2: attach again to the
# running VM, set rip, continue into a halted vCPU, interrupt it (SIGINT to
# gdb -> 0x03), kill: caixa exits with status 0. Session 3 (--debug-exit):
# write code into RAM, point cs:rip at it, continue: the guest's power-off
# reaches gdb as an exit code and caixa exits with it.
# Exit 0 pass, 1 fail, 77 skipped (no gdb or nasm).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${BUILD:-$here/../../build}
caixa=${1:-${CAIXA:-$build/caixa}}
limit=${GDB_TIMEOUT:-60}          # seconds for each caixa and gdb run
[ -n "${CAIXA_SANITIZE:-}" ] && limit=$((limit * 3))

if [ ! -x "$caixa" ]; then
    echo "gdb.sh: caixa binary '$caixa' not found (give it as \$1 or CAIXA)" >&2
    exit 2
fi
for tool in gdb nasm; do
    command -v $tool >/dev/null || { echo "gdb.sh: $tool not installed: skipped"; exit 77; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/caixa-gdb.XXXXXX")
caixa_pid=
gdb_pid=
cleanup() {
    [ -n "$gdb_pid" ] && kill "$gdb_pid" 2>/dev/null
    [ -n "$caixa_pid" ] && kill "$caixa_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$build/e2e"
img=$build/e2e/gdb_guest.bin
nasm -f bin -o "$img" "$here/gdb_guest.asm" || { echo "FAIL: nasm gdb_guest.asm"; exit 1; }

fail=0
check() { # FILE EXTENDED-REGEX WHAT
    if grep -qE -- "$2" "$1"; then
        echo "ok   $3"
    else
        echo "FAIL $3 (no /$2/ in $(basename "$1"))"
        fail=1
    fi
}

# Starts caixa on a free port with extra flags; sets caixa_pid and port.
start_caixa() {
    for attempt in 1 2 3 4 5 6 7 8; do
        port=$((20000 + (RANDOM * 7 + $$ + attempt * 997) % 40000))
        : >"$work/caixa.err"
        timeout "$limit" "$caixa" run --bios "$img" --memory 16 --serial "file:$work/serial.out" \
            --gdb "$port" "$@" >"$work/caixa.out" 2>"$work/caixa.err" &
        caixa_pid=$!
        for _ in $(seq 100); do
            grep -q "waiting for gdb on 127.0.0.1:$port" "$work/caixa.err" && return 0
            kill -0 "$caixa_pid" 2>/dev/null || break
            sleep 0.1
        done
        wait "$caixa_pid" 2>/dev/null
        caixa_pid=
        grep -q "cannot listen" "$work/caixa.err" || break
    done
    echo "FAIL caixa did not wait for gdb:"
    cat "$work/caixa.err"
    exit 1
}

# Runs gdb in batch mode with the given -ex commands; output in $work/$name.
gdb_batch() { # NAME CMD...
    local name=$1
    shift
    local args=(-nx -batch -ex "set confirm off" -ex "target remote 127.0.0.1:$port")
    for c in "$@"; do args+=(-ex "$c"); done
    timeout "$limit" gdb "${args[@]}" >"$work/$name" 2>&1 </dev/null &
    gdb_pid=$!
}

start_caixa

# --- session 1 -----------------------------------------------------------------
gdb_batch gdb1.out \
    'p/x $rip' 'p/x $cs' 'p/x $cr0' 'x/8xb 0xffff0' \
    'stepi' 'p/x $rip' \
    'hbreak *0xf0100' 'continue' 'p/x $rip' 'stepi' 'p/x $eax' 'delete' \
    'break *0xf0200' 'continue' 'p/x $rip' \
    'set $eax = 0x41' 'stepi' 'stepi' 'stepi' 'x/wx 0x604' 'delete' \
    'set {unsigned int}0x608 = 0xcafe1234' 'x/wx 0x608' 'p/x $fs_base' \
    'detach'
wait "$gdb_pid"
gdb_pid=
out=$work/gdb1.out
check "$out" '^\$1 = 0xfff0$' "rip at reset"
check "$out" '^\$2 = 0xf000$' "cs at reset"
check "$out" '^\$3 = 0x60000010$' "cr0 at reset (target description)"
want=$(od -A n -t x1 -j $((0xfff0)) -N 8 "$img" | xargs)
got=$(grep -E '^0xffff0:' "$out" | sed 's/^0xffff0://; s/0x//g' | xargs)
if [ -n "$want" ] && [ "$got" = "$want" ]; then
    echo "ok   reset vector bytes ($got)"
else
    echo "FAIL reset vector bytes: got '$got', image has '$want'"
    fail=1
fi
check "$out" '^\$4 = 0x80$' "stepi through the far jump"
check "$out" '^\$5 = 0x100$' "hardware breakpoint"
check "$out" '^\$6 = 0x12345678$' "stepi executes mov eax"
check "$out" '^\$7 = 0x200$' "software breakpoint"
check "$out" '^0x604:[[:space:]]+0x00000041$' "register write reaches guest memory"
check "$out" '^0x608:[[:space:]]+0xcafe1234$' "memory write"
check "$out" '^\$8 = 0x0$' "fs_base"
check "$out" 'detached' "detach"

# --- session 2: attach to the running VM again --------------------------------
sleep 0.3
gdb_batch gdb2.out 'p/x $rip' 'p $ecx > 0' 'set $rip = 0x380' 'continue' 'p/x $rip' 'kill'
# Interrupt once the guest has run on to its halt (it prints "H" first).
for _ in $(seq $((limit * 10))); do
    grep -q H "$work/serial.out" 2>/dev/null && break
    kill -0 "$gdb_pid" 2>/dev/null || break
    sleep 0.1
done
sleep 0.3
# Signal gdb itself: timeout(1) would pass SIGINT on twice (to gdb and to its
# process group), and a second Ctrl-C makes gdb give up on the target.
gdb_real=$(pgrep -P "$gdb_pid" -x gdb | head -n 1)
kill -INT "${gdb_real:-$gdb_pid}" 2>/dev/null
wait "$gdb_pid"
gdb_pid=
out=$work/gdb2.out
check "$out" '^\$1 = 0x30[0-3]$' "attach stops the running guest in its loop"
check "$out" '^\$2 = 1$' "the guest ran after detach"
check "$out" 'SIGINT' "interrupt stops a halted vCPU"
check "$out" '^\$3 = 0x38[0-9a-f]$' "stopped in the halt loop"
check "$out" 'killed' "kill"

wait "$caixa_pid"
rc=$?
caixa_pid=
if [ "$rc" -eq 0 ]; then
    echo "ok   caixa exit status 0 after kill"
else
    echo "FAIL caixa exit status $rc after kill"
    fail=1
fi
serial=$(tr -d '\r\n' <"$work/serial.out" 2>/dev/null)
if [ "$serial" = "SAH" ]; then
    echo "ok   guest COM1 output '$serial'"
else
    echo "FAIL guest COM1 output '$serial', want 'SAH'"
    fail=1
fi

# --- session 3: the guest powers off while gdb waits --------------------------
cp "$work/caixa.err" "$work/caixa1.err"
start_caixa --debug-exit
# mov al, 0x10 ; out 0xf4, al (debug-exit: status (0x10 << 1) | 1 = 33)
gdb_batch gdb3.out 'set {unsigned int}0x7000 = 0xf4e610b0' 'set $cs = 0' 'set $rip = 0x7000' \
    'p/x $cs' 'stepi' 'p/x $eax' 'continue'
wait "$gdb_pid"
gdb_pid=
out=$work/gdb3.out
check "$out" '^\$1 = 0x0$' "segment register write"
check "$out" '^\$2 = 0x10$' "code written through gdb runs"
check "$out" 'exited with code 041' "guest power-off reaches gdb (W packet)"
wait "$caixa_pid"
rc=$?
caixa_pid=
if [ "$rc" -eq 33 ]; then
    echo "ok   caixa exit status 33 from the guest"
else
    echo "FAIL caixa exit status $rc, want 33 from the guest"
    fail=1
fi

if grep -qE 'runtime error|Sanitizer' "$work/caixa1.err" "$work/caixa.err"; then
    echo "FAIL sanitizer report"
    fail=1
fi

if [ $fail -ne 0 ]; then
    for f in caixa1.err gdb1.out gdb2.out caixa.err gdb3.out; do
        echo "--- $f"
        cat "$work/$f"
    done
    exit 1
fi
echo "PASS"
