#!/usr/bin/env bash
# Second command of the README: the whole test suite. It runs every CTest test
# of the Release build in build/, the matrix product's tests of a build
# without LIBXSMM in build-openblas/, then every test again in build-asan/
# under AddressSanitizer, LeakSanitizer and UBSan (a leaked graph fails there),
# then fuzzes the file readers for a few seconds each (scripts/fuzz.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

# The build without LIBXSMM (as on a machine without libxsmm-dev, or not
# x86-64): the library and the matrix product's tests, every product on
# OpenBLAS. Unoptimised, to compile fast.
cmake -S . -B build-openblas -DCMAKE_BUILD_TYPE=Debug -DXGRAD_USE_LIBXSMM=OFF \
  -DXGRAD_BUILD_BENCH=OFF -DXGRAD_BUILD_EXAMPLES=OFF
cmake --build build-openblas -j "$jobs" --target test_tensor
ctest --test-dir build-openblas --output-on-failure -j "$jobs" -R '^(Gemm|Matmul|Threads|BlasCore)\.|^blas_core_warning$'

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DXGRAD_SANITIZE=address,undefined -DXGRAD_BUILD_BENCH=OFF -DXGRAD_BUILD_EXAMPLES=OFF
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure -j "$jobs" -E '^install_and_consume$'

# A short fuzz run of each reader as users call it, from its seeds in
# tests/data: a crash, leak or hang found since fails here. The in-process
# .weights.h5 target (keras_weights_trusted) is left to `scripts/fuzz.sh`:
# libhdf5 itself crashes and leaks on some malformed files, which is why
# untrusted files are read by the xgrad-h5-reader program.
./scripts/fuzz.sh 15 read_npy read_npz checkpoint keras_weights torch_weights
