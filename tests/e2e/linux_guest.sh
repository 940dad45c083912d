#!/bin/bash
# The default guest (Debian's kernel and busybox, scripts/build-guest.sh)
# boots on caixa to a shell that this test drives over the serial line.
#   tests/e2e/linux_guest.sh [CAIXA_BINARY]   (default $CAIXA, then build/caixa)
# CAIXA_GUEST: the guest's directory (default build/default-guest, built if missing).
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
caixa=${1:-${CAIXA:-build/caixa}}
guest=${CAIXA_GUEST:-$here/build/default-guest}
[ -x "$caixa" ] || { echo "linux_guest: no caixa binary at '$caixa'" >&2; exit 2; }
"$here/scripts/build-guest.sh" "$guest" || { echo "linux_guest: cannot build the default guest" >&2; exit 1; }
exec python3 "$here/tests/e2e/linux_guest.py" "$caixa" "$guest"
