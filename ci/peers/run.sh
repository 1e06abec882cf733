#!/usr/bin/env bash
# Peer comparison: numpy/scipy/scikit-learn against our plugins, same
# matrices, same machine, same run, one thread, k = 128, p = 10.
#
#   bash ci/peers/run.sh [DIR] [--large] [--repeats N]
#
# DIR defaults to /tmp/galore-peers. Makes a throwaway virtualenv outside the
# repository (/tmp/peers-venv, reused when present), runs ci/peers/peers.py
# (writes the .npy matrices, times the peers), then the Rust example
# `peers` on the same files, then prints one markdown table (compare.py).
# Not part of the test suite or CI.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
dir="/tmp/galore-peers"
if [[ $# -gt 0 && "$1" != --* ]]; then
    dir="$1"
    shift
fi
large=""
repeats=7
while [[ $# -gt 0 ]]; do
    case "$1" in
        --large) large="--large" ;;
        --repeats) repeats="$2"; shift ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
    shift
done
venv="${PEERS_VENV:-/tmp/peers-venv}"
mkdir -p "$dir"

if [[ ! -x "$venv/bin/python" ]]; then
    python3 -m venv "$venv"
fi
"$venv/bin/python" -c 'import numpy, scipy, sklearn, threadpoolctl' 2>/dev/null ||
    "$venv/bin/pip" install -q numpy scipy scikit-learn threadpoolctl

# Build first, so that the build does not overlap either timed run.
(cd "$root" && cargo build --release -p lab --example peers)

echo "load before: $(cat /proc/loadavg)"
# One thread everywhere; OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (set on some
# machines of this workplace) slow a current OpenBLAS: unset both, for this
# command alone, and let OpenBLAS pick its kernel (reported by threadpoolctl).
env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE \
    OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
    "$venv/bin/python" "$here/peers.py" "$dir" --repeats "$repeats" $large
echo "load between: $(cat /proc/loadavg)"
(cd "$root" && RAYON_NUM_THREADS=1 cargo run --release -q -p lab --example peers -- "$dir" \
    --repeats "$repeats")
echo "load after: $(cat /proc/loadavg)"

"$venv/bin/python" "$here/compare.py" "$dir" | tee "$dir/table.md"
