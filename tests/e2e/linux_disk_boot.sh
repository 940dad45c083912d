#!/bin/bash
# Booting Debian's Linux through SeaBIOS from a CD, with an ext4 disk: the
# test builds, from Debian's packages only, an isolinux ISO holding the
# kernel and an initramfs with the storage and ext4 modules, and an ext4
# image of a small root filesystem; linux_disk_boot.py drives the guest.
#   tests/e2e/linux_disk_boot.sh [CAIXA_BINARY]
# Skipped (77) without isolinux, xorriso, mkfs.ext4 or qemu-img.
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
caixa=${1:-${CAIXA:-build/caixa}}
build=${BUILD:-$here/build}
[ -x "$caixa" ] || { echo "linux_disk_boot: no caixa binary at '$caixa'" >&2; exit 2; }
isolinux=/usr/lib/ISOLINUX/isolinux.bin
ldlinux=/usr/lib/syslinux/modules/bios/ldlinux.c32
for t in "$isolinux" "$ldlinux"; do
    [ -f "$t" ] || { echo "linux_disk_boot: $t missing (isolinux, syslinux-common); skipped"; exit 77; }
done
for t in xorriso mkfs.ext4 debugfs qemu-img; do
    command -v "$t" >/dev/null || { echo "linux_disk_boot: $t missing; skipped"; exit 77; }
done

guest=$build/disk-boot-guest
GUEST_MODULES="ata_piix ahci sd_mod sr_mod isofs crc32c_generic ext4 virtio_pci virtio_blk" \
    "$here/scripts/build-guest.sh" "$guest" || { echo "linux_disk_boot: cannot build the guest" >&2; exit 1; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The CD: isolinux boots the kernel with the console on COM1.
mkdir -p "$tmp/iso/isolinux" "$tmp/iso/boot"
cp "$isolinux" "$ldlinux" "$tmp/iso/isolinux/"
cp "$guest/vmlinuz" "$tmp/iso/boot/vmlinuz"
cp "$guest/initramfs.cpio.gz" "$tmp/iso/boot/initrd.gz"
cat > "$tmp/iso/isolinux/isolinux.cfg" <<CFG
DEFAULT linux
PROMPT 0
TIMEOUT 1
LABEL linux
  KERNEL /boot/vmlinuz
  INITRD /boot/initrd.gz
  APPEND $(cat "$guest/cmdline")
CFG
xorriso -as mkisofs -quiet -o "$tmp/boot.iso" -b isolinux/isolinux.bin -c isolinux/boot.cat \
    -no-emul-boot -boot-load-size 4 -boot-info-table -R -J -V CAIXA_TEST "$tmp/iso" \
    || { echo "linux_disk_boot: xorriso failed" >&2; exit 1; }
# The disk: an ext4 root filesystem made from a directory (no mount, no root).
mkdir -p "$tmp/rootfs/etc" "$tmp/rootfs/root" "$tmp/rootfs/bin"
echo "caixa-ext4-root" > "$tmp/rootfs/etc/hostname"
cp "$guest/data.bin" "$tmp/rootfs/root/data.bin"
mkfs.ext4 -q -F -L caixaroot -d "$tmp/rootfs" "$tmp/root.raw" 64M \
    || { echo "linux_disk_boot: mkfs.ext4 failed" >&2; exit 1; }
exec python3 "$here/tests/e2e/linux_disk_boot.py" "$caixa" "$guest" "$tmp"
