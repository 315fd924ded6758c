// CSR times dense: y = A @ b (rows split over threads, each row summed in storage order)
// and y = A.T @ b (a scatter; see scatter.h). b is (n_in,) or (n_in, k), row-major.
// Also y = c + A @ b, each row's sum added to c's row (csr_matmul_add: c's buffer is
// the output's). jnp twins: _csr_matmul in jaxsparse/ops/_reference.py, and c plus it.
#include <atomic>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "common.h"
#include "hugepages.h"
#include "own_core.h"
#include "scatter.h"

namespace jaxsparse {
namespace {

// A row's sum into the output: stored, or (kAdd) added to what the output holds, c's
// row: c + sum, the bits of adding the stored product to c.
template <bool kAdd, typename V>
inline void Put(V* o, V sum) {
  if constexpr (kAdd) {
    *o += sum;
  } else {
    *o = sum;
  }
}

// Rows [r0, r1) of out = A @ b for one vector b. A plain function with restrict pointers,
// so the loop keeps every pointer in a register (a lambda capturing by reference reloads
// them), and apart from the k-column loop: compiled as one function with a runtime
// `k == 1` test, the random matrix's product ran 10-15% slower.
template <bool kAdd, bool kAhead, typename V, typename I>
void VectorRows(const V* __restrict data, const I* __restrict indices,
                const I* __restrict indptr, int64_t cap, int64_t n_cols,
                const V* __restrict b, V* __restrict out, int64_t r0, int64_t r1) {
  // Row r reads slots [clamp(indptr[r]), clamp(indptr[r + 1])), none if that is empty;
  // each clamp is computed once and carried to the next row. Clamping the end against
  // the start instead made every row wait on the previous one's clamp: 2-D Poisson's
  // 5-nonzero rows ran 5-8% slower.
  int64_t end = Clamp(indptr[r0], 0, cap);
  StreamsAhead<V, I> ahead(data, indices, end, cap);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], 0, cap);
    if constexpr (kAhead) ahead.Upto(end);
    V acc{};
    for (int64_t j = start; j < end; ++j) {
      I c = indices[j];
      if (InRange(c, n_cols)) acc += Mul(data[j], b[c]);
    }
    Put<kAdd>(out + r, acc);
  }
}

// Rows [r0, r1) of out = A @ b for b of k > 1 columns, row-major.
template <typename V, typename I>
void PanelRows(const V* __restrict data, const I* __restrict indices,
               const I* __restrict indptr, int64_t cap, int64_t n_cols, int64_t k,
               const V* __restrict b, V* __restrict out, int64_t r0, int64_t r1) {
  int64_t end = Clamp(indptr[r0], 0, cap);  // carried as in VectorRows
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], 0, cap);
    // Columns of b in panels of kPanel: a fixed-size accumulator stays in registers
    // (a k-long one would be loaded and stored for every nonzero). Each output entry is
    // still summed over the row's nonzeros in storage order.
    V* o = out + r * k;
    int64_t t0 = 0;
    for (; t0 + kPanel <= k; t0 += kPanel) {
      V acc[kPanel] = {};
      for (int64_t j = start; j < end; ++j) {
        I c = indices[j];
        if (!InRange(c, n_cols)) continue;
        V d = data[j];
        const V* x = b + static_cast<int64_t>(c) * k + t0;
        for (int64_t t = 0; t < kPanel; ++t) acc[t] += Mul(d, x[t]);
      }
      std::copy(acc, acc + kPanel, o + t0);
    }
    if (t0 == k) continue;
    std::fill(o + t0, o + k, V{});
    for (int64_t j = start; j < end; ++j) {
      I c = indices[j];
      if (!InRange(c, n_cols)) continue;
      V d = data[j];
      const V* x = b + static_cast<int64_t>(c) * k;
      for (int64_t t = t0; t < k; ++t) o[t] += Mul(d, x[t]);
    }
  }
}

