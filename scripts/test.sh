#!/usr/bin/env bash
# Second command of the README: the whole test suite. It runs every CTest test
# of the Release build in build/; the matrix product's tests of a build
# without LIBXSMM in build-openblas/; then every one again, the examples'
# included (with smaller configurations), in build-asan/ under
# AddressSanitizer, LeakSanitizer and UBSan (a leaked graph fails there);
# then the thread tests (tests/test_threads*.cpp, CTest label "threads") in
# build-tsan/ under ThreadSanitizer; then fuzzes the file readers for a few
# seconds each (scripts/fuzz.sh). A ctest that finds no tests fails.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs="$(nproc)"

cmake -S . -B build -DCMAKE_BUILD_TYPE=Release
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure --no-tests=error -j "$jobs"

# The build without LIBXSMM (as on a machine without libxsmm-dev, or not
# x86-64): the library and the matrix product's tests, every product on
# OpenBLAS. Unoptimised, to compile fast.
cmake -S . -B build-openblas -DCMAKE_BUILD_TYPE=Debug -DXGRAD_USE_LIBXSMM=OFF \
  -DXGRAD_BUILD_BENCH=OFF -DXGRAD_BUILD_EXAMPLES=OFF
cmake --build build-openblas -j "$jobs" --target test_tensor
ctest --test-dir build-openblas --output-on-failure --no-tests=error -j "$jobs" -R '^(Gemm|Matmul|Threads|BlasCore)\.|^blas_core_warning$'

cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug \
  -DXGRAD_SANITIZE=address,undefined -DXGRAD_BUILD_BENCH=OFF -DXGRAD_BUILD_EXAMPLES=ON
cmake --build build-asan -j "$jobs"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
  ctest --test-dir build-asan --output-on-failure --no-tests=error -j "$jobs" -E '^install_and_consume$'

# ThreadSanitizer: only the executables of tests/test_threads*.cpp are built.
# OpenBLAS is not instrumented, so it must not start threads of its own
# (no suppressions are needed then).
thread_tests=()
for source in tests/test_threads*.cpp; do
  [ -e "$source" ] && thread_tests+=("$(basename "$source" .cpp)")
done
if ((${#thread_tests[@]} == 0)); then
  echo "test.sh: no tests/test_threads*.cpp for the ThreadSanitizer build" >&2
  exit 1
fi
cmake -S . -B build-tsan -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DXGRAD_SANITIZE=thread -DXGRAD_BUILD_BENCH=OFF -DXGRAD_BUILD_EXAMPLES=OFF
cmake --build build-tsan -j "$jobs" --target "${thread_tests[@]}"
OPENBLAS_NUM_THREADS=1 \
  TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1" \
  ctest --test-dir build-tsan --output-on-failure --no-tests=error -j "$jobs" -L '^threads$'

# A short fuzz run of each reader, from its seeds: a crash, leak or hang
# found since fails here.
./scripts/fuzz.sh 15
