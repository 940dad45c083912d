#!/bin/bash
# End-to-end checks of the VM core with tiny firmware images of our own
# (nasm): COM1 output to stdio and to a file, the debug console, the
# debug-exit status, --no-reboot on a triple fault and on a port 0x92
# reset, and a clean stop by SIGTERM while the guest is halted.
#   tests/e2e/boot_smoke.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
set -u
caixa=${1:-${CAIXA:-build/caixa}}
[ -x "$caixa" ] || { echo "boot_smoke: no caixa binary at '$caixa'" >&2; exit 2; }
command -v nasm >/dev/null || { echo "boot_smoke: nasm not found" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0

# build NAME BODY: a 64 KiB real-mode image; BODY runs with DS = CS = F000.
build() {
    cat >"$tmp/$1.asm" <<ASM
bits 16
org 0
start:
    mov ax, cs
    mov ds, ax
$2
.stop:
    cli
    hlt
    jmp .stop
print:                      ; DS:SI string to port DX
    lodsb
    test al, al
    jz .done
    out dx, al
    jmp print
.done:
    ret
msg: db "caixa-smoke", 13, 10, 0
idt0: dw 0
      dd 0
times 0xfff0 - (\$ - \$\$) db 0xf4
    jmp 0xf000:start        ; the reset vector, F000:FFF0
times 0x10000 - (\$ - \$\$) db 0
ASM
    nasm -f bin -o "$tmp/$1.bin" "$tmp/$1.asm" || { echo "boot_smoke: nasm failed for $1"; exit 2; }
}

build exit33 '
    mov dx, 0x3f8
    mov si, msg
    call print
    mov dx, 0x402
    mov al, "D"
    out dx, al
    mov al, 10
    out dx, al
    mov dx, 0xf4
    mov al, 0x10
    out dx, al              ; (0x10 << 1) | 1 = 33'
build triple '
    lidt [idt0]             ; IDT limit 0: every interrupt faults
    int3                    ; #GP, then #DF, then shutdown'
build reset92 '
    mov al, 1
    out 0x92, al            ; fast reset (PS/2 port 92h bit 0)'
build halt ''

check() { # NAME CONDITION-STATUS MESSAGE
    if [ "$2" = 0 ]; then
        pass=$((pass + 1))
        echo "ok $1"
    else
        fail=$((fail + 1))
        echo "FAIL $1: $3"
        [ -s "$tmp/err" ] && sed 's/^/    stderr: /' "$tmp/err"
    fi
}

timeout 30 "$caixa" run --bios "$tmp/exit33.bin" --debug-exit --debugcon "$tmp/dc.txt" \
    </dev/null >"$tmp/out" 2>"$tmp/err"
s=$?
check debug-exit-status "$([ $s -eq 33 ]; echo $?)" "status $s, want 33"
check serial-stdio "$(tr -d '\r' <"$tmp/out" | grep -qx 'caixa-smoke'; echo $?)" "no caixa-smoke line on stdout"
check debugcon-file "$(grep -qx 'D' "$tmp/dc.txt" 2>/dev/null; echo $?)" "debug console file lacks 'D'"

timeout 30 "$caixa" run --bios "$tmp/exit33.bin" --debug-exit --serial "file:$tmp/com1.txt" \
    </dev/null >"$tmp/out" 2>"$tmp/err"
s=$?
check serial-file "$([ $s -eq 33 ] && tr -d '\r' <"$tmp/com1.txt" | grep -qx 'caixa-smoke' && [ ! -s "$tmp/out" ]; echo $?)" \
    "status $s; COM1 file or stdout wrong"

timeout 30 "$caixa" run --bios "$tmp/triple.bin" --no-reboot --serial none </dev/null >"$tmp/out" 2>"$tmp/err"
s=$?
check triple-fault-no-reboot "$([ $s -eq 3 ] && grep -q 'triple fault' "$tmp/err"; echo $?)" "status $s, want 3"

timeout 30 "$caixa" run --bios "$tmp/reset92.bin" --no-reboot --serial none </dev/null >"$tmp/out" 2>"$tmp/err"
s=$?
check port92-reset-no-reboot "$([ $s -eq 3 ] && [ "$(wc -l <"$tmp/err")" -eq 1 ]; echo $?)" "status $s, want 3 and one line"

# A halted guest sleeps; SIGTERM ends caixa cleanly with 128 + 15.
"$caixa" run --bios "$tmp/halt.bin" --serial none </dev/null >"$tmp/out" 2>"$tmp/err" &
pid=$!
sleep 1
# utime + stime in clock ticks (proc(5): fields 14 and 15 of /proc/PID/stat)
ticks=$(sed 's/.*) //' /proc/$pid/stat 2>/dev/null | awk '{print $12 + $13}')
hz=$(getconf CLK_TCK)
kill -TERM $pid
wait $pid
s=$?
check sigterm-while-halted "$([ $s -eq 143 ]; echo $?)" "status $s, want 143"
# Start-up included, well under half of the second it was halted.
check halt-sleeps "$([ -n "$ticks" ] && [ "$ticks" -lt $((hz / 2)) ]; echo $?)" \
    "a halted guest used ${ticks:-?} of $hz ticks in 1 s"

echo "boot_smoke: $pass passed, $fail failed"
[ $fail -eq 0 ]
