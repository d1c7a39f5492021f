#!/usr/bin/env bash
# compare.sh: xgrad against libtorch 1.13 on the workloads of bench/README.md,
# for SimpleRNN, LSTM and GRU, side by side, as one Markdown table.
#
# Builds xgrad_bench and torch_reference (Release, option
# XGRAD_BENCH_LIBTORCH=ON) into build-compare/ at the top of the repository,
# then for each selected layer, workload, figure and thread count runs the two
# programs one right after the other, so that whatever else the machine is
# doing weighs on both alike. Each row also runs xgrad_bench --against limit:
# xgrad's figure interleaved with its gemm limit (only the BLAS calls of a
# fused train step, or of its forward pass for an inference row, through
# OpenBLAS alone) in one process, and reports the limit and the median of the
# per-round ratios; and xgrad_bench's gemm_limit_xsmm (inference_gemm_limit_xsmm):
# the same calls with the small ones through LIBXSMM, as xgrad makes them.
#
# The programs run in the caller's environment as it is: OPENBLAS_CORETYPE,
# OPENBLAS_NUM_THREADS and the like are the caller's to set. The table's
# heading names the OpenBLAS core that both programs report.
#
# usage: bench/compare.sh [--layer simple_rnn|lstm|gru] [--workload N|S|M|L|X]
#                         [--figure inference|train_step] [--threads 1|2]
#                         [--budget SECONDS]
# Without a flag every value of it runs (layers in that order, --budget the
# programs' default); --budget is passed to each program run.
# The table goes to stdout, progress to stderr. Needs bash, cmake, a C++
# compiler and Debian's libtorch-dev; JSON is read with sed and awk.

set -euo pipefail

usage() {
  sed -n 's/^# \{0,1\}//; /^usage:/,/^The table/p' "${BASH_SOURCE[0]}" | sed '$d' >&2
  exit "${1:-2}"
}

layers="simple_rnn lstm gru"
workloads="N S M L X"
figures="inference train_step"
threads_list="1 2"
budget=()
while (($#)); do
  flag=$1 value=
  case $flag in
    -h | --help) usage 0 ;;
    --*=*) value=${flag#*=} flag=${flag%%=*} ;;
    --layer | --workload | --figure | --threads | --budget)
      (($# >= 2)) || { echo "compare.sh: missing value for $flag" >&2; usage; }
      value=$2
      shift ;;
    *) echo "compare.sh: unknown argument '$flag'" >&2; usage ;;
  esac
  shift
  case $flag in
    --layer) case $value in
               simple_rnn | lstm | gru) layers=$value ;;
               *) echo "compare.sh: unknown layer '$value'" >&2; usage ;;
             esac ;;
    --workload) [[ $value =~ ^[NSMLX]$ ]] || { echo "compare.sh: unknown workload '$value'" >&2; usage; }
                workloads=$value ;;
    --figure) case $value in
                inference | train_step) figures=$value ;;
                gemm_limit | inference_gemm_limit | gemm_limit_xsmm | inference_gemm_limit_xsmm)
                  echo "compare.sh: the gemm limits are measured with every row" >&2; usage ;;
                *) echo "compare.sh: unknown figure '$value'" >&2; usage ;;
              esac ;;
    --threads) [[ $value =~ ^[12]$ ]] || { echo "compare.sh: --threads must be 1 or 2" >&2; usage; }
               threads_list=$value ;;
    --budget) budget=(--budget "$value") ;;  # the programs check it
    *) echo "compare.sh: unknown flag '$flag'" >&2; usage ;;
  esac
done

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=$root/build-compare

# ---------------------------------------------------------------- build

if ! dpkg-query -W -f='${Status}' libtorch-dev 2>/dev/null | grep -q 'install ok installed'; then
  echo "compare.sh: libtorch-dev (libtorch 1.13, the reference) is not installed." >&2
  if ((EUID == 0)); then
    echo "compare.sh: installing it: apt-get install -y libtorch-dev" >&2
    apt-get install -y libtorch-dev >&2 || { apt-get update >&2 && apt-get install -y libtorch-dev >&2; }
  else
    echo "compare.sh: install it as root with: apt-get install libtorch-dev" >&2
    exit 1
  fi
fi

echo "compare.sh: building xgrad_bench and torch_reference in $build ..." >&2
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DXGRAD_BENCH_LIBTORCH=ON >&2
cmake --build "$build" --target xgrad_bench torch_reference -j2 >&2
xgrad_bench=$build/bench/xgrad_bench
torch_reference=$build/bench/torch_reference

# ---------------------------------------------------------------- measure

