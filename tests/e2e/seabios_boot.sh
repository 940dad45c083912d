#!/bin/bash
# Debian's SeaBIOS boots through the PIIX IDE controller (and AHCI and
# virtio-blk, at the end): from an ATA disk
# whose MBR the test writes, and from an El Torito CD (no-emulation boot
# image) made with xorriso; --boot picks between them. The boot programs
# read more of their medium through INT 13h (the disk: 64 sectors whose last
# one ends in "TAIL"; the CD: the ISO's volume descriptor, "CD001"), print a
# line on COM1 and leave through the debug-exit port (status 33: passed,
# 35: the read failed). SeaBIOS's own messages must reach the serial line
# (its serial console, fw_cfg "etc/sercon-port").
# Skipped (77) without nasm, xorriso or SeaBIOS.
#   tests/e2e/seabios_boot.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
set -u
caixa=${1:-${CAIXA:-build/caixa}}
bios=${SEABIOS:-/usr/share/seabios/bios.bin}
limit=${BOOT_TIMEOUT:-60}
[ -x "$caixa" ] || { echo "seabios_boot: no caixa binary at '$caixa'" >&2; exit 2; }
for t in nasm xorriso; do
    command -v $t >/dev/null || { echo "seabios_boot: $t not installed; skipped"; exit 77; }