// VectorRows, compiled without the vectoriser (JAXSPARSE_SCALAR_LOOPS, common.h): on
// float rows of 3-11 entries GCC's vector code ran 15-25% slower than this scalar loop
// (on rows of 65, 15% faster), while double code came out the same either way. Same
// sums in the same order: same bits. (A separate function because the attribute is per
// function.)
template <bool kAdd, bool kAhead, typename V, typename I>
JAXSPARSE_SCALAR_LOOPS void ShortRows(const V* __restrict data, const I* __restrict indices,
                                      const I* __restrict indptr, int64_t cap,
                                      int64_t n_cols, const V* __restrict b,
                                      V* __restrict out, int64_t r0, int64_t r1) {
  int64_t end = Clamp(indptr[r0], 0, cap);
  StreamsAhead<V, I> ahead(data, indices, end, cap);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], 0, cap);
    if constexpr (kAhead) ahead.Upto(end);
    V acc{};
    for (int64_t j = start; j < end; ++j) {
      I c = indices[j];
      if (InRange(c, n_cols)) acc += Mul(data[j], b[c]);
    }
    Put<kAdd>(out + r, acc);
  }
}

// Below this many entries per row (on average over a task) float rows use ShortRows.
inline constexpr int64_t kShortRow = 32;

// Whether rows [r0, r1) of a vector product (either orientation) read or write the
// vector near the diagonal, and so are worth prefetching the matrix's streams for
// (StreamsAhead, kAhead). Where the vector's accesses hit the caches, the streams are
// what a row waits for; where they miss (the random matrix), the prefetches take the
// miss buffers the vector's accesses need. Same-process A/B, float64, 1 / 2 threads:
//   - A @ x: 2-D Poisson 9.5 -> 6.7 ms / 5.9 -> 5.2; banded 13.5 -> 13.7 / 8.4 -> 7.9;
//     the random matrix, prefetched: 17-19 -> 20 ms (so it is not);
//   - complex128 banded 28 -> 20 ms / 16 -> 15; float32 2-D Poisson 7.3-10 -> 6.9 ms;
//   - A.T @ y: 2-D Poisson 12.4 -> 11.3 / 8.0 -> 7.2; banded 16.6 -> 17.0 / 10.8 -> 10.4;
//   - 16 columns (PanelRows), where a row's arithmetic is 16 times longer: 5-15% slower,
//     so products over k > 1 columns are not prefetched.
// Decided from 64 entries spread over the rows' slots: at least 3/4 of them within
// kNearColumns of their row's diagonal. Tasks of fewer than kPrefetchMinSlots slots are
// neither sampled nor prefetched, nor matrices that stay in the cache
// (StreamsOutgrowCache, common.h).
inline constexpr int64_t kNearColumns = 32768;  // 256 KB of float64 each side

// How many tasks were prefetched (read by tests/test_native.py).
std::atomic<int64_t> prefetched_tasks{0};

template <typename I>
bool ReadsNearDiagonal(const I* indices, const I* indptr, int64_t cap, int64_t n_rows,
                       int64_t n_cols, int64_t r0, int64_t r1) {
  int64_t s0 = Clamp(indptr[r0], 0, cap), s1 = Clamp(indptr[r1], s0, cap);
  if (s1 - s0 < kPrefetchMinSlots || n_rows <= 0) return false;
  constexpr int64_t kSamples = 64;
  const double slope = static_cast<double>(n_cols) / static_cast<double>(n_rows);
  int64_t near = 0;
  for (int64_t t = 0; t < kSamples; ++t) {
    int64_t j = s0 + (s1 - s0) / kSamples * t;
    // The row holding slot j: the last r in [r0, r1) with indptr[r] <= j.
    auto after = std::upper_bound(indptr + r0, indptr + r1 + 1, j,
                                  [](int64_t v, I p) { return v < static_cast<int64_t>(p); });
    int64_t r = std::max<int64_t>(r0, (after - indptr) - 1);
    double diagonal = slope * static_cast<double>(r);
    near += std::abs(static_cast<double>(indices[j]) - diagonal) <= kNearColumns;
  }
  bool yes = 4 * near >= 3 * kSamples;
  if (yes) prefetched_tasks.fetch_add(1, std::memory_order_relaxed);
  return yes;
}

