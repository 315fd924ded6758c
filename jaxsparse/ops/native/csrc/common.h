// Shared pieces of the native CPU kernels: the thread split, dtype dispatch and the
// arithmetic helpers. Each kernel family lives in its own .cc file with a jnp twin in
// jaxsparse/ops/_reference.py (the "xla" backend), which the tests compare against.
#pragma once

#include <algorithm>
#include <atomic>
#include <complex>
#include <cstdint>
#include <memory>
#include <thread>
#include <type_traits>
#include <utility>

#include "xla/ffi/api/ffi.h"

namespace jaxsparse {
namespace ffi = xla::ffi;

// Runs body(i) for every i in [0, n_tasks) on at most `threads` threads: the calling
// thread plus up to threads - 1 tasks on XLA's intra-op pool, all claiming indices from
// one counter. The caller always works too, so a busy pool (another device's kernel,
// or a pool thread calling us) delays nothing and can never deadlock. A pool task that
// starts after every index is claimed returns without touching `body`, which is why the
// caller may return as soon as all claimed indices are done.
template <typename F>
void ParallelFor(ffi::ThreadPool& pool, int64_t threads, int64_t n_tasks, const F& body) {
  int64_t helpers = std::min<int64_t>(threads - 1, n_tasks - 1);
  helpers = std::min<int64_t>(helpers, pool.num_threads());
  if (helpers <= 0) {
    for (int64_t i = 0; i < n_tasks; ++i) body(i);
    return;
  }
  struct Shared {
    std::atomic<int64_t> next{0};
    std::atomic<int64_t> done{0};
    int64_t n = 0;
    const F* body = nullptr;
  };
  auto shared = std::make_shared<Shared>();
  shared->n = n_tasks;
  shared->body = &body;
  auto work = [](Shared& s) {
    for (;;) {
      int64_t i = s.next.fetch_add(1, std::memory_order_relaxed);
      if (i >= s.n) return;
      (*s.body)(i);
      s.done.fetch_add(1, std::memory_order_release);
    }
  };
  for (int64_t h = 0; h < helpers; ++h) {
    pool.Schedule([shared, work] { work(*shared); });
  }
  work(*shared);
  while (shared->done.load(std::memory_order_acquire) < n_tasks) std::this_thread::yield();
}

// Below this many multiply-adds a call runs on one thread: waking a pool thread costs
// more than the work.
inline constexpr int64_t kMinParallelWork = 1 << 15;

inline int64_t TasksFor(int64_t threads, int64_t work) {
  if (threads <= 1 || work < kMinParallelWork) return 1;
  return threads * 4;  // a few tasks per thread absorb uneven rows
}

// Number of private partial sums for a scatter (transposed) product. It depends on the
// problem size only, never on the thread count, so results are bitwise identical for
// any number of threads.
inline int64_t ScatterChunks(int64_t work) {
  return std::clamp<int64_t>(work / (1 << 16), 1, 8);
}

// x in [0, n): one unsigned compare. Padding slots carry the sentinel n, and anything
// else out of range is dropped the same way (the xla backend's mode="drop"/"fill").
template <typename I>
inline bool InRange(I x, int64_t n) {
  return static_cast<uint64_t>(static_cast<int64_t>(x)) < static_cast<uint64_t>(n);
}

// The smallest and largest valid (in [0, n)) value of idx[0..len) in *lo / *hi; *hi < *lo
// when none is valid. Unsigned compares and selects in the index type itself, so the loop
// vectorises (a loop-carried scalar min/max costs as much as the product it sizes).
template <typename I>
void ValidRange(const I* __restrict idx, int64_t len, int64_t n, int64_t* lo, int64_t* hi) {
  using U = std::make_unsigned_t<I>;
  const U bound = static_cast<U>(n);
  // Out-of-range values are >= bound as unsigned, so they never lower the min; for the
  // max they are masked to 0. Two plain min/max reductions: vectorised.
  U l = bound, h = 0;
  for (int64_t j = 0; j < len; ++j) {
    U u = static_cast<U>(idx[j]);
    U keep = static_cast<U>(0) - static_cast<U>(u < bound);  // all ones where valid
    l = std::min(l, u);
    h = std::max(h, static_cast<U>(u & keep));
  }
  if (l >= bound) {  // nothing valid
    *lo = 0;
    *hi = -1;
    return;
  }
  *lo = static_cast<int64_t>(l);
  *hi = static_cast<int64_t>(h);
}

template <typename I>
inline int64_t Clamp(I x, int64_t lo, int64_t hi) {
  return std::clamp<int64_t>(static_cast<int64_t>(x), lo, hi);
}

// Software prefetch of a compressed matrix's two streams, its values and its indices,
// read front to back in step: call Upto(j) before reading slot j (and those before it).
// Both are prefetched kPrefetchSlots slots ahead, in one loop, a cache line of the wider
// one at a time. Prefetches never fault, and none goes past `limit`. (The distance was
// swept over 128-2048 slots: 256-512 were best. The same distance in bytes for both,
// which put int32 indices twice as far ahead, lost the banded matrix's gain.)
inline constexpr int64_t kPrefetchSlots = 512;
inline constexpr int64_t kCacheLine = 64;

template <typename V, typename I>
class StreamsAhead {
 public:
  StreamsAhead(const V* values, const I* indices, int64_t from, int64_t limit)
      : values_(values), indices_(indices), next_(from), limit_(limit) {}
  void Upto(int64_t j) {
    for (int64_t stop = std::min(j + kPrefetchSlots, limit_); next_ < stop; next_ += kStep) {
      __builtin_prefetch(values_ + next_, 0, 0);
      __builtin_prefetch(indices_ + next_, 0, 0);
    }
  }

