// CSR times one vector through narrow column offsets: y = A @ x, where slot j of row r
// holds column r + offsets[j], offsets int8 or int16 (prepared on the host from the
// int32/int64 indices of a matrix whose entries lie near its diagonal: banded and
// stencil matrices; see formats/_offsets.py). Rows split over threads and each row summed
// in storage order, as the CSR kernel does, so the results are those bits.
//
// Why: the product reads 12 bytes per float64 nonzero with int32 indices and is at the
// memory rate on both cores; int8 offsets make it 9 bytes. And a row whose every
// possible column r + o (any o of the offset type) lies inside [0, n_cols) needs no
// range check per entry; only the first and last rows (within 128 or 32768 of an edge)
// do. So any offsets, even ones that do not match the indices, stay inside x: the fast
// loop never trusts its input.
// jnp twin: csr_offsets_matvec in jaxsparse/ops/_reference.py.
#include <cstdint>
#include <limits>
#include <type_traits>
#include <vector>

#include "common.h"
#include "hugepages.h"
#include "own_core.h"

namespace jaxsparse {
namespace {

// Rows [r0, r1) of out = A @ b near the first and last columns: every column tested.
template <typename V, typename O, typename I>
void EdgeRows(const V* __restrict data, const O* __restrict offsets,
              const I* __restrict indptr, int64_t cap, int64_t n_cols,
              const V* __restrict b, V* __restrict out, int64_t r0, int64_t r1) {
  int64_t end = Clamp(indptr[r0], 0, cap);  // carried from row to row (csr_matmul.cc)
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], 0, cap);
    V acc{};
    for (int64_t j = start; j < end; ++j) {
      int64_t c = r + offsets[j];
      if (InRange(c, n_cols)) acc += Mul(data[j], b[c]);
    }
    out[r] = acc;
  }
}

// Rows [r0, r1) of out = A @ b, each of whose possible columns is in range (see Rows):
// no test per entry. The matrix's streams are prefetched when kAhead. Complex values:
// GCC's vector code for the complex products ran 20% faster than the scalar loop (one
// thread, banded complex128).
template <bool kAhead, typename V, typename O, typename I>
void InsideRows(const V* __restrict data, const O* __restrict offsets,
                const I* __restrict indptr, int64_t cap, const V* __restrict b,
                V* __restrict out, int64_t r0, int64_t r1) {
  int64_t end = Clamp(indptr[r0], 0, cap);
  LinesAhead<V, O> ahead(data, offsets, end, cap);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], 0, cap);
    if constexpr (kAhead) ahead.Upto(end);
    const V* x = b + r;
    V acc{};
    for (int64_t j = start; j < end; ++j) acc += Mul(data[j], x[offsets[j]]);
    out[r] = acc;
  }
}

// InsideRows for real values, without the vectoriser (JAXSPARSE_SCALAR_LOOPS): GCC's
// vector code (in-order reductions over gathers) ran 35% slower in float32 and no faster
// in float64 (banded, one thread). Same sums in the same order: same bits.
template <bool kAhead, typename V, typename O, typename I>
JAXSPARSE_SCALAR_LOOPS void ScalarInsideRows(const V* __restrict data,
                                             const O* __restrict offsets,
                                             const I* __restrict indptr, int64_t cap,
                                             const V* __restrict b, V* __restrict out,
                                             int64_t r0, int64_t r1) {
  int64_t end = Clamp(indptr[r0], 0, cap);
  LinesAhead<V, O> ahead(data, offsets, end, cap);
  for (int64_t r = r0; r < r1; ++r) {
    int64_t start = end;
    end = Clamp(indptr[r + 1], 0, cap);
    if constexpr (kAhead) ahead.Upto(end);
    const V* x = b + r;
    V acc{};
    for (int64_t j = start; j < end; ++j) acc += Mul(data[j], x[offsets[j]]);
    out[r] = acc;
  }
}

template <typename V>
inline constexpr bool kIsComplex = !std::is_arithmetic_v<V>;

