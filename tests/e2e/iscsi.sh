#!/bin/bash
# e2e: caixa's iSCSI initiator (src/drivers/blk_iscsi.c) against Debian's
# tgt target. Starts tgtd on 127.0.0.1 on a free port with its own control
# port, exports LUNs backed by temporary files, then checks
#   - that `caixa run --disk iscsi://...` ends with one "caixa: " line and
#     status 2 for a malformed URL, a port nobody listens on, an unknown
#     target, a missing LUN and a LUN that is not a disk;
#   - tests/unit/test_blk_iscsi against the live target (reads equal the
#     backing files, writes land in them exactly, 4 KiB blocks, read-only,
#     UNMAP, a CD/DVD LUN, a dropped connection, the target killed);
#   - when caixa can boot from a disk image (the same boot sector from a
#     plain file works): SeaBIOS boots tests/e2e/iscsi_boot.asm from an
#     iSCSI LUN, which reads sector 1 and writes sector 2 through INT 13h;
#   - CHAP: a target with an account refuses caixa without credentials and
#     with a wrong password (one line, no password in it), and the guest
#     boots from it with USER%PASSWORD in the URL and with libiscsi's
#     LIBISCSI_CHAP_USERNAME/LIBISCSI_CHAP_PASSWORD.
#   tests/e2e/iscsi.sh [CAIXA_BINARY]   (default $CAIXA, then $BUILD/caixa)
# Exit 0 pass, 1 fail, 77 skipped (no tgtd/tgtadm, not root, tgtd does not start).
set -u

here=$(cd "$(dirname "$0")" && pwd)
build=${CAIXA_BUILD_DIR:-${BUILD:-$here/../../build}}
caixa=${1:-${CAIXA:-$build/caixa}}
unit=$build/tests/test_blk_iscsi
bios=${SEABIOS:-/usr/share/seabios/bios.bin}
boot_limit=${ISCSI_BOOT_TIMEOUT:-60}   # seconds for a SeaBIOS disk boot (two boots: within CTest's 600)
[ -n "${CAIXA_SANITIZE:-}" ] && boot_limit=$((boot_limit * 2))
iqn=iqn.2026-12.org.caixa:e2e

[ -x "$caixa" ] || { echo "iscsi: no caixa binary at '$caixa'" >&2; exit 2; }
for tool in tgtd tgtadm; do
    command -v $tool >/dev/null || { echo "iscsi: $tool not installed (Debian's tgt): skipped"; exit 77; }
done
[ "$(id -u)" -eq 0 ] || { echo "iscsi: tgtd needs root: skipped"; exit 77; }
[ -x "$unit" ] || { echo "iscsi: no $unit" >&2; exit 2; }
[ -f "$bios" ] || { echo "iscsi: $bios not installed: skipped"; exit 77; }