 private:
  static constexpr int64_t kStep = std::max<int64_t>(
      1, kCacheLine / static_cast<int64_t>(std::max(sizeof(V), sizeof(I))));
  const V* values_;
  const I* indices_;
  int64_t next_, limit_;
};

// StreamsAhead for a values stream beside a much narrower one (int8/int16 offsets,
// csr_offsets.cc): each stream prefetched once per cache line of its own, where
// StreamsAhead would prefetch the narrow one's lines 4-8 times each. Banded float64,
// same-process A/B: 1 thread 13.7 -> 12.9 ms, 2 threads 7.1 -> 6.8.
template <typename V, typename O>
class LinesAhead {
 public:
  LinesAhead(const V* values, const O* narrow, int64_t from, int64_t limit)
      : values_(values), narrow_(narrow), next_values_(from), next_narrow_(from),
        limit_(limit) {}
  void Upto(int64_t j) {
    const int64_t stop = std::min(j + kPrefetchSlots, limit_);
    for (; next_values_ < stop; next_values_ += kValueStep) {
      __builtin_prefetch(values_ + next_values_, 0, 0);
    }
    for (; next_narrow_ < stop; next_narrow_ += kNarrowStep) {
      __builtin_prefetch(narrow_ + next_narrow_, 0, 0);
    }
  }

 private:
  static constexpr int64_t kValueStep =
      std::max<int64_t>(1, kCacheLine / static_cast<int64_t>(sizeof(V)));
  static constexpr int64_t kNarrowStep =
      std::max<int64_t>(1, kCacheLine / static_cast<int64_t>(sizeof(O)));
  const V* values_;
  const O* narrow_;
  int64_t next_values_, next_narrow_, limit_;
};

// Tasks of fewer slots than this are not prefetched (StreamsAhead): too short to pay
// for the extra loop.
inline constexpr int64_t kPrefetchMinSlots = 1 << 14;

// Whether a matrix's streams (its values and its indices or offsets, `slots` entries
// of `bytes_per_slot` in all) outgrow what stays in the last-level cache from one
// product to the next, and so are worth prefetching (StreamsAhead, LinesAhead). A
// matrix that fits is read from the cache in every iteration of a solver after the
// first; the hardware prefetcher keeps up there and the prefetch loop is only extra
// work. Same-process A/B, 100 products in one jitted loop, median ms, 1 / 2 threads:
// the CSR kernel over the demo's power-iteration matrix (n = 20000, 420k entries, 5 MB
// of float64 streams) 44.9 / 22.9 -> 35.1 / 19.3; a 2-D Poisson matrix of 3.9 MB 25.1 /
// 14.5 -> 24.9 / 13.0. Larger ones gain from the prefetch (unprefetched -> prefetched,
// 1 thread: a 2-D Poisson matrix of 15 MB 119.7 -> 98.0, a band of 53 MB 312.7 ->
// 294.0; between them it varies: a band of 13 MB ran 87.0 -> 100.8). A quarter of this machine's 32 MB L3,
// which its neighbours share; a constant, since the L3 size the system reports
// (sysconf) here is the host's 320 MB.
inline constexpr int64_t kCachedStreamBytes = int64_t{8} << 20;

inline bool StreamsOutgrowCache(int64_t slots, int64_t bytes_per_slot) {
  return slots * bytes_per_slot >= kCachedStreamBytes;
}

// A row loop compiled without the vectoriser: GCC turns a float row sum into an
// in-order reduction over masked gathers, slower than the scalar loop on short rows.
#if defined(__GNUC__) && !defined(__clang__)
#define JAXSPARSE_SCALAR_LOOPS __attribute__((optimize("no-tree-vectorize")))
#else
#define JAXSPARSE_SCALAR_LOOPS
#endif

// Columns of a k-column operand are summed in panels of kPanel: a fixed-size accumulator
// stays in registers (a k-long one would be loaded and stored for every term).
inline constexpr int64_t kPanel = 8;

// For a panel's loop over terms: left to the loop vectoriser, GCC 12 vectorises the
// loop over terms instead of the panel's columns, with gathers (DIA, 16 columns: 6x
// slower); the straight-line panel still becomes vector code (SLP).
#if defined(__GNUC__) && !defined(__clang__)
#define JAXSPARSE_NO_LOOP_VECTORIZER __attribute__((optimize("no-tree-loop-vectorize")))
#else
#define JAXSPARSE_NO_LOOP_VECTORIZER
#endif

// a * b without std::complex's NaN/inf recovery path (a libgcc call per product); this
// is the textbook formula XLA itself uses for complex multiplication.
template <typename T>
inline T Mul(T a, T b) {
  return a * b;
}
template <typename R>
inline std::complex<R> Mul(std::complex<R> a, std::complex<R> b) {
  return {a.real() * b.real() - a.imag() * b.imag(),
          a.real() * b.imag() + a.imag() * b.real()};
}

// Row boundaries of `n_tasks` contiguous row ranges with about equal cost, cost(row r) =
// its nonzeros + 1. bounds has n_tasks + 1 entries.
template <typename I>
void SplitRows(const I* indptr, int64_t n_rows, int64_t cap, int64_t n_tasks,
               int64_t* bounds) {
  auto cost = [&](int64_t r) { return Clamp(indptr[r], 0, cap) + r; };
  int64_t total = cost(n_rows);
  bounds[0] = 0;
  for (int64_t t = 1; t < n_tasks; ++t) {
    int64_t target = total / n_tasks * t + (total % n_tasks) * t / n_tasks;
    int64_t lo = bounds[t - 1], hi = n_rows;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (cost(mid) < target) lo = mid + 1; else hi = mid;
    }
    bounds[t] = lo;
  }
  bounds[n_tasks] = n_rows;
}