done
[ -f "$bios" ] || { echo "seabios_boot: $bios not installed; skipped"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# print: SI = NUL-terminated string, to COM1 by polling the LSR.
common='
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [drive], dl
    mov si, hello
    call print
    mov ah, 0x42
    mov dl, [drive]
    mov si, dap
    int 0x13
    jc fail
    call check
    jne fail
    mov si, ok
    call print
    mov al, 0x10
    out 0xf4, al
    jmp halt
fail:
    mov si, bad
    call print
    mov al, 0x11
    out 0xf4, al
halt:
    cli
    hlt
    jmp halt
print:
    lodsb
    test al, al
    jz .done
    mov ah, al
    mov dx, 0x3fd
.wait:
    in al, dx
    test al, 0x20
    jz .wait
    mov al, ah
    mov dx, 0x3f8
    out dx, al
    jmp print
.done:
    ret
drive: db 0
'

cat >"$tmp/mbr.asm" <<EOF
$common
check:
    cmp dword [0x8000 + 64 * 512 - 4], 'TAIL'
    ret
hello: db "disk boot sector running", 13, 10, 0
ok: db "DISK BOOT OK", 13, 10, 0
bad: db "DISK BOOT FAILED", 13, 10, 0
dap: db 16, 0
    dw 64, 0x8000, 0
    dq 1
times 510 - (\$ - \$\$) db 0
dw 0xaa55
EOF

cat >"$tmp/cd.asm" <<EOF
$common
check:
    cmp dword [0x8001], 'CD00'
    jne .r
    cmp byte [0x8005], '1'
.r: ret
hello: db "cd boot image running", 13, 10, 0
ok: db "CDROM BOOT OK", 13, 10, 0
bad: db "CDROM BOOT FAILED", 13, 10, 0
dap: db 16, 0
    dw 1, 0x8000, 0
    dq 16
times 2048 - (\$ - \$\$) db 0
EOF

nasm -f bin -o "$tmp/mbr.bin" "$tmp/mbr.asm" || exit 2
nasm -f bin -o "$tmp/boot.img" "$tmp/cd.asm" || exit 2
# The disk: the MBR, 64 sectors of filler ending in "TAIL", 8 MiB in all.
{
    cat "$tmp/mbr.bin"
    head -c $((64 * 512 - 4)) /dev/zero | tr '\0' 'x'
    printf 'TAIL'
} >"$tmp/disk.img"
truncate -s 8M "$tmp/disk.img"
mkdir "$tmp/iso"
cp "$tmp/boot.img" "$tmp/iso/"
echo "caixa test disc" >"$tmp/iso/readme.txt"
xorriso -as mkisofs -quiet -V CAIXATEST -o "$tmp/cd.iso" -b boot.img -no-emul-boot \
    -boot-load-size 4 "$tmp/iso" 2>"$tmp/xorriso.err" || { cat "$tmp/xorriso.err"; exit 2; }

pass=0
fail=0
# run NAME WANT_TEXT BOOT_MESSAGE ARGS...: boots, expects status 33, the
# program's line, SeaBIOS's banner and its "Booting from" line on COM1, and
# $dbg_want (if set) on SeaBIOS's debug console.
dbg_want=
run() {
    local name=$1 want=$2 from=$3
    shift 3
    local out=$tmp/$name.out dbg=$tmp/$name.dbg
    timeout "$limit" "$caixa" run --bios "$bios" --serial stdio --debug-exit --debugcon "$dbg" "$@" \
        </dev/null >"$out" 2>"$tmp/$name.err"
    local rc=$? why=""
    [ -z "$dbg_want" ] || grep -qa "$dbg_want" "$dbg" || why="no '$dbg_want' on the debug console"
    [ $rc -eq 33 ] || why="${why:+$why; }exit status $rc (want 33)"
    grep -qa "$want" "$out" || why="${why:+$why; }no '$want' on COM1"
    grep -qa 'SeaBIOS (version' "$out" || why="${why:+$why; }no SeaBIOS banner on COM1 (sercon)"
    grep -qa "Booting from $from" "$out" || why="${why:+$why; }no 'Booting from $from'"
    if [ -z "$why" ]; then
        echo "ok $name"
        pass=$((pass + 1))
    else
        echo "FAIL $name: $why"
        echo "--- COM1"; tr -d '\033' <"$out" | tail -c 800; echo
        echo "--- debug console"; tail -n 15 "$dbg"
        echo "--- stderr"; cat "$tmp/$name.err"
        fail=$((fail + 1))
        if [ $rc -eq 124 ]; then
            # A hang repeats in every case: stop here rather than wait them all out.
            echo "seabios_boot: $name did not finish in ${limit}s; the other cases are not run"
            echo "seabios_boot: $pass passed, $fail failed"
            exit 1
        fi
    fi
}

dbg_want="ata0-0: CAIXA HARDDISK ATA-7 Hard-Disk (8 MiBytes)"
run disk "DISK BOOT OK" "Hard Disk" --disk "$tmp/disk.img"
dbg_want="DVD/CD \[ata1-0: CAIXA DVD-ROM ATAPI-7 DVD/CD\]"
run cdrom "CDROM BOOT OK" "DVD/CD" --cdrom "$tmp/cd.iso"
dbg_want=
run order-cdrom-first "CDROM BOOT OK" "DVD/CD" --disk "$tmp/disk.img" --cdrom "$tmp/cd.iso" --boot cdrom,disk
run order-disk-first "DISK BOOT OK" "Hard Disk" --disk "$tmp/disk.img" --cdrom "$tmp/cd.iso" --boot disk,cdrom
# A second disk on the primary slave is found too; the first one boots.
truncate -s 1M "$tmp/blank.img"
dbg_want="ata0-1: CAIXA HARDDISK ATA-7 Hard-Disk (1 MiBytes)"
run slave-disk "DISK BOOT OK" "Hard Disk" --disk "$tmp/disk.img" --disk "$tmp/blank.img"

# The same disk on the other controllers, and as a VDI (SeaBIOS reads it
# through caixa's image layer like any guest), and the CD on a SATA port.
dbg_want="AHCI/0: CAIXA HARDDISK"
run sata-disk "DISK BOOT OK" "Hard Disk" --disk "$tmp/disk.img,if=sata"
dbg_want="found virtio-blk at 00:05.0"
run virtio-disk "DISK BOOT OK" "Hard Disk" --disk "$tmp/disk.img,if=virtio"
dbg_want="DVD/CD \\[AHCI/1: CAIXA DVD-ROM"
run sata-cdrom "CDROM BOOT OK" "DVD/CD" --disk "$tmp/blank.img,if=sata" --cdrom "$tmp/cd.iso,if=sata" --boot cdrom
if "$caixa" clonemedium "$tmp/disk.img" "$tmp/disk.vdi" --format VDI >/dev/null 2>&1; then
    dbg_want=
    run vdi-disk "DISK BOOT OK" "Hard Disk" --disk "$tmp/disk.vdi,if=sata"
else
    echo "FAIL vdi-disk: clonemedium to VDI failed"
    fail=$((fail + 1))
fi

echo "seabios_boot: $pass passed, $fail failed"
[ $fail -eq 0 ]
