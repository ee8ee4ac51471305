#!/usr/bin/env bash
# The project's test command (the README's second command; .ci/run calls it).
# Formatting, lints, then the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."

# apt_install WHAT LOG [APT FLAGS] PACKAGE...: installs Debian packages when this script may (root, or
# CI=true with sudo); a failure is reported with its log, not fatal here.
apt_install() {
  local what=$1 log=$2 sudo=""
  shift 2
  if [ "$(id -u)" != 0 ] && [ "${CI:-}" = true ] && command -v sudo >/dev/null; then sudo="sudo -n"; fi
  if command -v apt-get >/dev/null && { [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; }; then
    echo "test.sh: installing $what..."
    if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install \
      -y -qq "$@"; } >"$log" 2>&1; then
      echo "test.sh: installing $what failed (log: $log)"
    fi
  fi
}

# OpenCL: the OpenCL backend's differential tests run on PoCL (the CPU). Install it when
# no OpenCL driver is registered; otherwise say plainly that those tests will be skipped.
have_opencl() {
  # (grep reads all of ldconfig's output: `grep -q` would exit at the first match and
  # the pipeline fail, under pipefail, with ldconfig's SIGPIPE)
  ls /etc/OpenCL/vendors/*.icd >/dev/null 2>&1 && ldconfig -p 2>/dev/null | grep 'libOpenCL\.so' >/dev/null
}
if ! have_opencl; then
  apt_install "PoCL (OpenCL on the CPU) for the OpenCL tests" /tmp/nabla-pocl-install.log \
    pocl-opencl-icd ocl-icd-opencl-dev clinfo
  if ! have_opencl; then
    echo "test.sh: no OpenCL driver found: the OpenCL differential tests will be SKIPPED"
    echo "         (install one with: apt-get install pocl-opencl-icd ocl-icd-opencl-dev)"
  fi
fi

# MPI: the distributed-training tests (the `mpi` feature) run on OpenMPI; the `mpi`
# crate's bindings are generated with bindgen, which loads libclang. Installed the same way.
have_mpi() {
  command -v mpirun >/dev/null && command -v mpicc >/dev/null \
    && ldconfig -p 2>/dev/null | grep 'libclang' >/dev/null
}
if ! have_mpi; then
  apt_install "OpenMPI and libclang for the distributed tests" /tmp/nabla-mpi-install.log \
    --no-install-recommends openmpi-bin libopenmpi-dev libclang-dev
fi

# A one-off build needs no incremental caches (they would double the disk the build takes).
if [ "${CI:-}" = true ]; then export CARGO_INCREMENTAL=0; fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
# The library without the CLI and its UI crates (what a Rust DSL user builds).
cargo check -p nabla --no-default-features --lib
cargo test --workspace
# Distributed training over MPI (a build with the `mpi` feature; 2 and 3 ranks).
if have_mpi; then
  cargo clippy -p nabla --all-targets --features mpi -- -D warnings
  cargo test -p nabla --features mpi --test distributed
elif [ "${NABLA_REQUIRE_MPI:-}" = 1 ]; then
  echo "test.sh: OpenMPI is required (NABLA_REQUIRE_MPI=1) and could not be installed"
  exit 1
else
  echo "test.sh: no OpenMPI found: the distributed tests were SKIPPED"
  echo "         (install it with: apt-get install openmpi-bin libopenmpi-dev libclang-dev)"
fi