// Whether rows [r0, r1) of a vector product prefetch the matrix's streams: the matrix
// (`cap` slots) outgrows the cache and the rows, sampled within slots below `limit`,
// read near the diagonal.
template <typename V, typename I>
bool PrefetchesStreams(const I* indices, const I* indptr, int64_t cap, int64_t limit,
                       int64_t n_rows, int64_t n_cols, int64_t r0, int64_t r1) {
  return StreamsOutgrowCache(cap, sizeof(V) + sizeof(I)) &&
         ReadsNearDiagonal(indices, indptr, limit, n_rows, n_cols, r0, r1);
}

template <bool kAdd, typename V, typename I>
void CsrGather(ffi::ThreadPool& pool, int64_t threads, const V* data, const I* indices,
               const I* indptr, int64_t cap, int64_t n_rows, int64_t n_cols, int64_t k,
               const V* b, V* out) {
  auto rows = [=](int64_t r0, int64_t r1) {
    int64_t entries = Clamp(indptr[r1], 0, cap) - Clamp(indptr[r0], 0, cap);
    bool ahead =
        k == 1 && PrefetchesStreams<V>(indices, indptr, cap, cap, n_rows, n_cols, r0, r1);
    if (std::is_same_v<V, float> && k == 1 && entries < kShortRow * (r1 - r0)) {
      auto run = ahead ? ShortRows<kAdd, true, V, I> : ShortRows<kAdd, false, V, I>;
      run(data, indices, indptr, cap, n_cols, b, out, r0, r1);
    } else if (k == 1) {
      auto run = ahead ? VectorRows<kAdd, true, V, I> : VectorRows<kAdd, false, V, I>;
      run(data, indices, indptr, cap, n_cols, b, out, r0, r1);
    } else {
      // kAdd runs vectors only (CsrMatmulAddImpl): a panel that added its sums into
      // the output (its last columns' partial sums in a local row) ran 16-column
      // float32/64 products 2.5x slower, and the pass it saves is small beside them.
      if constexpr (!kAdd) PanelRows(data, indices, indptr, cap, n_cols, k, b, out, r0, r1);
    }
  };
  int64_t n_tasks = TasksFor(threads, (Clamp(indptr[n_rows], 0, cap) + n_rows) * k);
  if (n_tasks == 1) {
    rows(0, n_rows);
    return;
  }
  std::vector<int64_t> bounds(n_tasks + 1);
  SplitRows(indptr, n_rows, cap, n_tasks, bounds.data());
  ParallelFor(pool, threads, n_tasks, [&](int64_t t) { rows(bounds[t], bounds[t + 1]); });
}

// Rows [r0, r1) of A.T @ b added into rows [base, base + span) of target (its first
// row is output row `base`), reading only slots [first, last), those of the chunk
// (CsrScatter). Returns the first row with a column in [0, n_cols) outside those rows,
// or -1: the bounds check every entry needs anyway, against the target's rows
// (scatter.h). Compiled once for one vector (kVector, k == 1) and once for k columns,
// as VectorRows is.
template <bool kVector, bool kAhead, typename V, typename I>
int64_t ScatterRows(const V* __restrict data, const I* __restrict indices,
                    const I* __restrict indptr, int64_t first, int64_t last,
                    int64_t n_cols, int64_t k, const V* __restrict b,
                    V* __restrict target, int64_t base, int64_t span, int64_t r0,
                    int64_t r1) {
  int64_t outside = -1;
  int64_t end = Clamp(indptr[r0], first, last);  // carried as in VectorRows
  StreamsAhead<V, I> ahead(data, indices, end, last);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], first, last);
    if constexpr (kAhead) ahead.Upto(end);
    if constexpr (kVector) {
      V x = b[r];
      for (int64_t j = start; j < end; ++j) {
        I c = indices[j];
        if (InRange(c - base, span)) {
          target[c - base] += Mul(data[j], x);
        } else if (outside < 0 && InRange(c, n_cols)) {
          outside = r;
        }
      }
    } else {
      const V* x = b + r * k;
      for (int64_t j = start; j < end; ++j) {
        I c = indices[j];
        if (!InRange(c - base, span)) {
          if (outside < 0 && InRange(c, n_cols)) outside = r;
          continue;
        }
        V d = data[j];
        V* o = target + (static_cast<int64_t>(c) - base) * k;
        for (int64_t t = 0; t < k; ++t) o[t] += Mul(d, x[t]);
      }
    }
  }
  return outside;
}

