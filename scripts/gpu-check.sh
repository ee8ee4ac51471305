#!/usr/bin/env bash
# The OpenCL GPU check: one command for a machine with an OpenCL GPU.
#
#   scripts/gpu-check.sh                 build (release, offline), run the OpenCL differential
#                                        tests on the GPU, time MLP objectives and the PINN
#                                        objectives B1-B4, print tables
#   scripts/gpu-check.sh --prepare DIR   build the two release binaries here and copy them
#                                        (plus this machine's ICD loader) into DIR, for a GPU
#                                        machine without a Rust toolchain
#   NABLA_GPU_BIN=DIR scripts/gpu-check.sh   use binaries prepared in DIR instead of building
#
# Installs nothing and fetches nothing. When no ICD loader or no vendor file is registered
# it points the loader at what it finds (NVIDIA's libnvidia-opencl.so.1) through
# OCL_ICD_VENDORS and LD_LIBRARY_PATH for this process only.
set -uo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"

# Release binaries of the differential tests and the bench; prints their paths.
build() {
  cargo build --release --offline -p nabla-backends --example opencl_bench >&2 || return 1
  cargo build --release --offline --bin nabla >&2 || return 1
  local diff
  diff=$(cargo test --release --offline -p nabla-backends --test opencl_diff --no-run 2>&1 |
    grep -o '([^)]*opencl_diff-[0-9a-f]*)' | tr -d '()' | tail -1)
  [ -n "$diff" ] || return 1
  echo "$diff" "$CARGO_TARGET_DIR/release/examples/opencl_bench"
}

if [ "${1:-}" = --prepare ]; then
  dir=${2:?usage: gpu-check.sh --prepare DIR}
  mkdir -p "$dir"
  read -r diff bench < <(build) || { echo "gpu-check: build failed" >&2; exit 1; }
  cp "$diff" "$dir/opencl_diff" && cp "$bench" "$dir/opencl_bench"
  cp "$CARGO_TARGET_DIR/release/nabla" "$dir/nabla"
  loader=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libOpenCL\.so\.1$' | head -1)
  [ -n "$loader" ] && cp -L "$loader" "$dir/libOpenCL.so.1"
  cp "$0" "$dir/gpu-check.sh"
  ls -la "$dir"
  exit 0
fi

section() { printf '\n== %s\n' "$*"; }
section "machine"
date -u
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
command -v clinfo >/dev/null && clinfo -l

section "OpenCL loader"
if ! ldconfig -p 2>/dev/null | grep -q 'libOpenCL\.so\.1'; then
  found=$(find /usr/local/cuda*/ /usr/lib /opt "${NABLA_GPU_BIN:-/nonexistent}" -maxdepth 4 \
    -name 'libOpenCL.so.1*' 2>/dev/null | head -1)
  if [ -n "$found" ]; then
    export LD_LIBRARY_PATH="$(dirname "$found")${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    echo "using ICD loader $found"
  else
    echo "no libOpenCL.so.1 found: the OpenCL tests cannot run here"
  fi
fi
# Register NVIDIA's OpenCL driver when the machine has it but no vendor file names it
# (CUDA images often ship the driver without /etc/OpenCL/vendors/nvidia.icd, and may
# register PoCL only, which would silently run everything on the CPU).
nv=$(ldconfig -p 2>/dev/null | grep -o '/[^ ]*libnvidia-opencl\.so\.1$' | head -1)
[ -z "$nv" ] && nv=$(find /usr/lib* /usr/local/nvidia -maxdepth 4 -name 'libnvidia-opencl.so.1' 2>/dev/null | head -1)
if [ -n "$nv" ] && ! grep -qs nvidia /etc/OpenCL/vendors/*.icd; then
  vendors=$(mktemp -d)
  cp /etc/OpenCL/vendors/*.icd "$vendors"/ 2>/dev/null
  echo "$nv" >"$vendors/nvidia.icd"
  export OCL_ICD_VENDORS="$vendors"
  echo "registered $nv through OCL_ICD_VENDORS (with: $(ls "$vendors" | tr '\n' ' '))"
elif ! ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1; then
  echo "no /etc/OpenCL/vendors/*.icd and no libnvidia-opencl.so.1"
else
  ls /etc/OpenCL/vendors/
fi
command -v clinfo >/dev/null && clinfo -l

section "build"
start=$(date +%s)
if [ -n "${NABLA_GPU_BIN:-}" ]; then
  diff="$NABLA_GPU_BIN/opencl_diff" bench="$NABLA_GPU_BIN/opencl_bench"
  echo "using prepared binaries in $NABLA_GPU_BIN"
elif command -v cargo >/dev/null; then
  read -r diff bench < <(build) || { echo "gpu-check: build failed"; exit 1; }
  echo "built in $(($(date +%s) - start)) s"
else
  echo "no cargo and no NABLA_GPU_BIN: prepare binaries with --prepare on a machine with Rust"
  exit 1
fi

section "differential tests (OpenCL vs the f64 interpreter; NABLA_REQUIRE_OPENCL=1)"
NABLA_REQUIRE_OPENCL=1 "$diff" --test-threads=1
tests=$?

section "MLP objectives"
"$bench"
bench_rc=$?

section "PINN objectives B1-B4 (nabla bench --backend opencl, f32: exact vs finite differences)"
nabla_bin="${NABLA_GPU_BIN:-$CARGO_TARGET_DIR/release}/nabla"
pinn_rc=0
for b in B1 B2 B3 B4; do
  echo "-- $b"
  "$nabla_bin" bench "benches/problems/$b.nabla" --backend opencl --methods auto,fd \
    --dtypes f32 --reps 5 2>&1 | tail -5 || pinn_rc=1
done

section "done in $(($(date +%s) - start)) s: tests rc=$tests, bench rc=$bench_rc"
[ "$tests" = 0 ] && [ "$bench_rc" = 0 ] && [ "$pinn_rc" = 0 ]
