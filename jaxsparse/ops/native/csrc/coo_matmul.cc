// COO times dense: out[dst_k, :] += data_k * b[src_k, :] with (dst, src) = (row, col),
// or (col, row) for A.T @ b (the Python side swaps them). Entries may come in any order,
// so this is a scatter (scatter.h). jnp twin: coo_matmul in jaxsparse/ops/_reference.py.
#include "common.h"
#include "scatter.h"

namespace jaxsparse {
namespace {

template <typename V, typename I>
void CooScatter(ffi::ThreadPool& pool, int64_t threads, const V* data, const I* dst,
                const I* src, int64_t cap, int64_t n_out, int64_t n_in, int64_t k,
                const V* b, V* out) {
  int64_t n_chunks = ScatterChunks(cap * k);
  int64_t per = (cap + n_chunks - 1) / n_chunks;
  auto visit = [=](int64_t chunk, auto&& f) {  // by value: pointers stay in registers
    int64_t e1 = std::min(cap, (chunk + 1) * per);
    for (int64_t e = chunk * per; e < e1; ++e) {
      I d = dst[e], s = src[e];
      if (InRange(d, n_out) && InRange(s, n_in)) {
        f(static_cast<int64_t>(d), static_cast<int64_t>(s), data[e]);
      }
    }
  };
  ChunkedScatter(pool, threads, n_chunks, n_out, k, b, out, visit);
}

ffi::Error CooMatmulImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer dst,
                         ffi::AnyBuffer src, ffi::AnyBuffer b,
                         ffi::Result<ffi::AnyBuffer> out, int64_t threads) {
  int64_t cap = std::min({LeadingSize(data), LeadingSize(dst), LeadingSize(src)});
  if (dst.element_type() != src.element_type() ||
      data.element_type() != b.element_type()) {
    return ffi::Error::InvalidArgument("jaxsparse coo_matmul: inconsistent operands");
  }
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
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Arg<xla::ffi::AnyBuffer>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads"));