// A.T @ b as a scatter (scatter.h) whose units are A's rows.
template <typename V, typename I>
struct CsrRows {
  const V* data;
  const I* indices;
  const I* indptr;
  int64_t cap, n_rows, n_cols, k;
  const V* b;
  const int64_t* bounds;  // chunk c is rows [bounds[c], bounds[c + 1])

  // Chunk c is slots [j0, j1): its rows' columns, and nothing else is read.
  void Slots(int64_t c, int64_t* j0, int64_t* j1) const {
    *j0 = Clamp(indptr[bounds[c]], 0, cap);
    *j1 = Clamp(indptr[bounds[c + 1]], *j0, cap);
  }
  void Units(int64_t c, int64_t* u0, int64_t* u1) const {
    *u0 = bounds[c];
    *u1 = bounds[c + 1];
  }
  void Reach(int64_t c, int64_t u, int64_t* lo, int64_t* hi) const {
    int64_t j0, j1;
    Slots(c, &j0, &j1);
    int64_t start = Clamp(indptr[u], j0, j1), end = Clamp(indptr[u + 1], j0, j1);
    ValidRange(indices + start, std::max<int64_t>(end - start, 0), n_cols, lo, hi);
  }
  int64_t Scatter(int64_t c, int64_t u0, int64_t u1, V* target, int64_t base,
                  int64_t span) const {
    int64_t j0, j1;
    Slots(c, &j0, &j1);
    auto run = k != 1 ? ScatterRows<false, false, V, I>
               : PrefetchesStreams<V>(indices, indptr, cap, j1, n_rows, n_cols, u0, u1)
                   ? ScatterRows<true, true, V, I>
                   : ScatterRows<true, false, V, I>;
    return run(data, indices, indptr, j0, j1, n_cols, k, b, target, base, span, u0, u1);
  }
};

// Part p of ColumnSplitScatter: out[lo, hi) = the terms of A.T @ b whose column lies
// there. Each row's entries of columns below lo are passed over (the earlier parts');
// from the first of column >= lo on, the entries are this part's up to the first of
// column >= hi (the next part's). Returns false at an entry whose column is below the
// one before it, having written only out[lo, hi): whatever the number of parts, a row
// is taken only if its columns ascend, so which rows are taken (and so the bits) does
// not depend on it. Columns outside [0, n_cols) are dropped, as everywhere: sorted, a
// row has them first (the first part's) or last (the last part's).
template <typename V, typename I>
bool ColumnPart(const V* __restrict data, const I* __restrict indices,
                const I* __restrict indptr, int64_t cap, int64_t n_rows, int64_t lo,
                int64_t hi, bool first, bool last, const V* __restrict b,
                V* __restrict out) {
  std::fill(out + lo, out + hi, V{});
  const int64_t span = hi - lo;
  int64_t end = Clamp(indptr[0], 0, cap);
  for (int64_t r = 0; r < n_rows; ++r) {
    int64_t j = end;
    end = Clamp(indptr[r + 1], j, cap);
    if (!first) {
      while (j < end && static_cast<int64_t>(indices[j]) < lo) ++j;
    }
    const V x = b[r];
    int64_t before = std::numeric_limits<int64_t>::min();
    for (; j < end; ++j) {
      const int64_t c = indices[j];
      if (c < before) return false;  // (also any column below lo once past them)
      before = c;
      if (InRange(c - lo, span)) {
        out[c] += Mul(data[j], x);
      } else if (c >= hi && !last) {
        break;
      }
    }
  }
  return true;
}

