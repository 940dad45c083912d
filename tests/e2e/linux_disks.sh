#!/bin/bash
# Debian's Linux finds, reads and writes an AHCI SATA disk and a virtio-blk
# disk, and reads a CD on a SATA port, with its own ahci, sr_mod and
# virtio_blk drivers (tests/e2e/linux_disks.py).
#   tests/e2e/linux_disks.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
# The guest is the default guest's kernel with those drivers in a variant
# initramfs, built (cached) in $BUILD/disk-guest; the default guest is not
# touched. Skips (77) when that guest cannot be built (no Debian package
# index or no network) or under the sanitizers (a boot takes minutes there).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
caixa=${1:-${CAIXA:-build/caixa}}
build=${BUILD:-${CAIXA_BUILD_DIR:-$here/build}}
guest=${CAIXA_DISK_GUEST:-$build/disk-guest}
[ -x "$caixa" ] || { echo "linux_disks: no caixa binary at '$caixa'" >&2; exit 2; }
if [ -n "${CAIXA_SANITIZE:-}" ] && [ -z "${CAIXA_LINUX_ASAN:-}" ]; then
    echo "linux_disks: skipped under the sanitizers (set CAIXA_LINUX_ASAN=1 to run)"
    exit 77
fi
modules="ahci sd_mod sr_mod virtio_pci virtio_blk"
# build-guest.sh caches by file age only: a different module list rebuilds.
rebuild=
[ "$(cat "$guest/modules.list" 2>/dev/null)" = "$modules" ] || rebuild=1
if ! GUEST_REBUILD=$rebuild GUEST_MODULES=$modules "$here/scripts/build-guest.sh" "$guest" >/dev/null 2>&1 ||
   [ ! -s "$guest/vmlinuz" ] || [ ! -s "$guest/initramfs.cpio.gz" ]; then
    echo "linux_disks: skipped: cannot build the disk guest in $guest (scripts/build-guest.sh)"
    exit 77
fi
echo "$modules" > "$guest/modules.list"
work=$(mktemp -d "${TMPDIR:-/tmp}/caixa-linux-disks.XXXXXX")
python3 "$here/tests/e2e/linux_disks.py" "$caixa" "$guest" "$work"
rc=$?
[ $rc -eq 0 ] && rm -rf "$work"
exit $rc
