#!/bin/bash
# Installs the Debian packages caixa's build, tests and demo need.
# Idempotent: silent when everything is there; otherwise installs what is
# missing with apt-get (as root, or through sudo).
set -euo pipefail

packages=(
    build-essential     # gcc, make, libc headers
    cmake               # >= 3.25
    ninja-build
    clang               # second compiler, libFuzzer
    libclang-rt-14-dev  # sanitizer and libFuzzer runtimes for clang
    nasm                # guest test programs and the benchmark guest
    seabios             # /usr/share/seabios/bios.bin, the default firmware
    qemu-system-x86     # reference machine for guest tests and the benchmark
    qemu-utils          # qemu-img, the disk image oracle
    libcmocka-dev       # unit tests
    zlib1g-dev          # qcow2 compressed clusters, stream-optimized VMDK grains
    gdb                 # client for the gdb stub tests
    python3             # test helpers
    procps              # pgrep, for the gdb test
    acpica-tools        # iasl/acpiexec: the oracle for the ACPI tables
    isolinux            # isolinux.bin: the Linux CD the disk boot test builds
    syslinux-common     # ldlinux.c32 for isolinux
    e2fsprogs           # mkfs.ext4 -d, debugfs, e2fsck: the ext4 disk test's oracle
    xorriso             # El Torito ISO images for the IDE/ATAPI boot tests
    libiscsi-dev        # the iSCSI initiator (iscsi:// disks)
    tgt                 # tgtd/tgtadm: the iSCSI target the iSCSI test runs
)

missing=()
for p in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup-deps: installing ${missing[*]}" >&2
sudo=
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
        sudo=sudo
    else
        echo "setup-deps: missing ${missing[*]}; run this script as root" >&2
        exit 1
    fi
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
