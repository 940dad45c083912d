#!/bin/bash
# Builds caixa's default guest from Debian's packages only: the kernel of
# linux-image-amd64 and an initramfs holding busybox-static, the init files
# in guest/rootfs and the kernel modules listed in GUEST_MODULES (with what
# they depend on), plus the files under GUEST_EXTRA (a directory copied over
# the root, for test and benchmark variants). Cached: does nothing when the
# outputs exist and nothing they come from is newer.
#
# usage: scripts/build-guest.sh [OUTDIR]   (default build/default-guest)
# Outputs: OUTDIR/vmlinuz, OUTDIR/initramfs.cpio.gz, OUTDIR/cmdline, OUTDIR/kernel-release,
#          OUTDIR/data.bin (a file in the guest at /root/data.bin, for tests)
# The Debian packages are kept in GUEST_DEBS (default build/guest-debs).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-$here/build/default-guest}
mkdir -p "$out" && out=$(cd "$out" && pwd)
GUEST_MODULES=${GUEST_MODULES:-}
GUEST_EXTRA=${GUEST_EXTRA:-}

if [ -s "$out/vmlinuz" ] && [ -s "$out/initramfs.cpio.gz" ] && [ -s "$out/cmdline" ] && \
   [ -z "${GUEST_REBUILD:-}" ]; then
    newest=$(find "$here/guest/rootfs" "$here/scripts/build-guest.sh" "$here/scripts/mkinitramfs.py" \
             "$here/scripts/kmod-closure.py" ${GUEST_EXTRA:+"$GUEST_EXTRA"} -newer "$out/initramfs.cpio.gz" | head -1)
    [ -z "$newest" ] && exit 0
fi

# One download cache for every guest variant (tests and benchmarks build
# their own initramfs from the same packages).
debs=${GUEST_DEBS:-$here/build/guest-debs}
mkdir -p "$debs"
cd "$debs"
# The metapackage names the current kernel package; fetch that and busybox.
resolve() { apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}'; }
kpkg=$(resolve)
if [ -z "$kpkg" ] && [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq >/dev/null 2>&1 || true
    kpkg=$(resolve)
fi
if [ -z "$kpkg" ]; then
    echo "build-guest: cannot resolve linux-image-amd64 (is the Debian package index there? apt-get update)" >&2
    exit 1
fi
for p in "$kpkg" busybox-static; do
    if ! ls "${p}"_*.deb >/dev/null 2>&1; then
        echo "build-guest: downloading $p" >&2
        apt-get download -qq "$p" 2>/dev/null || { echo "build-guest: apt-get download $p failed" >&2; exit 1; }
    fi
done

work=$(mktemp -d "$out/tmp.XXXXXX")
trap 'rm -rf "$work"' EXIT
dpkg-deb -x "$(ls "${kpkg}"_*.deb | head -1)" "$work/kernel"
dpkg-deb -x "$(ls busybox-static_*.deb | head -1)" "$work/busybox"
release=$(ls "$work/kernel/lib/modules" | head -1)

root=$work/root
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,run,root,lib/modules/"$release"}
cp -a "$here/guest/rootfs/." "$root/"
cp "$work/busybox/bin/busybox" "$root/bin/busybox"
if [ -n "$GUEST_EXTRA" ]; then cp -a "$GUEST_EXTRA/." "$root/"; fi
# One link per applet busybox has, where the applet says it lives.
for a in $("$root/bin/busybox" --list-full); do
    [ -e "$root/$a" ] || ln -s /bin/busybox "$root/$a"
done
ln -sf /bin/busybox "$root/init"

: > "$root/etc/modules"
if [ -n "$GUEST_MODULES" ]; then
    moddir=$work/kernel/lib/modules/$release
    # shellcheck disable=SC2086
    for m in $(python3 "$here/scripts/kmod-closure.py" "$moddir" $GUEST_MODULES); do
        mkdir -p "$root/lib/modules/$release/$(dirname "$m")"
        cp "$moddir/$m" "$root/lib/modules/$release/$m"
        echo "$m" >> "$root/etc/modules"
    done
fi

# A fixed pseudo-random file whose checksum the tests compare with the host's.
python3 -c 'import random,sys; r=random.Random(20261125); sys.stdout.buffer.write(bytes(r.getrandbits(8) for _ in range(1<<20)))' \
    > "$root/root/data.bin"

python3 "$here/scripts/mkinitramfs.py" "$root" "$work/initramfs.cpio.gz" \
    --node dev/console:c:5:1:600 --node dev/null:c:1:3:666 --node dev/ttyS0:c:4:64:600
cp "$work/kernel/boot/vmlinuz-$release" "$work/vmlinuz"
cp "$root/root/data.bin" "$work/data.bin"
echo "$release" > "$work/kernel-release"
# The command line `caixa run` uses for this guest: the console on COM1, and
# a panic reboots (the tests see it as a reset).
echo "console=ttyS0 panic=-1" > "$work/cmdline"
mv "$work/vmlinuz" "$work/initramfs.cpio.gz" "$work/data.bin" "$work/kernel-release" "$work/cmdline" "$out/"
echo "build-guest: $out/vmlinuz ($release), $out/initramfs.cpio.gz" >&2
