// Scatter products, out[dst, :] += value * b[src, :], for the transposed CSR product and
// the COO product. Entries are split into a fixed number of chunks (a function of the
// problem size, not of the thread count). Chunk 0 adds into `out`, every other chunk into
// a private buffer covering only the rows it touches (a narrow band for banded and
// sorted matrices), and the buffers are then added into `out` in chunk order. Every
// output row therefore sums the same terms in the same order for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <vector>

#include "common.h"

namespace jaxsparse {

// visit(chunk, f) must call f(dst, src, value) for the chunk's valid entries, in order.
template <typename V, typename Visit>
void ChunkedScatter(ffi::ThreadPool& pool, int64_t threads, int64_t n_chunks,
                    int64_t out_rows, int64_t k, const V* b, V* out, const Visit& visit) {
  std::fill(out, out + out_rows * k, V{});
  auto add_into = [&](V* target, int64_t base) {
    return [=](int64_t dst, int64_t src, V value) {
      V* o = target + (dst - base) * k;
      const V* x = b + src * k;
      if (k == 1) {
        o[0] += Mul(value, x[0]);
      } else {
        for (int64_t t = 0; t < k; ++t) o[t] += Mul(value, x[t]);
      }
    };
  };
  if (n_chunks <= 1) {
    visit(0, add_into(out, 0));
    return;
  }
  std::vector<int64_t> lo(n_chunks, 0), hi(n_chunks, -1);
  std::vector<std::unique_ptr<V[]>> partial(n_chunks);
  ParallelFor(pool, threads, n_chunks, [&](int64_t c) {
    if (c == 0) {
      visit(0, add_into(out, 0));
      return;
    }
    int64_t l = out_rows, h = -1;
    visit(c, [&](int64_t dst, int64_t, V) {
      l = std::min(l, dst);
      h = std::max(h, dst);
    });
    if (h < l) return;
    lo[c] = l;
    hi[c] = h;
    partial[c].reset(new V[(h - l + 1) * k]());  // value-initialised: zeros
    visit(c, add_into(partial[c].get(), l));
  });
  int64_t blocks = TasksFor(threads, out_rows * k);
  int64_t rows_per = (out_rows + blocks - 1) / blocks;
  ParallelFor(pool, threads, blocks, [&](int64_t blk) {
    int64_t r0 = blk * rows_per, r1 = std::min(out_rows, r0 + rows_per);
    for (int64_t c = 1; c < n_chunks; ++c) {
      if (!partial[c]) continue;
      int64_t a = std::max(r0, lo[c]), e = std::min(r1, hi[c] + 1);
      const V* src = partial[c].get() + (a - lo[c]) * k;
      V* dst = out + a * k;
      for (int64_t i = 0; i < (e - a) * k; ++i) dst[i] += src[i];
    }
  });
}

}  // namespace jaxsparse