// A.T @ b for one vector b as one part per thread, each owning a contiguous range of
// output rows (A's columns) and taking, from every row of A, the entries that land
// there: no partial-sum buffers, nothing to add up afterwards, and each thread's adds
// stay in its own part of the output. Every output row so sums its terms in A's row
// order, the order of one thread's plain scatter, whatever the number of parts: the
// bits do not depend on the thread count. It needs each row's columns in ascending
// order (sorted rows); a row out of order makes it return false, and the caller runs
// the grouped scatter instead, which rewrites all of out.
// Each part reads the cache lines of every row (a row's entries of all parts share
// them), so the matrix streams in once per thread; what it saves is the grouped
// scatter's private buffer as wide as the output, which a pattern far from the diagonal
// needs (scatter.h). That pays from outputs of kSplitMinOutputBytes: the random matrix
// (n = 1M, 10 entries a row), same-process A/B, median/min ms, against the grouped
// scatter: float64 (8 MB output) 1 thread 25.2/20.6 -> 20.1/16.7, 2 threads 20.0/15.1 ->
// 17.8/11.1; complex128 (16 MB) 109.5 -> 105.4, 64.9 -> 57.6; but float32 (4 MB) at 2
// threads 11.7/8.3 -> 16.0/10.1, float64 at n = 500k (4 MB) 5.4 -> 5.7.
inline constexpr int64_t kSplitMinOutputBytes = int64_t{6} << 20;

// How many products ran as ColumnSplitScatter (read by tests/test_native.py).
std::atomic<int64_t> split_scatters{0};

template <typename V, typename I>
bool ColumnSplitScatter(ffi::ThreadPool& pool, int64_t threads, const V* data,
                        const I* indices, const I* indptr, int64_t cap, int64_t n_rows,
                        int64_t n_cols, int64_t work, const V* b, V* out) {
  const int64_t parts = TasksFor(threads, work) > 1 ? threads : 1;
  std::vector<char> ordered(parts, 1);
  ParallelFor(pool, threads, parts, [&](int64_t p) {
    ordered[p] = ColumnPart(data, indices, indptr, cap, n_rows, n_cols * p / parts,
                            n_cols * (p + 1) / parts, p == 0, p == parts - 1, b, out);
  });
  bool done = std::all_of(ordered.begin(), ordered.end(), [](char o) { return o != 0; });
  if (done) split_scatters.fetch_add(1, std::memory_order_relaxed);
  return done;
}

template <typename V, typename I>
void CsrScatter(ffi::ThreadPool& pool, int64_t threads, const V* data, const I* indices,
                const I* indptr, int64_t cap, int64_t n_rows, int64_t n_cols, int64_t k,
                const V* b, V* out) {
  int64_t work = (Clamp(indptr[n_rows], 0, cap) + n_rows) * k;
  if (k == 1 && n_cols * static_cast<int64_t>(sizeof(V)) >= kSplitMinOutputBytes &&
      !ReadsNearDiagonal(indices, indptr, cap, n_rows, n_cols, 0, n_rows) &&
      ColumnSplitScatter(pool, threads, data, indices, indptr, cap, n_rows, n_cols, work, b,
                         out)) {
    return;
  }
  const int64_t n_fine = ScatterChunks(work);
  int64_t bounds[9];  // n_fine <= 8 (ScatterChunks)
  SplitRows(indptr, n_rows, cap, n_fine, bounds);
  CsrRows<V, I> rows{data, indices, indptr, cap, n_rows, n_cols, k, b, bounds};
  ChunkedScatter(pool, threads, n_fine, work, indices, n_cols, k, out, rows);
}

