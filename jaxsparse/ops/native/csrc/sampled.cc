// SDDMM core: out[s] = <p[row_s, :], qt[col_s, :]> for every slot s of a CSR or COO
// pattern, without forming p @ q. qt is q transposed (n_cols, K), so both rows read
// contiguously. Padding slots (sentinel index) give 0. Each slot is one dot product in
// a fixed order, whatever the thread split. jnp twin: coo_sampled in ops/_reference.py.
#include <algorithm>
#include <vector>

#include "common.h"
#include "hugepages.h"
#include "own_core.h"

namespace jaxsparse {
namespace {

template <typename V>
inline V Dot(const V* a, const V* b, int64_t k) {
  V acc{};
  for (int64_t t = 0; t < k; ++t) acc += Mul(a[t], b[t]);
  return acc;
}

template <typename V, typename I>
void CsrSampled(ffi::ThreadPool& pool, int64_t threads, const I* indices, const I* indptr,
                int64_t cap, int64_t n_rows, int64_t n_cols, int64_t k, const V* p,
                const V* qt, V* out) {
  std::fill(out, out + cap, V{});
  auto rows = [=](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t start = Clamp(indptr[r], 0, cap), end = Clamp(indptr[r + 1], start, cap);
      for (int64_t s = start; s < end; ++s) {
        I c = indices[s];
        if (InRange(c, n_cols)) out[s] = Dot(p + r * k, qt + static_cast<int64_t>(c) * k, k);
      }
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

template <typename V, typename I>
void CooSampled(ffi::ThreadPool& pool, int64_t threads, const I* row, const I* col,
                int64_t cap, int64_t n_rows, int64_t n_cols, int64_t k, const V* p,
                const V* qt, V* out) {
  int64_t n_tasks = TasksFor(threads, cap * k);
  int64_t per = (cap + n_tasks - 1) / n_tasks;
  ParallelFor(pool, threads, n_tasks, [=](int64_t t) {
    int64_t s1 = std::min(cap, (t + 1) * per);
    for (int64_t s = t * per; s < s1; ++s) {
      I r = row[s], c = col[s];
      out[s] = InRange(r, n_rows) && InRange(c, n_cols)
                   ? Dot(p + static_cast<int64_t>(r) * k, qt + static_cast<int64_t>(c) * k, k)
                   : V{};
    }
  });
}

// is_csr: (i0, i1) = (indices, indptr); else (row, col).
ffi::Error SampledImpl(ffi::ThreadPool pool, ffi::AnyBuffer i0, ffi::AnyBuffer i1,
                       ffi::AnyBuffer p, ffi::AnyBuffer qt, ffi::Result<ffi::AnyBuffer> out,
                       int64_t is_csr, int64_t threads, int64_t own_core) {
  KeepOnOwnCore(own_core);
  int64_t cap = LeadingSize(*out);
  int64_t n_rows = LeadingSize(p), n_cols = LeadingSize(qt), k = TrailingSize(p);
  if (i0.element_type() != i1.element_type() || p.element_type() != qt.element_type() ||
      TrailingSize(qt) != k || LeadingSize(i0) < cap ||
      (is_csr ? LeadingSize(i1) != n_rows + 1 : LeadingSize(i1) < cap)) {
    return ffi::Error::InvalidArgument("jaxsparse sampled: inconsistent operands");
  }
  AdviseFreshOutput(out->untyped_data(), out->size_bytes());
  return DispatchTypes(p.element_type(), i0.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    auto run = is_csr ? CsrSampled<V, I> : CooSampled<V, I>;
    run(pool, threads, Ptr<I>(i0), Ptr<I>(i1), cap, n_rows, n_cols, k, Ptr<V>(p),
        Ptr<V>(qt), Ptr<V>(*out));
    return ffi::Error::Success();
  });
}

}  // namespace
}  // namespace jaxsparse

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsparseSampled, jaxsparse::SampledImpl,
                              jaxsparse::BindPoolAndBuffers<4>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("is_csr")
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("own_core"));
