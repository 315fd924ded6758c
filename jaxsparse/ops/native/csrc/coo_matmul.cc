// COO times dense: out[dst_k, :] += data_k * b[src_k, :] with (dst, src) = (row, col),
// or (col, row) for A.T @ b (the Python side swaps them). Entries may come in any order,
// so this is a scatter (scatter.h). jnp twin: coo_matmul in jaxsparse/ops/_reference.py.
#include "common.h"
#include "hugepages.h"
#include "scatter.h"

namespace jaxsparse {
namespace {

// Entries [e0, e1) added into rows [base, base + span) of target (its first row is
// output row `base`); returns whether a row in [0, n_out) fell outside them (as
// ScatterRows in csr_matmul.cc). Compiled once for one vector (kVector, k == 1) and once
// for k columns: a runtime k == 1 test in the loop slowed the one-vector loop (see
// VectorRows in csr_matmul.cc).
template <bool kVector, typename V, typename I>
bool ScatterEntries(const V* __restrict data, const I* __restrict dst,
                    const I* __restrict src, int64_t n_out, int64_t n_in, int64_t k,
                    const V* __restrict b, V* __restrict target, int64_t base,
                    int64_t span, int64_t e0, int64_t e1) {
  const int64_t step = kVector ? 1 : k;
  bool outside = false;
  for (int64_t e = e0; e < e1; ++e) {
    I d = dst[e], s = src[e];
    if (!InRange(d - base, span)) {
      outside |= InRange(d, n_out);
      continue;
    }
    if (!InRange(s, n_in)) continue;
    V* o = target + (static_cast<int64_t>(d) - base) * step;
    const V* x = b + static_cast<int64_t>(s) * step;
    if constexpr (kVector) {
      o[0] += Mul(data[e], x[0]);
    } else {
      for (int64_t t = 0; t < k; ++t) o[t] += Mul(data[e], x[t]);
    }
  }
  return outside;
}

template <typename V, typename I>
void CooScatter(ffi::ThreadPool& pool, int64_t threads, const V* data, const I* dst,
                const I* src, int64_t cap, int64_t n_out, int64_t n_in, int64_t k,
                const V* b, V* out) {
  const int64_t n_fine = ScatterChunks(cap * k);
  const int64_t per = (cap + n_fine - 1) / n_fine;
  auto entry = [=](int64_t c) { return std::min(cap, c * per); };  // first of fine chunk c
  auto scatter = [=](int64_t c0, int64_t c1, V* target, int64_t base, int64_t span) {
    auto run = k == 1 ? ScatterEntries<true, V, I> : ScatterEntries<false, V, I>;
    return run(data, dst, src, n_out, n_in, k, b, target, base, span, entry(c0),
               entry(c1));
  };
  // Chunk c's rows are those of all its entries, also those whose column is out of
  // range: a wider buffer, never a wrong one.
  auto slots = [=](int64_t c, int64_t* e0, int64_t* e1) {
    *e0 = entry(c);
    *e1 = entry(c + 1);
  };
  int64_t work = cap * k;
  ChunkedScatter(pool, threads, n_fine, work, dst, n_out, k, out, slots, scatter);
}

ffi::Error CooMatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer dst,
                         ffi::AnyBuffer src, ffi::AnyBuffer b,
                         ffi::Result<ffi::AnyBuffer> out, int64_t threads) {
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
                                  .Attr<int64_t>("threads"));
