#include "xgrad/tensor/blas.hpp"

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <climits>
#include <cstdio>
#include <mutex>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include <cblas.h>
#if XGRAD_HAVE_LIBXSMM
#include <libxsmm.h>
#endif

namespace xgrad {

namespace {
CBLAS_TRANSPOSE op(bool transpose) { return transpose ? CblasTrans : CblasNoTrans; }
blasint as_blas(std::size_t n) { return static_cast<blasint>(n); }

// ---------------------------------------------------------------- the BLAS core

struct CpuVectors {
  bool avx2 = false, avx512 = false;
};

CpuVectors cpu_vectors() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return {__builtin_cpu_supports("avx2") != 0, __builtin_cpu_supports("avx512f") != 0};
#else
  return {};
#endif
}

bool same_name(const std::string& a, const char* b) {
  const std::string other(b);
  return a.size() == other.size() &&
         std::equal(a.begin(), a.end(), other.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// ---------------------------------------------------------------- threads

// Below either bound a second thread costs more than it brings (blas.hpp).
constexpr std::size_t kThreadedMinDimension = 64;
constexpr std::size_t kThreadedMinMultiplyAdds = std::size_t(1) << 20;

// OpenBLAS's own thread count, read once, before xgrad's first product can
// change OpenBLAS's setting (a small product sets it to 1; read after that,
// it pinned every later large product to one thread). The core warning is
// printed at the same moment.
int startup_threads() {
  static const int threads = [] {
    const CpuVectors cpu = cpu_vectors();
    const std::string warning = blas_core_warning(blas_core(), cpu.avx2, cpu.avx512);
    if (!warning.empty()) std::fprintf(stderr, "%s\n", warning.c_str());
    return openblas_get_num_threads();
  }();
  return threads;
}

// The most threads a product may use (0: OpenBLAS's startup count), and
// what OpenBLAS is set to now (0: not set by xgrad yet); the latter changes
// only when a product needs another count, so a run of same-sized products
// makes no calls into OpenBLAS.
std::atomic<int> max_threads{0};
std::atomic<int> openblas_threads{0};

int current_max_threads() {
  const int n = max_threads.load(std::memory_order_relaxed);
  return n != 0 ? n : startup_threads();
}

// A plain load first: an exchange at every product is a locked instruction
// that waits for the caller's pending stores (10% of a B = 1 GRU step).
void use_threads_for(std::size_t m, std::size_t n, std::size_t k) {
  const int wanted = gemm_threads(m, n, k);
  if (openblas_threads.load(std::memory_order_relaxed) == wanted) return;
  openblas_threads.store(wanted, std::memory_order_relaxed);
  openblas_set_num_threads(wanted);
}

// ---------------------------------------------------------------- OpenBLAS

// OpenBLAS 0.3.21 (SkylakeX kernels) computes a small A·B^T 3x slower than
// A·B: [32, 32]·[32, 32]^T took 1.5-2.4 µs, the same with B transposed
// beforehand 0.45 µs. Such a product, with rows enough in A to pay for the
// copy, runs as A·(B^T) with B^T written into a buffer of the thread's own.
constexpr std::size_t kTransposeFirstMinRows = 8;

bool transpose_b_first(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n,
                       std::size_t k) {
  return !transpose_a && transpose_b && m >= kTransposeFirstMinRows &&
         m * n * k < kThreadedMinMultiplyAdds;
}

// B^T of the [n, k] matrix b (leading dimension ldb), as [k, n] rows.
template <typename T>
const T* transposed_into_scratch(const T* b, std::size_t ldb, std::size_t n, std::size_t k) {
  thread_local std::vector<T> scratch;
  scratch.resize(n * k);
  transpose_matrix(b, n, k, ldb, scratch.data(), n);
  return scratch.data();
}

void blas_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, float alpha,
               const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
               std::size_t ldc) {
  cblas_sgemm(CblasRowMajor, op(ta), op(tb), as_blas(m), as_blas(n), as_blas(k), alpha, a,
              as_blas(lda), b, as_blas(ldb), beta, c, as_blas(ldc));
}
void blas_gemm(bool ta, bool tb, std::size_t m, std::size_t n, std::size_t k, double alpha,
               const double* a, std::size_t lda, const double* b, std::size_t ldb, double beta,
               double* c, std::size_t ldc) {
  cblas_dgemm(CblasRowMajor, op(ta), op(tb), as_blas(m), as_blas(n), as_blas(k), alpha, a,
              as_blas(lda), b, as_blas(ldb), beta, c, as_blas(ldc));
}

// C = beta * C: the product of an empty sum (k = 0). beta 0 writes zeros
// without reading C, as BLAS does.
template <typename T>
void scale_rows(T beta, T* c, std::size_t m, std::size_t n, std::size_t ldc) {
  if (beta == T(1)) return;
  for (std::size_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) std::fill_n(row, n, T(0));
    else for (std::size_t j = 0; j < n; ++j) row[j] *= beta;
  }
}

// ---------------------------------------------------------------- LIBXSMM

// Measured on one core (bench/README.md, "The small-matrix engine's
// threshold"): LIBXSMM's unpacked kernels beat OpenBLAS up to [64, 512]·[512,
// 2048] (0.78x its time) and on [4096, 8]·[8, 512] (0.77x), lose from
// [256, 1024]·[1024, 1024] (1.46x), on sums of thousands of terms
// ([256, 6400]·[6400, 2048]: 4.6x) and on outputs beyond 2^21 elements
// ([10000, 8]·[8, 512]: 10x). With several OpenBLAS threads, OpenBLAS wins
// earlier ([64, 512]·[512, 512]: 284 µs on two threads, 300 in LIBXSMM).
//
// Those bounds hold for LIBXSMM's AVX-512 kernels (measured on an AMD EPYC
// with AVX-512, LIBXSMM's cpx kernels against OpenBLAS's Cooperlake). Its AVX2
// kernels (a Zen 3 core, hsw against OpenBLAS's Zen) win only up to 2^21
// multiply-adds ([128, 128]·[128, 128]: 0.88x OpenBLAS's time) and lose from
// [64, 128]·[128, 384] (1.03-1.10x), [64, 512]·[512, 512] (1.63x) and on the
// pieces of long sums ([128, 6400]^T·[6400, 128] in sums of 512 terms:
// 1.35x); against OpenBLAS on two threads they lose from the smallest product
// gemm_threads gives two threads ([64, 128]·[128, 128]: 1.3x). Short sums
// stay theirs at any size within the output bound: [6400, 128]·[128, 32]
// 0.68-0.74x, [10000, 128]·[128, 8] 0.76x, and against two OpenBLAS threads
// too. So narrower kernels get smaller bounds (bench/README.md, "The
// small-matrix engine on AVX2").
constexpr std::size_t kSmallMaxInner = 1024;
constexpr std::size_t kSmallMaxOutput = std::size_t(1) << 21;
struct SmallBounds {
  std::size_t multiply_adds_one_thread, multiply_adds_threaded;
  std::size_t short_sum;  // sums of at most this many terms: small at any count of multiply-adds
};
constexpr SmallBounds kSmallBoundsAvx512 = {std::size_t(1) << 26, std::size_t(1) << 22, 0};
constexpr SmallBounds kSmallBoundsNarrower = {std::size_t(1) << 21, 0, 32};

// Products beyond LIBXSMM's sizes only by a long sum (a weight gradient
// summed over a sequence's B·T rows) or a tall output (the input projection
// of every timestep) run as pieces LIBXSMM takes: sums of at most
// kSplitInner terms accumulating into C, bands of rows of at most
// kSplitOutput elements. On one core that took 0.72x OpenBLAS's time for
// [128, 6400]^T·[6400, 512] (an LSTM's d recurrent kernel at workload M),
// 0.83x for [6400, 64]·[64, 512] and 0.71x for [20000, 8]·[8, 128]
// (bench/README.md, "Products in pieces").
constexpr std::size_t kSplitInner = 512;
constexpr std::size_t kSplitOutput = std::size_t(1) << 17;

template <typename T>
using SmallKernel = typename GemmKernel<T>::SmallKernel;

// Whether LIBXSMM 1.17 can take the product at all: C = op(A)·B + beta C
// with alpha 1, beta 0 or 1 (its JIT has no transposed A in column-major
// terms, our B^T), sizes and strides within its int.
template <typename T>
bool small_eligible(bool transpose_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                    std::size_t lda, std::size_t ldb, std::size_t ldc, T beta) {
#if XGRAD_HAVE_LIBXSMM
  const auto fits = [](std::size_t v) { return v <= static_cast<std::size_t>(INT_MAX); };
  return !transpose_b && alpha == T(1) && (beta == T(0) || beta == T(1)) && m > 0 && n > 0 &&
         k > 0 && fits(lda) && fits(ldb) && fits(ldc) && small_matrix_shape(m, n, k);
#else
  (void)transpose_b, (void)m, (void)n, (void)k, (void)alpha, (void)lda, (void)ldb, (void)ldc, (void)beta;
  return false;
#endif
}

// LIBXSMM's kernel for an eligible product, or null when it cannot make one
// (a CPU its JIT does not cover). Row-major C = op(A)·B is column-major
// C^T = B^T·op(A)^T: its A is our B, its B our A (transposed when ours is).
template <typename T>
SmallKernel<T> dispatch_small(bool transpose_a, std::size_t m, std::size_t n, std::size_t k,
                              std::size_t lda, std::size_t ldb, std::size_t ldc, bool beta_zero) {
#if XGRAD_HAVE_LIBXSMM
  const auto i = [](std::size_t v) { return static_cast<libxsmm_blasint>(v); };
  const libxsmm_blasint ld_a = i(ldb), ld_b = i(lda), ld_c = i(ldc);
  const int flags = (transpose_a ? LIBXSMM_GEMM_FLAG_TRANS_B : 0) | (beta_zero ? LIBXSMM_GEMM_FLAG_BETA_0 : 0);
  const T alpha = 1, beta = beta_zero ? 0 : 1;
  if constexpr (std::is_same_v<T, float>) {
    static_assert(std::is_same_v<SmallKernel<T>, libxsmm_smmfunction>);
    return libxsmm_smmdispatch(i(n), i(m), i(k), &ld_a, &ld_b, &ld_c, &alpha, &beta, &flags, nullptr);
  } else {
    static_assert(std::is_same_v<SmallKernel<T>, libxsmm_dmmfunction>);
    return libxsmm_dmmdispatch(i(n), i(m), i(k), &ld_a, &ld_b, &ld_c, &alpha, &beta, &flags, nullptr);
  }
#else
  (void)transpose_a, (void)m, (void)n, (void)k, (void)lda, (void)ldb, (void)ldc, (void)beta_zero;
  return nullptr;
#endif
}

// gemm()'s and GemmKernel's kernels, per thread (no lock): the recurrent
// engine makes its GemmKernels anew at every call, and their lookups in
// LIBXSMM's registry were 5% of workload N's train step (callgrind). 64
// slots addressed by a hash of the shape, a new shape replacing the slot's
// old one. LIBXSMM keeps every kernel it generated, so a replaced shape
// costs a registry lookup (about 20 ns measured), not a new kernel.
template <typename T>
class SmallKernelCache {
 public:
  SmallKernel<T> get(bool transpose_a, std::size_t m, std::size_t n, std::size_t k,
                     std::size_t lda, std::size_t ldb, std::size_t ldc, bool beta_zero) {
    const std::size_t flags = (transpose_a ? 1 : 0) | (beta_zero ? 2 : 0);
    const std::array<std::size_t, 7> key = {m, n, k, lda, ldb, ldc, flags};
    std::size_t hash = 0;
    for (std::size_t v : key) hash = (hash ^ v) * 0x9E3779B97F4A7C15ull;
    Slot& slot = slots_[(hash >> 58) % kSlots];
    if (!slot.filled || slot.key != key) {
      slot.key = key;
      slot.kernel = dispatch_small<T>(transpose_a, m, n, k, lda, ldb, ldc, beta_zero);
      slot.filled = true;
    }
    return slot.kernel;
  }

