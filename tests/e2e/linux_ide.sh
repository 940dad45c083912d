#!/bin/bash
# Debian's Linux on the PIIX3 IDE controller with its own ata_piix driver:
# an ATA disk and an ATAPI CD read by DMA, writes, the CD's file system,
# the drive's capabilities (tests/e2e/linux_ide.py). Direct kernel boot: no firmware.
#   tests/e2e/linux_ide.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
# The guest is the default guest's kernel with the IDE modules in a variant
# initramfs, built (cached) in $BUILD/ide-guest. Skips (77) without xorriso,
# when that guest cannot be built (no Debian package index or network), or
# under the sanitizers (a boot takes minutes there).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
caixa=${1:-${CAIXA:-build/caixa}}
build=${BUILD:-${CAIXA_BUILD_DIR:-$here/build}}
guest=${CAIXA_IDE_GUEST:-$build/ide-guest}
[ -x "$caixa" ] || { echo "linux_ide: no caixa binary at '$caixa'" >&2; exit 2; }
if [ -n "${CAIXA_SANITIZE:-}" ] && [ -z "${CAIXA_LINUX_ASAN:-}" ]; then
    echo "linux_ide: skipped under the sanitizers (set CAIXA_LINUX_ASAN=1 to run)"
    exit 77
fi
command -v xorriso >/dev/null || { echo "linux_ide: xorriso not installed; skipped"; exit 77; }
if ! GUEST_MODULES="ata_piix sd_mod sr_mod isofs" "$here/scripts/build-guest.sh" "$guest" >/dev/null 2>&1 ||
   [ ! -s "$guest/vmlinuz" ] || [ ! -s "$guest/initramfs.cpio.gz" ]; then
    echo "linux_ide: skipped: cannot build the IDE guest in $guest (scripts/build-guest.sh)"
    exit 77
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/caixa-linux-ide.XXXXXX")
mkdir "$work/cd"
head -c $((3 * 1024 * 1024 + 12345)) /dev/urandom >"$work/cd/big.bin"
echo "caixa IDE test disc" >"$work/cd/readme.txt"
xorriso -as mkisofs -quiet -V CAIXAIDE -o "$work/cd.iso" "$work/cd" 2>"$work/xorriso.err" ||
    { cat "$work/xorriso.err"; exit 2; }
python3 "$here/tests/e2e/linux_ide.py" "$caixa" "$guest" "$work"
rc=$?
[ $rc -eq 0 ] && rm -rf "$work"
exit $rc
