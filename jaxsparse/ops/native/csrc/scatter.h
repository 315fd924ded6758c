// Scatter products, out[dst, :] += value * b[src, :], for the transposed CSR product and
// the COO product.
//
// Entries are split into a fixed number of chunks, a function of the problem (its size
// and pattern), never of the thread count. Chunk 0 adds into `out`; every other chunk
// adds into a private buffer covering only the output rows it touches, and the buffers
// are then added into `out` in chunk order. Every output row therefore sums the same
// terms in the same order for any number of threads. Where the chunks' row ranges are
// wide (a random pattern: each buffer would be as large as `out`), the buffers would
// cost more than the parallel scatter saves, and the product runs as one chunk.
#pragma once

#include <algorithm>
#include <cstdint>
#include <mutex>
#include <vector>

#include "common.h"

namespace jaxsparse {

// Reuses partial-sum buffers across calls: a fresh allocation per call would page-fault
// through megabytes of new memory every time.
class BufferPool {
 public:
  static BufferPool& Get() {
    static BufferPool* pool = new BufferPool;  // never destroyed: used until exit
    return *pool;
  }
  std::vector<char> Take(size_t bytes) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto it = free_.begin(); it != free_.end(); ++it) {
        if (it->size() >= bytes) {
          std::vector<char> found = std::move(*it);
          free_.erase(it);
          return found;
        }
      }
    }
    return std::vector<char>(bytes);
  }
  void Give(std::vector<char>&& buffer) {
    std::lock_guard<std::mutex> lock(mu_);
    if (free_.size() < 32) free_.push_back(std::move(buffer));
  }

 private:
  std::mutex mu_;
  std::vector<std::vector<char>> free_;
};

// scatter(chunk, n_chunks, target, base) adds chunk `chunk` of `n_chunks` into rows
// [base, ...) of target; rows(chunk, n_chunks, &lo, &hi) finds the output rows it
// touches (hi < lo: none).
template <typename V, typename Scatter, typename Rows>
void ChunkedScatter(ffi::ThreadPool& pool, int64_t threads, int64_t max_chunks,
                    int64_t work, int64_t out_rows, int64_t k, V* out,
                    const Scatter& scatter, const Rows& rows) {
  std::fill(out, out + out_rows * k, V{});
  if (max_chunks <= 1) {
    scatter(0, 1, out, 0);
    return;
  }
  const int64_t n_chunks = max_chunks;
  std::vector<int64_t> lo(n_chunks, 0), hi(n_chunks, -1);
  ParallelFor(pool, threads, n_chunks - 1,
              [&](int64_t c) { rows(c + 1, n_chunks, &lo[c + 1], &hi[c + 1]); });
  std::vector<int64_t> offset(n_chunks + 1, 0);
  for (int64_t c = 1; c < n_chunks; ++c) {
    offset[c + 1] = offset[c] + std::max<int64_t>(hi[c] - lo[c] + 1, 0) * k;
  }
  if (offset[n_chunks] > work / 4) {  // wide ranges: buffers cost more than they save
    scatter(0, 1, out, 0);
    return;
  }
  std::vector<char> bytes = BufferPool::Get().Take(offset[n_chunks] * sizeof(V));
  V* partial = reinterpret_cast<V*>(bytes.data());
  ParallelFor(pool, threads, n_chunks, [&](int64_t c) {
    if (c == 0) {
      scatter(0, n_chunks, out, 0);
    } else if (hi[c] >= lo[c]) {
      std::fill(partial + offset[c], partial + offset[c + 1], V{});
      scatter(c, n_chunks, partial + offset[c], lo[c]);
    }
  });
  int64_t blocks = TasksFor(threads, offset[n_chunks]);
  int64_t rows_per = (out_rows + blocks - 1) / blocks;
  ParallelFor(pool, threads, blocks, [&](int64_t blk) {
    int64_t r0 = blk * rows_per, r1 = std::min(out_rows, r0 + rows_per);
    for (int64_t c = 1; c < n_chunks; ++c) {
      int64_t a = std::max(r0, lo[c]), e = std::min(r1, hi[c] + 1);
      const V* src = partial + offset[c] + (a - lo[c]) * k;
      V* dst = out + a * k;
      for (int64_t i = 0; i < (e - a) * k; ++i) dst[i] += src[i];
    }
  });
  BufferPool::Get().Give(std::move(bytes));
}

}  // namespace jaxsparse