 private:
  static constexpr std::size_t kSlots = 64;
  struct Slot {
    std::array<std::size_t, 7> key{};
    SmallKernel<T> kernel = nullptr;
    bool filled = false;
  };
  std::array<Slot, kSlots> slots_{};
};

template <typename T>
SmallKernel<T> cached_small_kernel(bool transpose_a, std::size_t m, std::size_t n, std::size_t k,
                                   std::size_t lda, std::size_t ldb, std::size_t ldc, bool beta_zero) {
  thread_local SmallKernelCache<T> cache;
  return cache.get(transpose_a, m, n, k, lda, ldb, ldc, beta_zero);
}

// C = beta C + op(A)·B as pieces (above), each a LIBXSMM kernel, or
// OpenBLAS for a piece LIBXSMM cannot make; false, nothing done, when the
// pieces would not be small products either.
template <typename T>
bool run_in_pieces(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                   const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
  const auto even_pieces = [](std::size_t total, std::size_t most) {
    const std::size_t pieces = (total + most - 1) / most;
    return (total + pieces - 1) / pieces;
  };
  const std::size_t band = m * n > kSmallMaxOutput ? even_pieces(m, std::max<std::size_t>(1, kSplitOutput / n)) : m;
  const std::size_t piece = k > kSmallMaxInner ? even_pieces(k, kSplitInner) : k;
  if ((band == m && piece == k) || !small_eligible(transpose_b, band, n, piece, alpha, lda, ldb, ldc, beta))
    return false;
  // Where row i of op(A) and term j of the sum are in A as stored.
  const std::size_t a_row = transpose_a ? 1 : lda, a_term = transpose_a ? lda : 1;
  for (std::size_t row = 0; row < m; row += band) {
    const std::size_t rows = std::min(band, m - row);
    for (std::size_t first = 0; first < k; first += piece) {
      const std::size_t terms = std::min(piece, k - first);
      const T piece_beta = first == 0 ? beta : T(1);
      const T* piece_a = a + row * a_row + first * a_term;
      const T* piece_b = b + first * ldb;
      T* piece_c = c + row * ldc;
      if (const SmallKernel<T> kernel =
              cached_small_kernel<T>(transpose_a, rows, n, terms, lda, ldb, ldc, piece_beta == T(0))) {
        kernel(piece_b, piece_a, piece_c);
      } else {
        use_threads_for(rows, n, terms);
        blas_gemm(transpose_a, false, rows, n, terms, alpha, piece_a, lda, piece_b, ldb, piece_beta, piece_c, ldc);
      }
    }
  }
  return true;
}

// gemm (allow_small) and gemm_openblas (not).
template <typename T>
void gemm_with(bool allow_small, bool transpose_a, bool transpose_b, std::size_t m, std::size_t n,
               std::size_t k, T alpha, const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta,
               T* c, std::size_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) return scale_rows(beta, c, m, n, ldc);
  if (transpose_b_first(transpose_a, transpose_b, m, n, k)) {
    b = transposed_into_scratch(b, ldb, n, k);
    transpose_b = false;
    ldb = n;
  }
  if (allow_small && small_eligible(transpose_b, m, n, k, alpha, lda, ldb, ldc, beta)) {
    if (const SmallKernel<T> kernel =
            cached_small_kernel<T>(transpose_a, m, n, k, lda, ldb, ldc, beta == T(0))) {
      kernel(b, a, c);
      return;
    }
  }
  if (allow_small && run_in_pieces(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc))
    return;
  use_threads_for(m, n, k);
  blas_gemm(transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
}  // namespace

bool gemm_transposes_b_first(std::size_t m, std::size_t n, std::size_t k) {
  return transpose_b_first(false, true, m, n, k);
}

std::string blas_core() { return openblas_get_corename(); }

std::string blas_core_warning(const std::string& core, bool cpu_has_avx2, bool cpu_has_avx512) {
  if (!cpu_has_avx2 && !cpu_has_avx512) return "";
  // OpenBLAS 0.3.21's x86-64 cores with AVX2 kernels; any other on such a
  // CPU means OpenBLAS did not recognise it.
  for (const char* vector_core : {"Haswell", "Zen", "SkylakeX", "Cooperlake", "SapphireRapids", "Excavator"})
    if (same_name(core, vector_core)) return "";
  const char* fix = cpu_has_avx512 ? "SkylakeX" : "Haswell";
  return "xgrad: warning: OpenBLAS runs its generic '" + core + "' kernels on this CPU, which has " +
         (cpu_has_avx512 ? "AVX-512" : "AVX2") +
         ": OpenBLAS does not recognise the CPU, and matrix products run several times slower "
         "(sgemm 3.6x on a 2023 Xeon). Set OPENBLAS_CORETYPE=" + fix +
         " in the environment before starting the program.";
}

void transpose_matrix(const float* a, std::size_t rows, std::size_t cols, std::size_t lda,
                      float* out, std::size_t ldo) {
  if (rows == 0 || cols == 0) return;
  cblas_somatcopy(CblasRowMajor, CblasTrans, as_blas(rows), as_blas(cols), 1.0f, a, as_blas(lda),
                  out, as_blas(ldo));
}

void transpose_matrix(const double* a, std::size_t rows, std::size_t cols, std::size_t lda,
                      double* out, std::size_t ldo) {
  if (rows == 0 || cols == 0) return;
  cblas_domatcopy(CblasRowMajor, CblasTrans, as_blas(rows), as_blas(cols), 1.0, a, as_blas(lda),
                  out, as_blas(ldo));
}

int gemm_threads(std::size_t m, std::size_t n, std::size_t k) {
  // The most first, on every product: that reads OpenBLAS's startup count
  // before the first product changes it.
  const int most = current_max_threads();
  const bool large = m >= kThreadedMinDimension && n >= kThreadedMinDimension &&
                     m * n * k >= kThreadedMinMultiplyAdds;
  return large ? most : 1;
}

SmallMatrixKernels small_matrix_kernels() {
#if XGRAD_HAVE_LIBXSMM
  // LIBXSMM's JIT target: the CPU's, or LIBXSMM_TARGET's when set.
  static const SmallMatrixKernels kernels =
      libxsmm_get_target_archid() >= LIBXSMM_X86_AVX512 ? SmallMatrixKernels::avx512 : SmallMatrixKernels::narrower;
  return kernels;
#else
  return SmallMatrixKernels::narrower;
#endif
}

bool small_matrix_shape(std::size_t m, std::size_t n, std::size_t k, SmallMatrixKernels kernels) {
  if (k > kSmallMaxInner || m * n > kSmallMaxOutput) return false;
  const SmallBounds most = kernels == SmallMatrixKernels::avx512 ? kSmallBoundsAvx512 : kSmallBoundsNarrower;
  if (k <= most.short_sum) return true;
  return m * n * k <= (gemm_threads(m, n, k) > 1 ? most.multiply_adds_threaded : most.multiply_adds_one_thread);
}

bool small_matrix_shape(std::size_t m, std::size_t n, std::size_t k) {
  return small_matrix_shape(m, n, k, small_matrix_kernels());
}

std::string small_matrix_engine() {
#if XGRAD_HAVE_LIBXSMM
  return std::string("LIBXSMM ") + LIBXSMM_CONFIG_VERSION + " (" + libxsmm_get_target_arch() + ")";
#else
  return "none";
#endif
}

void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta,
          float* c, std::size_t ldc) {
  gemm_with(true, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
          double alpha, const double* a, std::size_t lda, const double* b, std::size_t ldb,
          double beta, double* c, std::size_t ldc) {
  gemm_with(true, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_openblas(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
                   float alpha, const float* a, std::size_t lda, const float* b, std::size_t ldb,
                   float beta, float* c, std::size_t ldc) {
  gemm_with(false, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_openblas(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n, std::size_t k,
                   double alpha, const double* a, std::size_t lda, const double* b,
                   std::size_t ldb, double beta, double* c, std::size_t ldc) {
  gemm_with(false, transpose_a, transpose_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <typename T>
GemmKernel<T>::GemmKernel(bool transpose_a, bool transpose_b, std::size_t m, std::size_t n,
                          std::size_t k, T alpha, std::size_t lda, std::size_t ldb, T beta,
                          std::size_t ldc)
    : transpose_a_(transpose_a), transpose_b_(transpose_b), m_(m), n_(n), k_(k), lda_(lda),
      ldb_(ldb), ldc_(ldc), alpha_(alpha), beta_(beta) {
  if (small_eligible(transpose_b, m, n, k, alpha, lda, ldb, ldc, beta))
    small_ = cached_small_kernel<T>(transpose_a, m, n, k, lda, ldb, ldc, beta == T(0));
}

template <typename T>
void GemmKernel<T>::run_general(const T* a, const T* b, T* c) const {
  gemm(transpose_a_, transpose_b_, m_, n_, k_, alpha_, a, lda_, b, ldb_, beta_, c, ldc_);
}

template <typename T>
typename Array<T>::shape_type matmul_shape(const Array<T>& a, const Array<T>& b) {
  if (a.dimension() < 1 || b.dimension() != 2 || a.shape().back() != b.shape()[0]) {
    throw std::invalid_argument(
        "matmul: expected a [..., K] and b [K, N], got " + shape_to_string(a.shape()) +
        " and " + shape_to_string(b.shape()));
  }
  typename Array<T>::shape_type out_shape = a.shape();  // held inline: no heap allocation per product
  out_shape.back() = b.shape()[1];
  return out_shape;
}

template <typename T>
void matmul_into(const Array<T>& a, const Array<T>& b, Array<T>& out) {
  const std::size_t k = b.shape()[0];
  const std::size_t n = b.shape()[1];
  const std::size_t m = n == 0 ? 0 : out.size() / n;
  // beta = 0 makes the product write every element without reading it (and
  // an empty sum, k = 0, writes zeros).
  gemm(false, false, m, n, k, T(1), a.data(), k, b.data(), n, T(0), out.data(), n);
}

template <typename T>
Array<T> matmul(const Array<T>& a, const Array<T>& b) {
  Array<T> out = Array<T>::from_shape(matmul_shape(a, b));
  matmul_into(a, b, out);
  return out;
}

void set_num_threads(int threads) {
  if (threads < 1) {
    throw std::invalid_argument("set_num_threads: need at least 1 thread, got " +
                                std::to_string(threads));
  }
  startup_threads();  // the startup count and the core warning, before the change
  max_threads.store(threads, std::memory_order_relaxed);
  openblas_threads.store(threads, std::memory_order_relaxed);
  openblas_set_num_threads(threads);
}

int num_threads() { return current_max_threads(); }

template class GemmKernel<float>;
template class GemmKernel<double>;
#define XGRAD_INSTANTIATE_MATMUL(T)                                                   \
  template Array<T> matmul(const Array<T>&, const Array<T>&);                        \
  template typename Array<T>::shape_type matmul_shape(const Array<T>&, const Array<T>&); \
  template void matmul_into(const Array<T>&, const Array<T>&, Array<T>&);
XGRAD_INSTANTIATE_MATMUL(float)
XGRAD_INSTANTIATE_MATMUL(double)
#undef XGRAD_INSTANTIATE_MATMUL

}  // namespace xgrad
