#!/bin/bash
# The media commands (createmedium, clonemedium, showmediuminfo,
# modifymedium, checkmedium): every mistake is one "caixa: ..." line and exit
# status 2, leaving no file behind; checkmedium exits 1 on an inconsistent
# image with one line per problem; every creatable format round-trips
# through clonemedium and is read back by qemu-img (the oracle).
#   tests/e2e/medium_cli.sh [CAIXA_BINARY]
set -u
caixa=${1:-${CAIXA:-build/caixa}}
[ -x "$caixa" ] || { echo "medium_cli: no caixa binary at '$caixa'" >&2; exit 2; }
caixa=$(realpath "$caixa")

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp" || exit 2
pass=0
fail=0
ok() { pass=$((pass + 1)); echo "ok $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; sed 's/^/    /' err 2>/dev/null; }

# expect_error NAME REGEX ARGS...: status 2, exactly one stderr line "caixa: ...REGEX".
expect_error() {
    local name=$1 want=$2
    shift 2
    timeout 20 "$caixa" "$@" </dev/null >out 2>err
    local st=$?
    if [ $st -eq 2 ] && [ "$(wc -l <err)" -eq 1 ] && grep -Eq -- "^caixa: .*$want" err; then
        ok "$name"
    else
        bad "$name (status $st)"
    fi
}

# expect_ok NAME STDOUT_REGEX ARGS...
expect_ok() {
    local name=$1 want=$2
    shift 2
    timeout 60 "$caixa" "$@" </dev/null >out 2>err
    local st=$?
    if [ $st -eq 0 ] && { [ -z "$want" ] || grep -Eq -- "$want" out; }; then ok "$name"; else bad "$name (status $st)"; cat out; fi
}

# --- usage errors -------------------------------------------------------------
expect_ok "createmedium --help" "usage: caixa createmedium" createmedium --help
expect_error "no --filename" "--filename is required" createmedium disk --size 10
expect_error "no size" "--size .* is required" createmedium --filename a.vdi
expect_error "size not a number" "--size abc: expected a positive size in MB" createmedium --filename a.vdi --size abc
expect_error "size zero" "--size 0: expected" createmedium --filename a.vdi --size 0
expect_error "size far too large" "--size 99999999999999: expected" createmedium --filename a.vdi --size 99999999999999
expect_error "sizebyte not sector-aligned" "--sizebyte 1000: .*multiple of 512" createmedium --filename a.vdi --sizebyte 1000
expect_error "bad format" "--format FOO: expected VDI, VMDK, VHD, qcow2 or RAW" createmedium --filename a.vdi --size 1 --format FOO
expect_error "ISO cannot be created" "--format iso: expected" createmedium --filename a.iso --size 1 --format iso
expect_error "bad variant" "--variant Split2G: expected Standard or Fixed" createmedium --filename a.vdi --size 1 --variant Split2G
expect_error "flag without value" "--format needs a value" createmedium --filename a.vdi --size 1 --format
expect_error "unknown flag" "unknown option '--bogus'" createmedium --filename a.vdi --size 1 --bogus
expect_error "dvd media" "only disk media" createmedium dvd --filename a.iso --size 1
expect_error "missing diff parent" "nothere.vdi: No such file" createmedium --filename a.vdi --diffparent nothere.vdi
expect_error "size with diffparent" "takes its parent's size" createmedium --filename a.vdi --diffparent x --size 4
expect_error "directory as image" "not a regular file" showmediuminfo "$tmp"
expect_error "missing file" "nofile: No such file" showmediuminfo nofile
expect_error "showmediuminfo without file" "expected a FILE" showmediuminfo
expect_error "showmediuminfo two files" "unexpected argument 'b'" showmediuminfo a b
expect_error "clonemedium one file" "expected SOURCE and DESTINATION" clonemedium a.vdi
expect_error "clonemedium missing source" "nofile: No such file" clonemedium nofile b.vdi
expect_error "modifymedium nothing to do" "nothing to do" modifymedium a.vdi
expect_error "modifymedium bad size" "--resize -3: expected" modifymedium a.vdi --resize -3
expect_error "checkmedium missing file" "nofile: No such file" checkmedium nofile
[ -e a.vdi ] || [ -e a.iso ] && bad "a failed command left a file behind" || ok "failed commands leave no file"

# --- create, show, exists -------------------------------------------------------
expect_ok "createmedium VDI (the default format)" "^Medium created in format 'VDI'. UUID: [0-9a-f-]{36}$" \
    createmedium disk --filename d.vdi --size 64
uuid=$(sed -n 's/.*UUID: //p' out)
expect_error "never overwrites" "d.vdi: file exists" createmedium --filename d.vdi --size 64
expect_error "clone never overwrites" "d.vdi: file exists" clonemedium d.vdi d.vdi
expect_ok "showmediuminfo UUID" "^UUID: +$uuid$" showmediuminfo d.vdi
for line in "^Parent UUID: +base$" "^Storage format: +VDI$" "^Format variant: +dynamic default$" \
    "^Capacity: +64 MBytes$" "^Location: +$tmp/d.vdi$" "^Type: +normal \(base\)$"; do
    grep -Eq -- "$line" out && ok "showmediuminfo: $line" || bad "showmediuminfo: $line"
done
expect_ok "modifymedium --resize" "" modifymedium d.vdi --resize 128
expect_ok "capacity after resize" "^Capacity: +128 MBytes$" showmediuminfo disk d.vdi
expect_error "VDI does not shrink" "cannot shrink" modifymedium d.vdi --resize 100
expect_ok "checkmedium of a good image" "d.vdi: consistent \(format VDI\)" checkmedium d.vdi

# --- checkmedium on a damaged image -------------------------------------------
head -c 5M /dev/urandom >data.raw
"$caixa" clonemedium data.raw broken.vdi --format VDI >/dev/null
# Map entry 1 (at 1 MiB + 4) now points to data block 0 too, entry 2 far away.
printf '\000\000\000\000\377\000\000\000' | dd of=broken.vdi bs=1 seek=$((1048576 + 4)) conv=notrunc status=none
"$caixa" checkmedium broken.vdi >out 2>err
st=$?
if [ $st -eq 1 ] && grep -q "entry 1 points to data block 0, used by another entry too" out &&
    grep -q "entry 2 points to data block 255, beyond" out && grep -q "broken.vdi: 3 problems found" out; then
    ok "checkmedium reports a damaged block map (exit 1)"
else
    bad "checkmedium damaged: status $st"; cat out
fi
expect_error "a damaged image is not opened for writing" "corrupt VDI block map" modifymedium broken.vdi --compact
head -c 400 d.vdi >trunc.vdi
expect_error "truncated header" "trunc.vdi: truncated VDI" checkmedium trunc.vdi

# --- every creatable format, checked by qemu-img ------------------------------
if command -v qemu-img >/dev/null && command -v qemu-io >/dev/null; then
    qemu-img create -q -f raw src.raw 10M
    qemu-io -f raw -c 'write -P 0x5a 0 1M' -c 'write -P 0xc3 4100k 8k' -c 'write -P 0x21 9M 1M' src.raw >/dev/null
    # caixa format, qemu-img format name, showmediuminfo label
    for f in VDI:vdi:VDI VMDK:vmdk:VMDK VHD:vpc:VHD qcow2:qcow2:QCOW2 RAW:raw:RAW; do
        IFS=: read -r fmt qfmt label <<<"$f"
        for variant in Standard Fixed; do
            n=$fmt-$variant
            expect_ok "$n: createmedium" "Medium created in format '$label'" \
                createmedium --filename new-$n --size 3 --format $fmt --variant $variant
            # Both see the same size: 3 MiB, or more where the format rounds
            # up (VHD: to whole CHS geometry, which qemu-img reads).
            # qemu-img cannot tell a fixed VHD from raw by content (its
            # footer is at the end): name the format for it.
            qopt=()
            [ "$n" = VHD-Fixed ] && qopt=(-f vpc)
            qsize=$(qemu-img info "${qopt[@]}" new-$n 2>/dev/null | sed -n 's/^virtual size: .*(\([0-9]*\) bytes)/\1/p')
            csize=$("$caixa" showmediuminfo new-$n 2>/dev/null |
                sed -n -e 's/^Capacity: *\([0-9]*\) MBytes$/\1/p' -e 's/^Capacity: .*(\([0-9]*\) bytes)$/\1/p')
            [ -n "$csize" ] && [ "$csize" -lt 1000000 ] && csize=$((csize * 1048576))
            qemu-img info "${qopt[@]}" --output=json new-$n 2>err | grep -q "\"format\": \"$qfmt\"" &&
                [ -n "$qsize" ] && [ "$qsize" = "$csize" ] && [ "$qsize" -ge 3145728 ] &&
                ok "$n: qemu-img sees a $qfmt of caixa's size ($qsize)" || bad "$n: qemu-img info ($qsize, $csize)"
            expect_ok "$n: clonemedium from raw" "Clone medium created in format '$label'" \
                clonemedium src.raw clone-$n --format $fmt --variant $variant
            qemu-img compare -q -f $qfmt -F raw clone-$n src.raw 2>err && ok "$n: qemu-img compare" ||
                bad "$n: qemu-img compare"
            qemu-img check -q -f $qfmt clone-$n >err 2>&1
            st=$?
            # 63: qemu-img has no checker for this format (raw, vpc).
            [ $st -eq 0 ] || [ $st -eq 63 ] && ok "$n: qemu-img check" || bad "$n: qemu-img check ($st)"
            expect_ok "$n: showmediuminfo" "^Storage format: +$label$" showmediuminfo clone-$n
            expect_ok "$n: checkmedium" "consistent" checkmedium clone-$n
            # (compare: a larger image must hold zeros past src.raw's end)
            "$caixa" clonemedium clone-$n back-$n.raw --format RAW >/dev/null 2>err &&
                qemu-img compare -q -f raw -F raw back-$n.raw src.raw 2>>err &&
                ok "$n: caixa reads its own image back" || bad "$n: read back"
        done
        # qemu-img's own image of the format, read by caixa.
        qemu-img convert -O $qfmt src.raw q-$fmt 2>/dev/null
        "$caixa" clonemedium q-$fmt q-$fmt.raw --format RAW >/dev/null 2>err &&
            qemu-img compare -q -f raw -F raw q-$fmt.raw src.raw 2>>err &&
            ok "$fmt: caixa reads qemu-img's image bit-exactly" || bad "$fmt: qemu-img's image"
    done
else
    echo "medium_cli: qemu-img missing, format round trips skipped"
fi

echo "medium_cli: $pass passed, $fail failed"
[ $fail -eq 0 ]
