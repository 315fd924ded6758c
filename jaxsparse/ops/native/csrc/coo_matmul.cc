// COO times dense: out[dst_k, :] += data_k * b[src_k, :] with (dst, src) = (row, col),
// or (col, row) for A.T @ b (the Python side swaps them). Entries may come in any order,
// so this is a scatter (scatter.h). jnp twin: coo_matmul in jaxsparse/ops/_reference.py.
#include "common.h"
#include "hugepages.h"
#include "own_core.h"
#include "scatter.h"

namespace jaxsparse {
namespace {

// Entries [e0, e1) added into rows [base, base + span) of target (its first row is
// output row `base`); returns the first entry whose row in [0, n_out) fell outside them,
// or -1 (as ScatterRows in csr_matmul.cc). Compiled once for one vector (kVector,
// k == 1) and once for k columns: a runtime k == 1 test in the loop slowed the
// one-vector loop (see VectorRows in csr_matmul.cc).
//
// For one vector, a run of entries into the same output row (a row-sorted COO: every
// row's entries) is summed in a register, loaded from the target at the run's start
// and stored at its end: the same adds in the same order as adding into memory entry
// by entry, whose every add waited on the previous one's store (the banded matrix's
// one-thread product, 11 entries a row: 34 ms; SciPy's CSR product 14.6).
template <bool kVector, typename V, typename I>
int64_t ScatterEntries(const V* __restrict data, const I* __restrict dst,
                       const I* __restrict src, int64_t n_out, int64_t n_in, int64_t k,
                       const V* __restrict b, V* __restrict target, int64_t base,
                       int64_t span, int64_t e0, int64_t e1) {
  const int64_t step = kVector ? 1 : k;
  int64_t outside = -1;
  int64_t run_row = -1;  // kVector: the target row whose sum `run` holds, if any
  V run{};
  for (int64_t e = e0; e < e1; ++e) {
    I d = dst[e], s = src[e];
    if (!InRange(d - base, span)) {
      if (outside < 0 && InRange(d, n_out)) outside = e;
      continue;
    }
    if (!InRange(s, n_in)) continue;
    int64_t row = static_cast<int64_t>(d) - base;
    const V* x = b + static_cast<int64_t>(s) * step;
    if constexpr (kVector) {
      if (row != run_row) {
        if (run_row >= 0) target[run_row] = run;
        run_row = row;
        run = target[row];
      }
      run += Mul(data[e], x[0]);
    } else {
      V* o = target + row * step;
      for (int64_t t = 0; t < k; ++t) o[t] += Mul(data[e], x[t]);
    }
  }
  if constexpr (kVector) {
    if (run_row >= 0) target[run_row] = run;
  }
  return outside;
}

// The product as a scatter (scatter.h) whose units are the entries, cut into n_fine
// chunks of `per`.
template <typename V, typename I>
struct CooEntries {
  const V* data;
  const I* dst;
  const I* src;
  int64_t cap, per, n_out, n_in, k;
  const V* b;

  // Chunk c's rows are those of all its entries, also those whose column is out of
  // range: a wider buffer, never a wrong one.
  void Slots(int64_t c, int64_t* e0, int64_t* e1) const {
    *e0 = std::min(cap, c * per);
    *e1 = std::min(cap, (c + 1) * per);
  }
  void Units(int64_t c, int64_t* u0, int64_t* u1) const { Slots(c, u0, u1); }
  void Reach(int64_t, int64_t e, int64_t* lo, int64_t* hi) const {
    bool valid = InRange(dst[e], n_out);
    *lo = valid ? static_cast<int64_t>(dst[e]) : 0;
    *hi = valid ? static_cast<int64_t>(dst[e]) : -1;
  }
  int64_t Scatter(int64_t, int64_t e0, int64_t e1, V* target, int64_t base,
                  int64_t span) const {
    auto run = k == 1 ? ScatterEntries<true, V, I> : ScatterEntries<false, V, I>;
    return run(data, dst, src, n_out, n_in, k, b, target, base, span, e0, e1);
  }
};

template <typename V, typename I>
void CooScatter(ffi::ThreadPool& pool, int64_t threads, const V* data, const I* dst,
                const I* src, int64_t cap, int64_t n_out, int64_t n_in, int64_t k,
                const V* b, V* out) {
  const int64_t n_fine = ScatterChunks(cap * k);
  const int64_t per = (cap + n_fine - 1) / n_fine;
  CooEntries<V, I> entries{data, dst, src, cap, per, n_out, n_in, k, b};
  ChunkedScatter(pool, threads, n_fine, cap * k, dst, n_out, k, out, entries);
}

ffi::Error CooMatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer dst,
                         ffi::AnyBuffer src, ffi::AnyBuffer b,
                         ffi::Result<ffi::AnyBuffer> out, int64_t threads, int64_t own_core) {
  KeepOnOwnCore(own_core);
  int64_t cap = std::min({LeadingSize(data), LeadingSize(dst), LeadingSize(src)});
  if (dst.element_type() != src.element_type() ||
      data.element_type() != b.element_type()) {
    return ffi::Error::InvalidArgument("jaxsparse coo_matmul: inconsistent operands");
  }
  AdviseFreshOutput(out->untyped_data(), out->size_bytes());
  return DispatchTypes(b.element_type(), dst.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    CooScatter<V, I>(pool, threads, Ptr<V>(data), Ptr<I>(dst), Ptr<I>(src), cap,
                     LeadingSize(*out), LeadingSize(b), TrailingSize(b), Ptr<V>(b),
                     Ptr<V>(*out));
    return ffi::Error::Success();
  });
}

}  // namespace
}  // namespace jaxsparse

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsparseCooMatmul, jaxsparse::CooMatmulImpl,
                              jaxsparse::BindPoolAndBuffers<4>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("own_core"));
