// gemm_engines: one product shape through OpenBLAS alone (xgrad::gemm_openblas)
// and through a GemmKernel made once (LIBXSMM when the shape is one it takes
// and xgrad has it), interleaved, on the current thread count. The
// measurement behind blas.hpp's small_matrix_shape rule (bench/README.md).
//
// usage: xgrad_gemm_engines [--threads N] [nn|tn] M N K [[nn|tn] M N K ...]
//   nn: C[M, N] += A[M, K]·B[K, N];  tn: C += A^T·B with A stored [K, M].
// Prints one line per shape: the median µs per product of each engine over
// 15 rounds, and their ratio (LIBXSMM / OpenBLAS: below 1, LIBXSMM is faster).
// A shape LIBXSMM does not take is run through OpenBLAS on both sides.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <xgrad/tensor/blas.hpp>

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--threads N] [nn|tn] M N K [[nn|tn] M N K ...]\n", argv0);
  std::exit(2);
}

}  // namespace

int main(int argc, char** argv) {
  int i = 1;
  if (i + 1 < argc && std::string(argv[i]) == "--threads") {
    xgrad::set_num_threads(std::atoi(argv[i + 1]));
    i += 2;
  }
  if (i >= argc) usage(argv[0]);
  std::printf("OpenBLAS core %s, %d thread(s) at most; small-matrix engine %s\n", xgrad::blas_core().c_str(),
              xgrad::num_threads(), xgrad::small_matrix_engine().c_str());
  while (i < argc) {
    bool ta = false;
    const std::string first = argv[i];
    if (first == "nn" || first == "tn") {
      ta = first == "tn";
      ++i;
    }
    if (i + 3 > argc) usage(argv[0]);
    const std::size_t m = std::strtoul(argv[i], nullptr, 10), n = std::strtoul(argv[i + 1], nullptr, 10),
                      k = std::strtoul(argv[i + 2], nullptr, 10);
    i += 3;
    if (m == 0 || n == 0 || k == 0) usage(argv[0]);
    const std::size_t lda = ta ? m : k;
    std::vector<float> a(m * k, 0.01f), b(k * n, 0.02f), c(m * n, 0.0f);
    const xgrad::GemmKernel<float> kernel(ta, false, m, n, k, 1.0f, lda, n, 1.0f, n);
    const auto openblas = [&] {
      xgrad::gemm_openblas(ta, false, m, n, k, 1.0f, a.data(), lda, b.data(), n, 1.0f, c.data(), n);
    };
    const auto engine = [&] { kernel(a.data(), b.data(), c.data()); };
    const double multiply_adds = static_cast<double>(m) * static_cast<double>(n) * static_cast<double>(k);
    const int calls = static_cast<int>(std::max(1.0, 1.5e7 / (multiply_adds + 1000.0)));
    const auto per_call_us = [calls](const auto& f) {
      const auto t0 = Clock::now();
      for (int c = 0; c < calls; ++c) f();
      return std::chrono::duration<double, std::micro>(Clock::now() - t0).count() / calls;
    };
    per_call_us(openblas);  // warm-up, and the kernel's first call
    per_call_us(engine);
    std::vector<double> openblas_us, engine_us, ratios;
    for (int round = 0; round < 15; ++round) {
      openblas_us.push_back(per_call_us(openblas));
      engine_us.push_back(per_call_us(engine));
      ratios.push_back(engine_us.back() / openblas_us.back());
    }
    std::printf("%s %5zu x %5zu x %5zu  OpenBLAS %10.3f us  %s %10.3f us  ratio %.2f\n", ta ? "tn" : "nn", m, n,
                k, median(openblas_us), kernel.small_matrix_engine() ? "LIBXSMM " : "(OpenBLAS)", median(engine_us),
                median(ratios));
  }
  return 0;
}
