#!/bin/bash
# VDI interoperability with QEMU's qemu-img/qemu-io (the oracle):
#  - VDIs qemu-img makes (dynamic and static), filled by qemu-io, read
#    bit-exactly by caixa (compared with qemu-img convert -O raw);
#  - VDIs caixa writes (Standard, Fixed, compacted, resized) pass
#    qemu-img check and qemu-img compare against the same content in raw;
#  - a differencing VDI reads through to its parent;
#  - a second writer is refused while the image is locked.
#   tests/e2e/storage_vdi.sh [CAIXA_BINARY]
set -u
caixa=${1:-${CAIXA:-build/caixa}}
[ -x "$caixa" ] || { echo "storage_vdi: no caixa binary at '$caixa'" >&2; exit 2; }
command -v qemu-img >/dev/null && command -v qemu-io >/dev/null ||
    { echo "storage_vdi: qemu-img/qemu-io missing (qemu-utils), skipped"; exit 77; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; [ -f err ] && sed 's/^/    /' err; }
# check NAME COMMAND...: the command succeeds.
check() { local n=$1; shift; if "$@" >out 2>err; then ok "$n"; else bad "$n"; fi; }

# --- qemu-img's VDIs, read by caixa -------------------------------------------
pattern() {   # qemu-io commands writing known data at odd places of a 20 MiB disk
    qemu-io -f "$2" -c 'write -P 0xab 0 1M' -c 'write -P 0x11 3M 512k' \
        -c 'write -P 0x5c 9728k 4k' -c 'write -P 0xe7 19M 1M' -c 'write -P 0x3d 10751k 2k' "$1" >/dev/null
}
for variant in dynamic static; do
    opt=""; [ $variant = static ] && opt="-o static=on"
    # shellcheck disable=SC2086
    qemu-img create -q -f vdi $opt q-$variant.vdi 20M
    pattern q-$variant.vdi vdi
    qemu-img convert -O raw q-$variant.vdi q-$variant.want
    check "qemu-img $variant VDI: caixa checkmedium" "$caixa" checkmedium q-$variant.vdi
    check "qemu-img $variant VDI: caixa clones it to raw" "$caixa" clonemedium q-$variant.vdi q-$variant.raw --format RAW
    check "qemu-img $variant VDI: caixa reads it bit-exactly" cmp q-$variant.raw q-$variant.want
