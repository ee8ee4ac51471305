#!/usr/bin/env bash
# Every CPU measurement of BENCHMARKS.md in one session, so its numbers compare as ratios:
# the B1-B8 table on one and two threads, the ablations, the profile, and JAX on the same
# objectives right after nabla (needs `pip install "jax[cpu]" folx`; skipped without it).
#
# Usage: bash benches/measure.sh [OUT_DIR]   (default target/measure; ~15 min idle)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/measure}
mkdir -p "$out"
{ date -u; nproc; uptime; } >"$out/machine.txt"
lscpu 2>/dev/null | grep -E 'Model name|^CPU\(s\)|L2|L3|Flags' | cut -c1-200 >>"$out/machine.txt" || true

cargo bench --bench pinn --no-run 2>/dev/null
bench() { cargo bench --bench pinn -- table "$@" 2>/dev/null | grep '^|'; }

bench threads=1 >"$out/table_t1.md"
bench threads=2 >"$out/table_t2.md"
for abl in "" tanh=0 simd=0 fma=0; do
  echo "== $abl"
  bench threads=1 B1 B5 $abl | grep 'loss+grad'
done >"$out/ablations.md"
cargo bench --bench profile -- B1 B4 >"$out/profile.txt" 2>/dev/null

if python3 -c 'import jax' 2>/dev/null; then
  jax=benches/peers/jax_bench.py
  {
    python3 $jax B1 B5 --threads 1
    python3 $jax B2 B4 --threads 1 --methods fwdfwd,fd,folx
    python3 $jax B3 --threads 1 --methods fd,folx
    bench threads=1 B1 B2 B3 B4 B5 | grep 'loss+grad' | grep f32
  } >"$out/jax_t1.md" 2>&1
else
  echo "jax not installed: pip install \"jax[cpu]\" folx" >"$out/jax_t1.md"
fi
uptime >>"$out/machine.txt"
echo "written to $out"