// b_start: the operand is b's rows from b_start on (rows before it are never read: a
// drop-in vector read in place from the 64-byte boundary below it, scipy_compat._route).
ffi::Error CsrMatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer indices,
                         ffi::AnyBuffer indptr, ffi::AnyBuffer b,
                         ffi::Result<ffi::AnyBuffer> out, int64_t transpose,
                         int64_t b_start, int64_t threads, int64_t own_core) {
  KeepOnOwnCore(own_core);
  int64_t n_rows = LeadingSize(indptr) - 1;
  int64_t b_rows = LeadingSize(b) - b_start;
  int64_t n_cols = transpose ? LeadingSize(*out) : b_rows;
  int64_t cap = std::min<int64_t>(LeadingSize(data), LeadingSize(indices));
  int64_t k = TrailingSize(b);
  if (n_rows < 0 || indptr.element_type() != indices.element_type() ||
      data.element_type() != b.element_type() || b_start < 0 || b_rows < 0 ||
      (transpose && b_rows < n_rows)) {
    return ffi::Error::InvalidArgument("jaxsparse csr_matmul: inconsistent operands");
  }
  PreferHugePages(b.untyped_data(), b.size_bytes());
  AdviseFreshOutput(out->untyped_data(), out->size_bytes());
  ffi::Error done = DispatchTypes(b.element_type(), indices.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    auto run = transpose ? CsrScatter<V, I> : CsrGather<false, V, I>;
    run(pool, threads, Ptr<V>(data), Ptr<I>(indices), Ptr<I>(indptr), cap, n_rows, n_cols, k,
        Ptr<V>(b) + b_start * k, Ptr<V>(*out));
    return ffi::Error::Success();
  });
  // After the writes: only pages already in memory can be collapsed (a fresh buffer's
  // are not), and the allocator hands this buffer back to the next calls.
  PreferHugePages(out->untyped_data(), out->size_bytes());
  return done;
}

// out = c + A @ b for one vector b. XLA hands c's buffer over as the output's
// (input_output_aliases) unless c is still needed elsewhere; then c is copied in first.
ffi::Error CsrMatmulAddImpl(ffi::ThreadPool pool, ffi::AnyBuffer data,
                            ffi::AnyBuffer indices, ffi::AnyBuffer indptr, ffi::AnyBuffer b,
                            ffi::AnyBuffer c, ffi::Result<ffi::AnyBuffer> out,
                            int64_t threads, int64_t own_core) {
  KeepOnOwnCore(own_core);
  int64_t n_rows = LeadingSize(indptr) - 1;
  int64_t cap = std::min<int64_t>(LeadingSize(data), LeadingSize(indices));
  int64_t k = TrailingSize(b);
  if (n_rows < 0 || indptr.element_type() != indices.element_type() ||
      data.element_type() != b.element_type() || c.element_type() != b.element_type() ||
      k != 1 || LeadingSize(c) != n_rows || TrailingSize(c) != 1 ||
      c.size_bytes() != out->size_bytes()) {
    return ffi::Error::InvalidArgument("jaxsparse csr_matmul_add: inconsistent operands");
  }
  if (out->untyped_data() != c.untyped_data()) {
    std::memcpy(out->untyped_data(), c.untyped_data(), c.size_bytes());
  }
  PreferHugePages(b.untyped_data(), b.size_bytes());
  return DispatchTypes(b.element_type(), indices.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    CsrGather<true, V, I>(pool, threads, Ptr<V>(data), Ptr<I>(indices), Ptr<I>(indptr), cap,
                          n_rows, LeadingSize(b), k, Ptr<V>(b), Ptr<V>(*out));
    return ffi::Error::Success();
  });
}

}  // namespace
}  // namespace jaxsparse

extern "C" int64_t JaxsparsePrefetchedTasks() { return jaxsparse::prefetched_tasks.load(); }
extern "C" int64_t JaxsparseSplitScatters() { return jaxsparse::split_scatters.load(); }

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsparseCsrMatmul, jaxsparse::CsrMatmulImpl,
                              jaxsparse::BindPoolAndBuffers<4>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("transpose")
                                  .Attr<int64_t>("b_start")
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("own_core"));

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsparseCsrMatmulAdd, jaxsparse::CsrMatmulAddImpl,
                              jaxsparse::BindPoolAndBuffers<5>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("own_core"));