done
# caixa rewrites qemu-img's layout (map at 0x200, data at 0x400 and later):
# still valid for qemu.
check "qemu-img dynamic VDI: caixa compacts and grows it" "$caixa" modifymedium q-dynamic.vdi --compact --resize 30
truncate -s 30M q-dynamic.want
check "qemu-img dynamic VDI after caixa: qemu-img check" qemu-img check -q q-dynamic.vdi
check "qemu-img dynamic VDI after caixa: same content" qemu-img compare -q q-dynamic.vdi q-dynamic.want
"$caixa" modifymedium q-static.vdi --compact >out 2>err
[ $? -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -q "^caixa: q-static.vdi: a fixed VDI image cannot be compacted" err &&
    ok "compacting a fixed VDI: one clear error" || bad "compacting a fixed VDI"
"$caixa" showmediuminfo q-static.vdi >out 2>err
if grep -q "^Format variant: *fixed" out && grep -q "^Capacity: *20 MBytes" out; then
    ok "showmediuminfo of a static qemu-img VDI"; else bad "showmediuminfo of a static qemu-img VDI"; fi

# --- caixa's VDIs, checked by qemu-img -----------------------------------------
qemu-img create -q -f raw src.raw 20M
pattern src.raw raw
for variant in Standard Fixed; do
    check "caixa $variant VDI: clonemedium" "$caixa" clonemedium src.raw c-$variant.vdi --format VDI --variant $variant
    check "caixa $variant VDI: qemu-img check" qemu-img check -q c-$variant.vdi
    check "caixa $variant VDI: qemu-img compare with raw" qemu-img compare -q -f vdi -F raw c-$variant.vdi src.raw
    check "caixa $variant VDI: qemu-img convert reads the same" \
        sh -c "qemu-img convert -O raw c-$variant.vdi back.raw && cmp back.raw src.raw"
done
size_std=$(stat -c %s c-Standard.vdi)
[ "$size_std" -eq $(((2 + 5) * 1048576)) ] && ok "Standard VDI allocates only the 5 written blocks" ||
    bad "Standard VDI is $size_std bytes, want 2 MiB + 5 blocks"
[ "$(stat -c %s c-Fixed.vdi)" -eq $(((2 + 20) * 1048576)) ] && ok "Fixed VDI holds every block" ||
    bad "Fixed VDI size $(stat -c %s c-Fixed.vdi)"

# Zeros written by qemu-io into allocated blocks: compact drops them.
"$caixa" clonemedium c-Standard.vdi z.vdi >/dev/null   # a copy with its own UUID
qemu-io -f vdi -c 'write -P 0 19M 1M' -c 'write -P 0 0 1M' z.vdi >/dev/null
qemu-io -f raw -c 'write -P 0 19M 1M' -c 'write -P 0 0 1M' src.raw >/dev/null
check "compact: caixa modifymedium --compact" "$caixa" modifymedium z.vdi --compact
[ "$(stat -c %s z.vdi)" -eq $(((2 + 3) * 1048576)) ] && ok "compact: two zero blocks dropped" ||
    bad "compact: size $(stat -c %s z.vdi)"
check "compact: qemu-img check" qemu-img check -q z.vdi
check "compact: qemu-img compare" qemu-img compare -q -f vdi -F raw z.vdi src.raw

# Resize: within the map's room, then far beyond (the data area moves).
for mb in 64 400000; do
    check "resize to $mb MB: modifymedium" "$caixa" modifymedium z.vdi --resize $mb
    truncate -s ${mb}M src.raw
    check "resize to $mb MB: qemu-img check" qemu-img check -q z.vdi
    qemu-img info z.vdi | grep -q "virtual size: .*($((mb * 1048576)) bytes)" && ok "resize to $mb MB: size" ||
        bad "resize to $mb MB: size"
    check "resize to $mb MB: content kept" qemu-img compare -q -f vdi -F raw z.vdi src.raw
done
truncate -s 20M src.raw

# --- differencing --------------------------------------------------------------
mkdir snaps
check "diff: createmedium --diffparent" "$caixa" createmedium disk --filename snaps/child.vdi --diffparent c-Standard.vdi
"$caixa" showmediuminfo snaps/child.vdi >out 2>err
pu=$("$caixa" showmediuminfo c-Standard.vdi | sed -n 's/^UUID: *//p')
grep -q "^Parent UUID: *$pu" out && grep -q "^Parent: .*/c-Standard.vdi" out && ok "diff: parent UUID and path" ||
    bad "diff: showmediuminfo"
qemu-img convert -O raw c-Standard.vdi parent.raw
check "diff: reads give the parent's data" sh -c "'$caixa' clonemedium snaps/child.vdi flat.raw --format RAW && cmp flat.raw parent.raw"
check "diff: checkmedium of the chain" "$caixa" checkmedium snaps/child.vdi
mv c-Standard.vdi elsewhere.vdi && mkdir far && mv elsewhere.vdi far/
"$caixa" checkmedium snaps/child.vdi >out 2>err
st=$?
[ $st -eq 2 ] && grep -q "parent image {$pu} not found" err && ok "diff: missing parent is one clear error" ||
    bad "diff: missing parent"

# --- lock ----------------------------------------------------------------------
# This shell holds the lock on its own file descriptor (flock(1)), so no
# background process is left behind.
if command -v flock >/dev/null; then
    exec 9<c-Fixed.vdi
    flock -x 9
    "$caixa" modifymedium c-Fixed.vdi --compact >out 2>err
    st=$?
    "$caixa" showmediuminfo c-Fixed.vdi >out2 2>err2
    st2=$?
    exec 9<&-
    [ $st -eq 2 ] && grep -q "^caixa: c-Fixed.vdi is locked by another process" err && ok "lock: a second writer is refused" ||
        bad "lock: writer status $st"
    [ $st2 -eq 2 ] && grep -q "locked by another process" err2 && ok "lock: a reader beside a writer is refused" ||
        bad "lock: reader status $st2"
    check "lock: released with the holder" "$caixa" checkmedium c-Fixed.vdi
fi

echo "storage_vdi: $pass passed, $fail failed"
[ $fail -eq 0 ]
