// DIA times dense as shifted multiply-adds over contiguous slices: no index arrays, so
// 8 bytes per float64 nonzero instead of CSR's 12. data is (n_diags, n_cols) with
// data[d, j] = A[j - offsets[d], j] (SciPy's layout); columns >= width are padding.
//   A @ b:   out[i] += data[d, i + o] * b[i + o]   for 0 <= i < n, 0 <= i + o < width
//   A.T @ b: out[j] += data[d, j] * b[j - o]       for j < width, 0 <= j - o < n
// Output rows are split into blocks over threads; within a row the diagonals are summed
// in storage order, so the split never changes a result. One vector runs over short
// blocks of rows, up to kFused diagonals in each pass over a block; k columns run row by
// row, as the CSR kernel's panels do. jnp twin: ops DIA reference.
#include <algorithm>
#include <vector>

#include "common.h"
#include "hugepages.h"
#include "own_core.h"

namespace jaxsparse {
namespace {

inline constexpr int64_t kDiaBlock = 2048;  // output rows per task unit

// One vector's product runs over blocks of kVectorBlock output rows, adding up to kFused
// diagonals in each pass over a block, each row's terms in registers. Diagonal by
// diagonal (one pass per diagonal over blocks of 2048 rows), the banded float64 product
// (n = 2M, 11 diagonals, 2 threads) took 14.8 ms; all 11 in one pass over blocks of 128
// rows 7.1, of 8192 rows 6.4 (XLA's fused loop 6.3-6.9 when its output was in memory,
// 10 when its 16 MB output faulted in 4 KB pages, as it does on every call in some
// processes); 2-D Poisson 7.0 / 4.7 / 3.6 (XLA 3.2-3.7, faulted 6.7-7.6). Same process,
// order rotated, each variant twice (the twins within 1-3%). Passes of at most 8
// diagonals ran 8-17% slower than 12 in float64 and float32, 1 and 2 threads.
inline constexpr int64_t kVectorBlock = 8192;
inline constexpr int kFused = 12;

// Where diagonal d's terms land: output rows [lo, hi), output row i reading data column
// i + jshift and row i + sshift of b.
struct Band {
  int64_t lo, hi, jshift, sshift;
};

// Output row r of a k-column product, kWidth columns from t0, summed over the diagonals
// in an accumulator held in registers. kChecked: test each diagonal's band (rows near
// the ends); the rows inside every band skip the tests. Inlined into PanelRows (the
// attribute must match for that).
template <bool kChecked, int64_t kWidth, typename V>
JAXSPARSE_NO_LOOP_VECTORIZER __attribute__((always_inline)) inline void PanelRow(
    const V* __restrict data, int64_t m, const Band* bands, int64_t n_diags,
    const V* __restrict b, V* __restrict o, int64_t k, int64_t r, int64_t t0) {
  V acc[kWidth] = {};
  for (int64_t d = 0; d < n_diags; ++d) {
    const Band& band = bands[d];
    if (kChecked && (r < band.lo || r >= band.hi)) continue;
    V a = data[d * m + r + band.jshift];
    const V* x = b + (r + band.sshift) * k + t0;
    for (int64_t t = 0; t < kWidth; ++t) acc[t] += Mul(a, x[t]);
  }
  std::copy(acc, acc + kWidth, o + t0);
}

// Output rows [r0, r1) of a k-column product (k > 1), row by row, in panels of 16 and 8
// columns. Done diagonal by diagonal over slices (as one vector is), every output row
// was loaded and stored once per diagonal: 16 columns of the 11-diagonal banded matrix,
// n = 2M, took 56 ms, against 32 ms so (CSR: 31). Same terms in the same order as the
// slices: same sums.
template <typename V>
JAXSPARSE_NO_LOOP_VECTORIZER void PanelRows(const V* __restrict data, int64_t m,
                                            const Band* bands, int64_t n_diags,
                                            int64_t inner_lo, int64_t inner_hi,
                                            const V* __restrict b, V* __restrict out,
                                            int64_t k, int64_t r0, int64_t r1) {
  int64_t panels = k / kPanel * kPanel;
  for (int64_t r = r0; r < r1; ++r) {
    V* o = out + r * k;
    bool inner = r >= inner_lo && r < inner_hi;
    int64_t t0 = 0;
    for (; t0 + 2 * kPanel <= panels; t0 += 2 * kPanel) {
      if (inner) {
        PanelRow<false, 2 * kPanel>(data, m, bands, n_diags, b, o, k, r, t0);
      } else {
        PanelRow<true, 2 * kPanel>(data, m, bands, n_diags, b, o, k, r, t0);
      }
    }
    if (t0 < panels) {
      if (inner) {
        PanelRow<false, kPanel>(data, m, bands, n_diags, b, o, k, r, t0);
      } else {
        PanelRow<true, kPanel>(data, m, bands, n_diags, b, o, k, r, t0);
      }
    }
    if (panels == k) continue;
    std::fill(o + panels, o + k, V{});
    for (int64_t d = 0; d < n_diags; ++d) {
      const Band& band = bands[d];
      if (r < band.lo || r >= band.hi) continue;
      V a = data[d * m + r + band.jshift];
      const V* x = b + (r + band.sshift) * k;
      for (int64_t t = panels; t < k; ++t) o[t] += Mul(a, x[t]);
    }
  }
}

// Adds diagonals band[0, G) into out[b0, b1), every one of which covers all those rows,
// in one pass: each row's terms in diagonal order, the order one diagonal at a time
// gives, so the same sums.
template <int G, typename V>
void AddCovering(const V* data, int64_t m, const Band* band, int64_t d, const V* b,
                 V* __restrict out, int64_t b0, int64_t b1) {
  const V* a[G];  // diagonal g's data and b from row b0 on
  const V* x[G];
  for (int g = 0; g < G; ++g) {
    a[g] = data + (d + g) * m + band[g].jshift + b0;
    x[g] = b + band[g].sshift + b0;
  }
  V* o = out + b0;
  for (int64_t i = 0; i < b1 - b0; ++i) {
    V sum = o[i];
#pragma GCC unroll 16
    for (int g = 0; g < G; ++g) sum += Mul(a[g][i], x[g][i]);
    o[i] = sum;
  }
}

// AddCovering<run> for a run of 1 to G diagonals.
template <int G, typename V>
void AddRun(int run, const V* data, int64_t m, const Band* band, int64_t d, const V* b,
            V* out, int64_t b0, int64_t b1) {
  if constexpr (G > 1) {
    if (run < G) return AddRun<G - 1>(run, data, m, band, d, b, out, b0, b1);
  }
  AddCovering<G>(data, m, band, d, b, out, b0, b1);
}

// Output rows [b0, b1) of one vector's product: runs of diagonals that cover the whole
// block, up to kFused in a pass, and a diagonal that starts or ends inside it on its own.
template <typename V>
void VectorBlock(const V* data, int64_t m, const Band* band, int64_t n_diags, const V* b,
                 V* out, int64_t b0, int64_t b1) {
  std::fill(out + b0, out + b1, V{});
  for (int64_t d = 0; d < n_diags;) {
    int run = 0;
    while (run < kFused && d + run < n_diags && band[d + run].lo <= b0 &&
           band[d + run].hi >= b1) {
      ++run;
    }
    const Band* at = band + d;
    if (run == 0) {
      int64_t lo = std::max(b0, at->lo), hi = std::min(b1, at->hi);
      for (int64_t i = lo; i < hi; ++i) {
        out[i] += Mul(data[d * m + i + at->jshift], b[i + at->sshift]);
      }
      run = 1;
    } else {
      AddRun<kFused>(run, data, m, at, d, b, out, b0, b1);
    }
    d += run;
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
  // Output row i reads data column j and b row s: (j, s) = (i + o, i + o), or (i, i - o)
  // transposed.
  std::vector<Band> bands(n_diags);
  for (int64_t d = 0; d < n_diags; ++d) {
    int64_t o = static_cast<int64_t>(offsets[d]);
    bands[d] = transpose ? Band{std::max(o, int64_t{0}), std::min(width, n + o), 0, -o}
                         : Band{std::max(-o, int64_t{0}), std::min(n, width - o), o, o};
  }
  const Band* band = bands.data();
  int64_t inner_lo = 0, inner_hi = out_rows;  // the rows inside every band
  for (const Band& each : bands) {
    inner_lo = std::max(inner_lo, each.lo);
    inner_hi = std::min(inner_hi, each.hi);
  }
  ParallelFor(pool, threads, n_tasks, [=](int64_t task) {
    int64_t r0 = task * per, r1 = std::min(out_rows, r0 + per);
    if (r0 >= r1) return;
    if (k > 1) {
      PanelRows(data, m, band, n_diags, inner_lo, inner_hi, b, out, k, r0, r1);
      return;
    }
    for (int64_t b0 = r0; b0 < r1; b0 += kVectorBlock) {
      VectorBlock(data, m, band, n_diags, b, out, b0, std::min(r1, b0 + kVectorBlock));
    }
  });
}

// b_start: the operand is b's rows from b_start on (rows before it are never read: a
// drop-in vector read in place from the 64-byte boundary below it, scipy_compat._route).
ffi::Error DiaMatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer offsets,
                         ffi::AnyBuffer b, ffi::Result<ffi::AnyBuffer> out,
                         int64_t transpose, int64_t width, int64_t b_start, int64_t threads,
                         int64_t own_core) {
  KeepOnOwnCore(own_core);
  auto dims = data.dimensions();
  int64_t b_rows = LeadingSize(b) - b_start;
  if (dims.size() != 2 || data.element_type() != b.element_type() ||
      LeadingSize(offsets) != dims[0] || b_start < 0 || b_rows < 0) {
    return ffi::Error::InvalidArgument("jaxsparse dia_matmul: inconsistent operands");
  }
  int64_t n = transpose ? b_rows : LeadingSize(*out);
  int64_t m = transpose ? LeadingSize(*out) : b_rows;
  if (dims[1] != m) {
    return ffi::Error::InvalidArgument("jaxsparse dia_matmul: data must have n_cols columns");
  }
  width = std::clamp<int64_t>(width, 0, m);
  AdviseFreshOutput(out->untyped_data(), out->size_bytes());
  int64_t k = TrailingSize(b);
  return DispatchTypes(b.element_type(), offsets.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    DiaMatmul<V, I>(pool, threads, Ptr<V>(data), Ptr<I>(offsets), dims[0], n, m, width, k,
                    transpose != 0, Ptr<V>(b) + b_start * k, Ptr<V>(*out));
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
                                  .Attr<int64_t>("b_start")
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("own_core"));