// Rows [r0, r1): those within reach of an edge tested, the rest not. Every row reads x
// near its diagonal, so the streams are prefetched as the CSR kernel's are there.
template <typename V, typename O, typename I>
void Rows(const V* data, const O* offsets, const I* indptr, int64_t cap, int64_t n_cols,
          const V* b, V* out, int64_t r0, int64_t r1) {
  // Rows [lo, hi) have every r + o, o of type O, inside [0, n_cols).
  const int64_t lo = -static_cast<int64_t>(std::numeric_limits<O>::min());
  const int64_t hi = n_cols - static_cast<int64_t>(std::numeric_limits<O>::max());
  const int64_t a = std::clamp(lo, r0, r1), z = std::clamp(hi, a, r1);
  EdgeRows(data, offsets, indptr, cap, n_cols, b, out, r0, a);
  bool ahead = StreamsOutgrowCache(cap, sizeof(V) + sizeof(O)) &&
               Clamp(indptr[z], 0, cap) - Clamp(indptr[a], 0, cap) >= kPrefetchMinSlots;
  if constexpr (kIsComplex<V>) {
    auto run = ahead ? InsideRows<true, V, O, I> : InsideRows<false, V, O, I>;
    run(data, offsets, indptr, cap, b, out, a, z);
  } else {
    auto run = ahead ? ScalarInsideRows<true, V, O, I> : ScalarInsideRows<false, V, O, I>;
    run(data, offsets, indptr, cap, b, out, a, z);
  }
  EdgeRows(data, offsets, indptr, cap, n_cols, b, out, z, r1);
}

template <typename V, typename O, typename I>
void OffsetsGather(ffi::ThreadPool& pool, int64_t threads, const V* data, const O* offsets,
                   const I* indptr, int64_t cap, int64_t n_rows, int64_t n_cols, const V* b,
                   V* out) {
  auto rows = [=](int64_t r0, int64_t r1) {
    Rows(data, offsets, indptr, cap, n_cols, b, out, r0, r1);
  };
  int64_t n_tasks = TasksFor(threads, Clamp(indptr[n_rows], 0, cap) + n_rows);
  if (n_tasks == 1) {
    rows(0, n_rows);
    return;
  }
  std::vector<int64_t> bounds(n_tasks + 1);
  SplitRows(indptr, n_rows, cap, n_tasks, bounds.data());
  ParallelFor(pool, threads, n_tasks, [&](int64_t t) { rows(bounds[t], bounds[t + 1]); });
}

ffi::Error CsrOffsetsImpl(ffi::ThreadPool pool, ffi::AnyBuffer data, ffi::AnyBuffer offsets,
                          ffi::AnyBuffer indptr, ffi::AnyBuffer b,
                          ffi::Result<ffi::AnyBuffer> out, int64_t threads, int64_t own_core) {
  KeepOnOwnCore(own_core);
  int64_t n_rows = LeadingSize(indptr) - 1;
  int64_t n_cols = LeadingSize(b);
  int64_t cap = std::min<int64_t>(LeadingSize(data), LeadingSize(offsets));
  if (n_rows < 0 || LeadingSize(*out) != n_rows || TrailingSize(b) != 1 ||
      data.element_type() != b.element_type()) {
    return ffi::Error::InvalidArgument("jaxsparse csr_offsets: inconsistent operands");
  }
  PreferHugePages(b.untyped_data(), b.size_bytes());
  AdviseFreshOutput(out->untyped_data(), out->size_bytes());
  ffi::Error done = DispatchTypes(b.element_type(), indptr.element_type(), [&](auto vt, auto it) {
    using V = typename decltype(vt)::type;
    using I = typename decltype(it)::type;
    auto run = [&](auto ot) {
      using O = typename decltype(ot)::type;
      OffsetsGather<V, O, I>(pool, threads, Ptr<V>(data), Ptr<O>(offsets), Ptr<I>(indptr),
                             cap, n_rows, n_cols, Ptr<V>(b), Ptr<V>(*out));
      return ffi::Error::Success();
    };
    switch (offsets.element_type()) {
      case ffi::DataType::S8: return run(Tag<int8_t>{});
      case ffi::DataType::S16: return run(Tag<int16_t>{});
      default: return ffi::Error::InvalidArgument("jaxsparse csr_offsets: int8/int16 offsets");
    }
  });
  PreferHugePages(out->untyped_data(), out->size_bytes());  // as csr_matmul.cc does
  return done;
}

}  // namespace
}  // namespace jaxsparse

// kCachedStreamBytes, for the Python lowering's choice between this kernel and the
// indices' (jaxsparse/ops/native/_lowerings.py, _csr_offsets_matvec).
extern "C" int64_t JaxsparseCachedStreamBytes() { return jaxsparse::kCachedStreamBytes; }

XLA_FFI_DEFINE_HANDLER_SYMBOL(JaxsparseCsrOffsets, jaxsparse::CsrOffsetsImpl,
                              jaxsparse::BindPoolAndBuffers<4>()
                                  .Ret<xla::ffi::AnyBuffer>()
                                  .Attr<int64_t>("threads")
                                  .Attr<int64_t>("own_core"));
