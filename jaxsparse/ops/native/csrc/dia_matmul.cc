// DIA times dense as shifted multiply-adds over contiguous slices: no index arrays, so
// 8 bytes per float64 nonzero instead of CSR's 12. data is (n_diags, n_cols) with
// data[d, j] = A[j - offsets[d], j] (SciPy's layout); columns >= width are padding.
//   A @ b:   out[i] += data[d, i + o] * b[i + o]   for 0 <= i < n, 0 <= i + o < width
//   A.T @ b: out[j] += data[d, j] * b[j - o]       for j < width, 0 <= j - o < n
// Output rows are split into blocks over threads; within a row the diagonals are summed
// in storage order, so the split never changes a result. jnp twin: ops DIA reference.
#include <algorithm>

#include "common.h"

namespace jaxsparse {
namespace {

inline constexpr int64_t kDiaBlock = 2048;  // output rows per block: stays in L1/L2

// out[i] += row[i + jshift] * b[i + sshift] for i in [lo, hi), k columns of b.
template <typename V>
void ShiftedProduct(const V* __restrict row, const V* __restrict b, V* __restrict out,
                    int64_t lo, int64_t hi, int64_t jshift, int64_t sshift, int64_t k) {
  if (k == 1) {
    for (int64_t i = lo; i < hi; ++i) out[i] += Mul(row[i + jshift], b[i + sshift]);
    return;
  }
  for (int64_t i = lo; i < hi; ++i) {
    V a = row[i + jshift];
    const V* x = b + (i + sshift) * k;
    V* y = out + i * k;
    for (int64_t t = 0; t < k; ++t) y[t] += Mul(a, x[t]);
  }
}

template <typename V, typename I>
void DiaMatmul(ffi::ThreadPool& pool, int64_t threads, const V* data, const I* offsets,
               int64_t n_diags, int64_t n, int64_t m, int64_t width, int64_t k,
               bool transpose, const V* b, V* out) {
  int64_t out_rows = transpose ? m : n;
  int64_t blocks = (out_rows + kDiaBlock - 1) / kDiaBlock;
  int64_t n_tasks = std::min(blocks, TasksFor(threads, n_diags * out_rows * k));
  int64_t per = (blocks + n_tasks - 1) / n_tasks * kDiaBlock;
  ParallelFor(pool, threads, n_tasks, [=](int64_t task) {
    int64_t r0 = task * per, r1 = std::min(out_rows, r0 + per);
    if (r0 >= r1) return;
    std::fill(out + r0 * k, out + r1 * k, V{});
    for (int64_t b0 = r0; b0 < r1; b0 += kDiaBlock) {
      int64_t b1 = std::min(r1, b0 + kDiaBlock);
      for (int64_t d = 0; d < n_diags; ++d) {
        int64_t o = static_cast<int64_t>(offsets[d]);
        const V* row = data + d * m;
        // Output row i reads data column j and b row s: (j, s) = (i + o, i + o), or
        // (i, i - o) transposed.
        int64_t lo, hi, jshift, sshift;
        if (transpose) {
          lo = std::max({b0, o, int64_t{0}});
          hi = std::min({b1, width, n + o});
          jshift = 0;
          sshift = -o;
        } else {
          lo = std::max(b0, -o);
          hi = std::min(b1, width - o);
          jshift = o;
          sshift = o;
        }
        ShiftedProduct(row, b, out, lo, hi, jshift, sshift, k);
      }
    }
  });
}

ffi::Error DiaMatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer offsets,
                         ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> out,
                         int64_t transpose, int64_t width, int64_t threads) {
  auto dims = data.dimensions();
  if (dims.size() != 2 || data.element_type() != b.element_type() ||
      LeadingSize(offsets) != dims[0]) {
    return ffi::Error::InvalidArgument("jaxsparse dia_matmul: inconsistent operands");
  }
  int64_t n = transpose ? LeadingSize(b) : LeadingSize(*out);
  int64_t m = transpose ? LeadingSize(*out) : LeadingSize(b);
  if (dims[1] != m) {
    return ffi::Error::InvalidArgument("jaxsparse dia_matmul: data must have n_cols columns");
  }
  width = std::clamp<int64_t>(width, 0, m);
  return DispatchTypes(b.element_type(), offsets.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    DiaMatmul<V, I>(pool, threads, Ptr<V>(data), Ptr<I>(offsets), dims[0], n, m, width,
                    TrailingSize(b), transpose != 0, Ptr<V>(b), Ptr<V>(*out));
    return ffi::Error::Success();
  });
}

}  // namespace
}  // namespace jaxsparse

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsparseDiaMatmul, jaxsparse::DiaMatmulImpl,
                              jaxsparse::BindPoolAndBuffers<3>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("transpose")
                                  .Attr<int64_t>("width")
                                  .Attr<int64_t>("threads"));
