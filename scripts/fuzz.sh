#!/usr/bin/env bash
# Fuzzes xgrad's file readers with libFuzzer under AddressSanitizer,
# LeakSanitizer and UBSan:
#
#   scripts/fuzz.sh SECONDS [TARGET...] [-LIBFUZZER_FLAG...]
#
# TARGETs (default: all): read_npy read_npz checkpoint keras_weights
# torch_weights, the programs in fuzz/. Arguments starting with '-' go to
# every target (e.g. -fork=1 -ignore_crashes=1 to collect more than the
# first finding). Builds them with clang++-14 in
# build-fuzz/ (the library at -O1, instrumented), then runs each for SECONDS
# from a seed corpus copied out of tests/data. Exits non-zero if any target
# crashed, leaked, hung (-timeout) or ran out of memory (-rss_limit_mb), and
# names the target and the file that reproduces it (run the target on that
# file to see it again: build-fuzz/fuzz/fuzz_<target> FILE).
set -euo pipefail
cd "$(dirname "$0")/.."

usage="usage: scripts/fuzz.sh SECONDS [read_npy|read_npz|checkpoint|keras_weights|keras_weights_trusted|torch_weights ...] [-FLAG ...]"
if [[ $# -lt 1 || ! "$1" =~ ^[1-9][0-9]*$ ]]; then
  echo "$usage" >&2
  exit 2
fi
seconds="$1"
shift
all_targets=(read_npy read_npz checkpoint keras_weights keras_weights_trusted torch_weights)
targets=()
flags=()
for arg in "$@"; do
  if [[ "$arg" == -* ]]; then flags+=("$arg"); else targets+=("$arg"); fi
done
if ((${#targets[@]} == 0)); then targets=("${all_targets[@]}"); fi

# The seeds of each target: the files of tests/data it reads, and the
# regression files of its earlier findings (tests/data/fuzz_<target>_*).
seeds_of() {
  case "$1" in
    read_npy) echo tests/data/*.npy ;;
    read_npz) echo tests/data/*.npz ;;
    checkpoint) echo tests/data/keras_*.npz tests/data/weights_savez*.npz ;;
    keras_weights) echo tests/data/*.weights.h5 ;;
    keras_weights_trusted) echo fuzz/seeds/keras_weights_trusted/*.txt ;;  # descriptions, not .h5 files
    torch_weights) echo tests/data/torch_*.npz ;;
    *) echo "fuzz.sh: unknown target '$1'" >&2; echo "$usage" >&2; exit 2 ;;
  esac
  compgen -G "tests/data/fuzz_$1_*" || true
}
for target in "${targets[@]}"; do seeds_of "$target" > /dev/null; done

if ! command -v clang++-14 > /dev/null; then
  echo "fuzz.sh: clang++-14 not found; on Debian: apt-get install clang-14 libfuzzer-14-dev" >&2
  exit 2
fi
cmake -S . -B build-fuzz -DCMAKE_CXX_COMPILER=clang++-14 -DCMAKE_BUILD_TYPE=Debug \
  "-DCMAKE_CXX_FLAGS_DEBUG=-O1 -gline-tables-only" -DXGRAD_SANITIZE=address,undefined \
  -DXGRAD_BUILD_FUZZERS=ON -DXGRAD_BUILD_TESTS=OFF -DXGRAD_BUILD_EXAMPLES=OFF -DXGRAD_BUILD_BENCH=OFF \
  > /dev/null
cmake --build build-fuzz -j "$(nproc)" --target $(printf 'fuzz_%s ' "${targets[@]}")

export ASAN_OPTIONS=detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
failed=()
for target in "${targets[@]}"; do
  # Everything of one run in one scratch directory, replaced by the next run.
  run="build-fuzz/fuzz-runs/$target"
  rm -rf "$run"
  mkdir -p "$run/corpus" "$run/tmp"
  cp $(seeds_of "$target" | tr " " "\n" | sort -u) "$run/corpus/"
  status=0
  TMPDIR="$PWD/$run/tmp" "build-fuzz/fuzz/fuzz_$target" "$run/corpus" \
    -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$run/" ${flags[@]+"${flags[@]}"} > "$run/log" 2>&1 || status=$?
  findings=$(compgen -G "$run/crash-*"; compgen -G "$run/leak-*"; compgen -G "$run/timeout-*"; compgen -G "$run/oom-*") || true
  if ((status != 0)) || [[ -n "$findings" ]]; then
    failed+=("$target")
    echo "fuzz.sh: $target FAILED (exit $status); its log: $run/log"
    grep -E '^(==[0-9]+==ERROR|SUMMARY|fuzz target check failed|.*deadly signal|.*uncaught exception)' "$run/log" | head -5 || true
    for file in $findings; do echo "fuzz.sh: $target: reproducer $file"; done
  else
    echo "fuzz.sh: $target: $(grep -Eo 'Done [0-9]+ runs in [0-9]+ second\(s\)' "$run/log" || echo 'ran'), no findings"
  fi
done
if ((${#failed[@]})); then
  echo "fuzz.sh: findings in: ${failed[*]}" >&2
  exit 1
fi