work=$(mktemp -d "${TMPDIR:-/tmp}/caixa-iscsi.XXXXXX")
tgtd_pid=
caixa_pid=
cleanup() {
    [ -n "$caixa_pid" ] && kill -9 "$caixa_pid" 2>/dev/null
    # tgtd ignores SIGTERM while it has targets.
    [ -n "$tgtd_pid" ] && kill -9 "$tgtd_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

pass=0
fail=0
ok() { echo "ok   $1"; pass=$((pass + 1)); }
bad() { echo "FAIL $1${2:+: $2}"; fail=$((fail + 1)); }

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# --- the target ------------------------------------------------------------
port=
for try in 1 2 3 4 5 6 7 8; do
    p=$((20000 + RANDOM % 30000))
    cp=$((10000 + RANDOM % 10000))
    listening $p && continue
    tgtd -f -C $cp --iscsi portal=127.0.0.1:$p >"$work/tgtd.log" 2>&1 &
    tgtd_pid=$!
    disown $tgtd_pid    # no "Killed" job notice when the test kills it
    for ((i = 0; i < 50; i++)); do
        kill -0 $tgtd_pid 2>/dev/null || break
        if tgtadm -C $cp --mode system --op show >/dev/null 2>&1 && listening $p; then port=$p; break; fi
        sleep 0.1
    done
    [ -n "$port" ] && break
    kill -9 $tgtd_pid 2>/dev/null
    tgtd_pid=
done
if [ -z "$port" ]; then
    echo "iscsi: cannot start tgtd:"; tail -n 5 "$work/tgtd.log"
    echo "iscsi: skipped"; exit 77
fi
echo "iscsi: tgtd (pid $tgtd_pid) on 127.0.0.1:$port, control port $cp"
adm() { tgtadm -C $cp --lld iscsi "$@"; }

head -c 8M /dev/urandom >"$work/disk.img"
head -c 8M /dev/urandom >"$work/disk4k.img"
head -c 1M /dev/urandom >"$work/ro.img"
head -c 4M /dev/urandom >"$work/thin.img"
head -c 2M /dev/urandom >"$work/cd.img"
nasm -f bin -o "$work/boot.img" "$here/iscsi_boot.asm" || { echo "FAIL nasm iscsi_boot.asm"; exit 1; }
hello="sector one says hello through iSCSI"
printf '%s\r\n\0' "$hello" | dd of="$work/boot.img" bs=512 seek=1 conv=notrunc status=none
truncate -s 1M "$work/boot.img"
cp "$work/boot.img" "$work/boot-file.img"

setup_ok=1
adm --mode target --op new --tid 1 --targetname $iqn || setup_ok=0
lun=1
for f in disk disk4k ro thin boot cd; do
    opts=()
    [ $f = disk4k ] && opts=(--blocksize 4096)
    [ $f = cd ] && opts=(--device-type cd)
    adm --mode logicalunit --op new --tid 1 --lun $lun --backing-store "$work/$f.img" "${opts[@]}" || setup_ok=0
    lun=$((lun + 1))
done
adm --mode logicalunit --op update --tid 1 --lun 3 --params readonly=1 || setup_ok=0
adm --mode logicalunit --op update --tid 1 --lun 4 --params thin_provisioning=1 || setup_ok=0
adm --mode target --op bind --tid 1 --initiator-address ALL || setup_ok=0
[ $setup_ok -eq 1 ] || { echo "FAIL tgtadm: the target could not be set up"; exit 1; }
url=iscsi://127.0.0.1:$port/$iqn

# --- bad disks: one line, status 2 -------------------------------------------
free_port=$((port + 1))
while listening $free_port; do free_port=$((free_port + 1)); done
check_refused() {   # what, url, expected text in the line
    local out rc
    out=$(timeout 60 "$caixa" run --bios "$bios" --serial none --disk "$2" 2>&1 </dev/null)
    rc=$?
    local lines
    lines=$(printf '%s\n' "$out" | grep -c .)
    if [ $rc -eq 2 ] && [ "$lines" -eq 1 ] && [[ "$out" == "caixa: "* ]] && [[ "$out" == *"$3"* ]]; then
        ok "$1 ($out)"
    else
        bad "$1" "status $rc, expected 2 and one line with '$3': $out"
    fi
}
check_refused "malformed URL" "$url" "no /LUN"
check_refused "LUN out of range" "$url/300" "LUN must be a number"
check_refused "nobody listening" "iscsi://127.0.0.1:$free_port/$iqn/1" "cannot connect: "
check_refused "unknown target" "iscsi://127.0.0.1:$port/iqn.2026-12.org.caixa:nope/1" "cannot connect: "
check_refused "missing LUN" "$url/9" "cannot connect: "
check_refused "LUN 0 is tgt's controller, not a disk" "$url/0" "not a disk"

# --- a guest boots from the LUN ------------------------------------------------
# Runs the boot sector from DISK; 0 when it printed "done".
boot() {
    local disk=$1 tag=$2
    "$caixa" run --bios "$bios" --disk "$disk" --serial "file:$work/com1-$tag.txt" --debug-exit --no-reboot \
        --debugcon "$work/debugcon-$tag.txt" </dev/null >"$work/out-$tag.txt" 2>"$work/err-$tag.txt" &
    caixa_pid=$!
    local i
    for ((i = 0; i < boot_limit * 4; i++)); do
        kill -0 $caixa_pid 2>/dev/null || break
        grep -q -E "No bootable device|Boot failed" "$work/debugcon-$tag.txt" 2>/dev/null && break
        sleep 0.25
    done
    kill -9 $caixa_pid 2>/dev/null
    wait $caixa_pid 2>/dev/null
    boot_status=$?
    caixa_pid=
    grep -q "iscsi-boot: done" "$work/com1-$tag.txt" 2>/dev/null
}
marker="written by the guest through INT 13h"
file_boots=0
if boot "$work/boot-file.img" file; then
    file_boots=1
    if boot "$url/5" iscsi; then
        ok "SeaBIOS boots from the iSCSI LUN"
    else
        bad "SeaBIOS boots from the iSCSI LUN" "$(tail -c 300 "$work/com1-iscsi.txt" 2>/dev/null) $(cat "$work/err-iscsi.txt")"
    fi
    grep -q "$hello" "$work/com1-iscsi.txt" 2>/dev/null && ok "the guest reads sector 1 of the LUN" ||
        bad "the guest reads sector 1 of the LUN" "no '$hello' on COM1"
    [ "$boot_status" -eq 1 ] && ok "debug-exit status 1" || bad "debug-exit status" "$boot_status, expected 1"
    if [ "$(dd if="$work/boot.img" bs=512 skip=2 count=1 status=none | head -c ${#marker})" = "$marker" ]; then
        ok "the guest's write reached the LUN's backing file"
    else
        bad "the guest's write reached the LUN's backing file"
    fi
else
    echo "skip boot from the LUN: caixa does not boot this sector from a disk file either" \
         "($(tail -n 1 "$work/debugcon-file.txt" 2>/dev/null))"
fi

# --- CHAP: a target that asks the initiator for a user and password ----------------
chap_iqn=iqn.2026-12.org.caixa:chap
chap_user=caixa-e2e
chap_pass=chap-secret-2026
cp "$work/boot-file.img" "$work/chap.img"
setup_ok=1
adm --mode target --op new --tid 2 --targetname $chap_iqn || setup_ok=0
adm --mode logicalunit --op new --tid 2 --lun 1 --backing-store "$work/chap.img" || setup_ok=0
adm --mode account --op new --user $chap_user --password $chap_pass || setup_ok=0
adm --mode account --op bind --tid 2 --user $chap_user || setup_ok=0
adm --mode target --op bind --tid 2 --initiator-address ALL || setup_ok=0
if [ $setup_ok -eq 1 ]; then
    chap_url=iscsi://127.0.0.1:$port/$chap_iqn/1
    check_refused "CHAP target, no credentials" "$chap_url" "cannot connect: "
    check_refused "CHAP target, a wrong password" "iscsi://$chap_user%not-the-secret@127.0.0.1:$port/$chap_iqn/1" \
        "cannot connect: "
    out=$(timeout 60 "$caixa" run --bios "$bios" --serial none \
          --disk "iscsi://$chap_user%not-the-secret@127.0.0.1:$port/$chap_iqn/1" 2>&1 </dev/null)
    [[ "$out" != *not-the-secret* ]] && ok "the refusal does not show the password" ||
        bad "the refusal does not show the password" "$out"
    if [ $file_boots -eq 1 ]; then
        boot "iscsi://$chap_user%$chap_pass@127.0.0.1:$port/$chap_iqn/1" chap &&
            ok "SeaBIOS boots from the CHAP target (USER%PASSWORD in the URL)" ||
            bad "SeaBIOS boots from the CHAP target (USER%PASSWORD in the URL)" "$(cat "$work/err-chap.txt")"
        LIBISCSI_CHAP_USERNAME=$chap_user LIBISCSI_CHAP_PASSWORD=$chap_pass boot "$chap_url" chap-env &&
            ok "SeaBIOS boots from the CHAP target (LIBISCSI_CHAP_USERNAME/PASSWORD)" ||
            bad "SeaBIOS boots from the CHAP target (LIBISCSI_CHAP_USERNAME/PASSWORD)" "$(cat "$work/err-chap-env.txt")"
    fi
else
    bad "tgtadm: the CHAP target could not be set up"
fi

# --- the backend against the live target (kills tgtd at its end) -----------------
cat >"$work/drop.sh" <<EOF
#!/bin/bash
# Closes every connection of target 1 from the target side.
n=0
for sid in \$(tgtadm -C $cp --lld iscsi --mode target --op show | sed -n 's/.*I_T nexus: \([0-9]*\).*/\1/p'); do
    tgtadm -C $cp --lld iscsi --mode conn --op delete --tid 1 --sid \$sid --cid 0 || exit 1
    n=\$((n + 1))
done
[ \$n -gt 0 ]
EOF
cat >"$work/stop.sh" <<EOF
#!/bin/bash
# Kills tgtd and waits until it is gone (a zombie counts: its sockets are closed).
kill -9 $tgtd_pid
for ((i = 0; i < 100; i++)); do
    state=\$(awk '{print \$3}' /proc/$tgtd_pid/stat 2>/dev/null)
    [ -z "\$state" ] || [ "\$state" = Z ] && exit 0
    sleep 0.1
done
exit 1
EOF
unit_out=$work/unit.txt
CAIXA_ISCSI_URL=$url/1 CAIXA_ISCSI_FILE=$work/disk.img \
CAIXA_ISCSI_URL_4K=$url/2 CAIXA_ISCSI_FILE_4K=$work/disk4k.img \
CAIXA_ISCSI_URL_RO=$url/3 \
CAIXA_ISCSI_URL_THIN=$url/4 CAIXA_ISCSI_FILE_THIN=$work/thin.img \
CAIXA_ISCSI_URL_CD=$url/6 CAIXA_ISCSI_FILE_CD=$work/cd.img \
CAIXA_ISCSI_DROP_CMD="bash $work/drop.sh" CAIXA_ISCSI_STOP_CMD="bash $work/stop.sh" \
    "$unit" >"$unit_out" 2>&1
unit_rc=$?
if [ $unit_rc -eq 0 ] && ! grep -q SKIPPED "$unit_out"; then
    ok "test_blk_iscsi against tgtd ($(grep -c '^\[       OK \]' "$unit_out") tests; $(grep -m1 'target gone' "$unit_out"))"
else
    bad "test_blk_iscsi against tgtd" "status $unit_rc"
    cat "$unit_out"
fi

if [ $fail -ne 0 ]; then
    echo "--- tgtd log (last 20 lines)"; tail -n 20 "$work/tgtd.log"
fi
echo "iscsi: $pass passed, $fail failed"
[ $fail -eq 0 ]