logs=$(mktemp -d)
trap 'rm -rf "$logs"' EXIT

# field KEY LINE: the value of "KEY" in one JSON line of the programs.
field() {
  printf '%s\n' "$2" | sed -n "s/.*\"$1\":\"\{0,1\}\([^,\"}]*\).*/\1/p"
}
# ratio A B: A / B to two decimals, or "–" when either is missing.
ratio() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    if (a == "" || b == "" || b + 0 == 0) print "–"; else printf "%.2f\n", a / b }'
}
or_dash() { printf '%s\n' "${1:-–}"; }

# measure PROGRAM LAYER WORKLOAD FIGURE THREADS [FLAG...]: prints its JSON
# line, or fails.
measure() {
  local name line
  name=$(basename "$1")
  echo "compare.sh: $name $2 $3 $4 threads=$5 ${*:6}..." >&2
  if line=$("$1" --layer "$2" --workload "$3" --figure "$4" --threads "$5" "${budget[@]}" "${@:6}" \
              2>>"$logs/$name.err"); then
    printf '%s\n' "$line"
  else
    echo "compare.sh: $name failed on $2 $3 $4 threads=$5; its messages:" >&2
    tail -n 5 "$logs/$name.err" >&2
    return 1
  fi
}

rows=()
failures=0
for layer in $layers; do
  for w in $workloads; do
    for f in $figures; do
      for t in $threads_list; do
        x=$(measure "$xgrad_bench" "$layer" "$w" "$f" "$t") || failures=$((failures + 1))
        l=$(measure "$torch_reference" "$layer" "$w" "$f" "$t") || failures=$((failures + 1))
        g=$(measure "$xgrad_bench" "$layer" "$w" "$f" "$t" --against limit) || failures=$((failures + 1))
        limit_xsmm_figure=gemm_limit_xsmm
        [[ $f == inference ]] && limit_xsmm_figure=inference_gemm_limit_xsmm
        xs=$(measure "$xgrad_bench" "$layer" "$w" "$limit_xsmm_figure" "$t") || failures=$((failures + 1))
        limit=$(field against_median_us "$g")
        over_limit=$(field median_ratio "$g")
        rows+=("| $layer | $w | $f | $t | $(or_dash "$(field median_us "$x")") \
| $(or_dash "$(field median_us "$l")") | $(ratio "$(field median_us "$l")" "$(field median_us "$x")") \
| $(or_dash "$(field peak_rss_mib "$x")") | $(or_dash "$(field peak_rss_mib "$l")") | $(or_dash "$limit") \
| $(or_dash "$over_limit") | $(or_dash "$(field median_us "$xs")") |")
      done
    done
  done
done

# ---------------------------------------------------------------- table

# Each program's first line on stderr: "NAME: OpenBLAS <config>, core <name>".
core_of() { sed -n 's/^[a-z_]*: OpenBLAS .*, core \(.*\)$/\1/p' "$logs/$1.err" | head -n 1; }
config=$(sed -n 's/^xgrad_bench: \(OpenBLAS .*\), core .*$/\1/p' "$logs/xgrad_bench.err" | head -n 1)
core=$(core_of xgrad_bench) torch_core=$(core_of torch_reference)
[[ $core == "$torch_core" ]] || core="$core (xgrad_bench), $torch_core (torch_reference)"
openblas_env=$(env | grep '^OPENBLAS' | paste -sd ' ' - || true)
engine=$(field small_matrix_engine "${x:-}")

echo "## xgrad vs libtorch 1.13 — OpenBLAS core ${core:-unknown}"
echo
echo "${config:-OpenBLAS (configuration not reported)}; OPENBLAS environment: ${openblas_env:-none}; $(nproc) CPUs."
echo "Medians in µs; libtorch/xgrad above 1 means xgrad is faster. gemm_limit: xgrad_bench's BLAS calls"
echo "of the layer's fused train step (train_step rows) or of its forward pass (inference rows) alone,"
echo "through OpenBLAS alone; xgrad/limit: the median ratio of xgrad's figure to it, timed interleaved"
echo "(--against limit); gemm_limit_xsmm: the same calls as xgrad makes them (small ones through LIBXSMM)."
echo "Small-matrix engine: ${engine:-not reported}."
echo
echo "| layer | workload | figure | threads | xgrad median µs | libtorch median µs | libtorch/xgrad | xgrad peak MiB | libtorch peak MiB | gemm_limit µs | xgrad/limit | gemm_limit_xsmm µs |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
printf '%s\n' "${rows[@]}"

if ((failures > 0)); then
  echo "compare.sh: $failures measurement(s) failed" >&2
  exit 1
fi
