#!/usr/bin/env bash
# The optimizers compared on the examples, in f64 with each optimizer's default flags
# (its default number of steps included): one `nabla train` run per example and optimizer,
# with the error measured every few steps and a time limit per example (the same for every
# optimizer), so the error-against-wall-time curves of history.csv compare. The README's optimizer table and charts come from here.
#
# Usage: bash benches/optimizers.sh [OUT_DIR] [EXAMPLE...]
#   (default target/optimizers, every example below; the run directories are
#   OUT_DIR/EXAMPLE/OPTIMIZER with params.json, history.csv and the plots, plus
#   OUT_DIR/EXAMPLE/OPTIMIZER.json, the `--json` summary)
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-target/optimizers}
shift || true
mkdir -p "$out"
{ date -u; nproc; uptime; } >"$out/machine.txt"
cargo build --release 2>/dev/null
nabla=target/release/nabla

# example, time limit in seconds, error-every, extra flags
runs=(
  "poisson2d 60 10"
  "heat1d 60 10"
  "inverse 20 10"
  "helmholtz2d 120 10"
  "helmholtz2d_dense 540 10"
  "helmholtz_k2 60 10"
  "poisson10d 120 10"
  "burgers 300 10 --reference examples/burgers_reference.json"
  "stokes 300 5"
  "allen_cahn 300 10 --reference examples/allen_cahn_reference.json"
  "allen_cahn_periodic 300 5 --causal 10 --reference examples/allen_cahn_reference.json"
)
optimizers=${OPTIMIZERS:-"adam+lbfgs lm"}
for r in "${runs[@]}"; do
  read -r ex limit every extra <<<"$r"
  if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$ex"; then continue; fi
  for opt in $optimizers; do
    dir="$out/$ex/$opt"
    mkdir -p "$out/$ex"
    echo "== $ex $opt (limit ${limit} s)"
    # shellcheck disable=SC2086
    "$nabla" train "examples/$ex.nabla" --dtype f64 --optimizer "$opt" \
      --max-time "$limit" --error-every "$every" --out "$dir" --json $extra \
      >"$out/$ex/$opt.json" 2>"$out/$ex/$opt.log" || echo "   failed: see $out/$ex/$opt.log"
    tail -n 4 "$out/$ex/$opt.log"
  done
done
