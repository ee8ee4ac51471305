#!/usr/bin/env bash
# The OpenCL GPU check: one command for a machine with an OpenCL GPU.
#
#   scripts/gpu-check.sh                 build (release, offline), run the OpenCL differential
#                                        tests on the GPU, time MLP objectives and the PINN
#                                        objectives (f32 and f64, exact default and finite
#                                        differences), print tables
#   scripts/gpu-check.sh --prepare DIR   build the two release binaries here and copy them
#                                        (plus this machine's ICD loader) into DIR, for a GPU
#                                        machine without a Rust toolchain
#   NABLA_GPU_BIN=DIR scripts/gpu-check.sh   use binaries prepared in DIR instead of building
#   NABLA_GPU_BEFORE=DIR ...             also run an earlier build's binaries (prepared the same
#                                        way) on the MLP and PINN objectives, alternating with
#                                        the current ones per objective, and print before/after
#   NABLA_GPU_OUT=DIR ...                keep every `nabla bench --json` result and log in DIR
#   NABLA_GPU_OBJECTIVES="B1 B5" ...     the PINN objectives to time (default B1-B5 and B8)
#   NABLA_GPU_FD="B1" ...                those also timed with finite differences, current build
#                                        only (default all; B3's 100-D stencils took minutes to
#                                        build before they were stacked, 56589ad)
#
# On an H200 the differential tests and the MLP objectives take about a minute, each
# PINN objective 20-90 s per build (B3 more: the before build's program took 74 s to build).
# NVIDIA's driver caches built programs (~/.nv/ComputeCache), so a program whose source
# an earlier run already built compiles in a fraction of a second: compare compile times
# from a cold cache only.
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

before="${NABLA_GPU_BEFORE:-}"
out="${NABLA_GPU_OUT:-$(mktemp -d)}"
mkdir -p "$out"
section "MLP objectives"
bench_rc=0
if [ -n "$before" ]; then
  echo "-- before ($before)"
  "$before/opencl_bench" || bench_rc=1
  echo "-- after"
fi
"$bench" || bench_rc=1

# One `nabla bench` of objective $2 with binaries $1 into $out/$3.json (table to the log).
pinn() {
  local bin=$1 b=$2 tag=$3
  shift 3
  "$bin/nabla" bench "benches/problems/$b.nabla" --backend opencl --json "$@" \
    >"$out/$tag.json" 2>"$out/$tag.log"
  local rc=$?
  tail -n 8 "$out/$tag.log"
  return $rc
}

section "PINN objectives (nabla bench --backend opencl: exact default f32/f64, fd f32)"
nabla_dir="${NABLA_GPU_BIN:-$CARGO_TARGET_DIR/release}"
pinn_rc=0
for b in ${NABLA_GPU_OBJECTIVES:-B1 B2 B3 B4 B5 B8}; do
  echo "-- $b"
  if [ -n "$before" ]; then
    pinn "$before" "$b" "$b-before" --methods auto --dtypes f32,f64 --reps 10 || pinn_rc=1
  fi
  pinn "$nabla_dir" "$b" "$b-after" --methods auto --dtypes f32,f64 --reps 10 || pinn_rc=1
  case " ${NABLA_GPU_FD:-B1 B2 B3 B4 B5 B8} " in
  *" $b "*) pinn "$nabla_dir" "$b" "$b-fd" --methods fd --dtypes f32 --reps 5 || pinn_rc=1 ;;
  esac
done

# A GPU runs a batch whole when it fits; B4's f32 program of 8192 points takes 202 MB, so
# 256 MB shared by the four programs of two rows (loss+grad and loss, f32 and f64) makes
# four tiles in f32 and eight in f64, run in turn: what tiling costs where it must.
section "B4 in tiles that fit --device-memory 256M (nabla bench --backend opencl)"
pinn "$nabla_dir" B4 B4-tiled --methods auto --dtypes f32,f64 --reps 10 --device-memory 256M \
  || pinn_rc=1

section "summary (loss+grad medians, ms; $out)"
python3 - "$out" <<'PY' || true
import json, pathlib, sys
out = pathlib.Path(sys.argv[1])
def rows(tag):
    try:
        return json.loads((out / f"{tag}.json").read_text())["results"]
    except (OSError, ValueError, KeyError):
        return []
print("| id | dtype | method | before ms | after ms | after/before | compile s (before, after) | grad error |")
print("|---|---|---|---|---|---|---|---|")
for f in sorted(out.glob("*-after.json")):
    b = f.name[: -len("-after.json")]
    old = {(r["dtype"], r["method"]): r for r in rows(f"{b}-before")}
    for r in rows(f"{b}-after") + rows(f"{b}-fd"):
        if "loss_grad_ms" not in r:
            print(f"| {b} | {r.get('dtype')} | {r.get('method')} | failed: {r} |")
            continue
        o = old.get((r["dtype"], r["method"]))
        ob = f"{o['loss_grad_ms']:.3f}" if o else ""
        ratio = f"{r['loss_grad_ms'] / o['loss_grad_ms']:.2f}" if o else ""
        oc = f"{o['compile_s']:.2f}, " if o else ""
        m = r["method"] + (f" h={r['h']:.2e}" if "h" in r else "")
        print(f"| {b} | {r['dtype']} | {m} | {ob} | {r['loss_grad_ms']:.3f} | {ratio} | "
              f"{oc}{r['compile_s']:.2f} | {r['grad_rel_err']:.2e} |")
PY

section "done in $(($(date +%s) - start)) s: tests rc=$tests, bench rc=$bench_rc, pinn rc=$pinn_rc"
[ "$tests" = 0 ] && [ "$bench_rc" = 0 ] && [ "$pinn_rc" = 0 ]