template <typename T>
struct Tag {
  using type = T;
};

// Calls fn(Tag<V>{}, Tag<I>{}) for the value and index dtypes of a call; the Python side
// sends only these value dtypes (others are cast or go to the xla backend).
template <typename Fn>
ffi::Error DispatchTypes(ffi::DataType value, ffi::DataType index, Fn&& fn) {
  auto with_index = [&](auto vtag) -> ffi::Error {
    switch (index) {
      case ffi::DataType::S32: return fn(vtag, Tag<int32_t>{});
      case ffi::DataType::S64: return fn(vtag, Tag<int64_t>{});
      default: return ffi::Error::InvalidArgument("jaxsparse: indices must be int32 or int64");
    }
  };
  switch (value) {
    case ffi::DataType::F32: return with_index(Tag<float>{});
    case ffi::DataType::F64: return with_index(Tag<double>{});
    case ffi::DataType::C64: return with_index(Tag<std::complex<float>>{});
    case ffi::DataType::C128: return with_index(Tag<std::complex<double>>{});
    case ffi::DataType::S32: return with_index(Tag<int32_t>{});
    case ffi::DataType::S64: return with_index(Tag<int64_t>{});
    default:
      return ffi::Error::InvalidArgument(
          "jaxsparse: native kernels take float32/64, complex64/128, int32/64 values");
  }
}

// Elements per leading index of a buffer: 1 for a vector, k for an (n, k) matrix.
inline int64_t TrailingSize(const ffi::AnyBuffer& buffer) {
  auto dims = buffer.dimensions();
  int64_t k = 1;
  for (size_t d = 1; d < dims.size(); ++d) k *= dims[d];
  return k;
}

// The buffer's elements as T (the dtype was checked by DispatchTypes).
template <typename T>
inline T* Ptr(const ffi::AnyBuffer& buffer) {
  return static_cast<T*>(buffer.untyped_data());
}

inline int64_t LeadingSize(const ffi::AnyBuffer& buffer) {
  auto dims = buffer.dimensions();
  return dims.size() == 0 ? 1 : dims[0];
}

// The binding every kernel starts with: XLA's intra-op pool, then `n` buffer arguments.
template <size_t n>
auto BindPoolAndBuffers() {
  if constexpr (n == 0) {
    return ffi::Ffi::Bind().Ctx<ffi::ThreadPool>();
  } else {
    return BindPoolAndBuffers<n - 1>().template Arg<ffi::AnyBuffer>();
  }
}

}  // namespace jaxsparse
