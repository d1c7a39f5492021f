#!/usr/bin/env bash
# First command of the README: installs the Debian packages xgrad needs (only
# those missing), builds xgrad in Release into build/, and runs the notebook twin.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ cmake make pkg-config
          xtensor-dev libxsimd-dev libxtensor-blas-dev libopenblas-dev libzip-dev libhdf5-dev
          libgtest-dev libbenchmark-dev python3-numpy python3-h5py
          libopenmpi-dev openmpi-bin
          clang-14 libfuzzer-14-dev zlib1g-dev)  # scripts/fuzz.sh, which test.sh runs
# LIBXSMM generates x86 code: the small products' engine on x86-64 only.
if [ "$(dpkg --print-architecture)" = amd64 ]; then packages+=(libxsmm-dev); fi

missing=()
for package in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  if [ "$(id -u)" -ne 0 ]; then sudo_cmd=(sudo); fi
  "${sudo_cmd[@]}" apt-get update
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y --no-install-recommends "${missing[@]}"
else
  echo "setup: all Debian packages present"
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$(nproc)"
./build/examples/notebook
