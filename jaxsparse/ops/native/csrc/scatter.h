// Scatter products, out[dst, :] += value * b[src, :], for the transposed CSR product and
// the COO product.
//
// Entries are split into groups of chunks, a function of the problem (its size and
// pattern), never of the thread count. Group 0 adds into `out`; every other group adds
// into a private buffer covering only the output rows it touches, and the buffers are
// then added into `out` in group order. Every output row therefore sums the same terms
// in the same order for any number of threads.
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

// The entries are cut into n_fine chunks, and consecutive chunks are grouped: group 0
// adds into `out`, every other group into a private buffer over the output rows it
// touches. scatter(c0, c1, target, base) adds fine chunks [c0, c1) into rows
// [base, ...) of target; rows(c, &lo, &hi) finds the output rows fine chunk c touches
// (hi < lo: none). The grouping is the finest whose buffers cost at most a quarter of
// the work: a banded pattern keeps every chunk apart, a random one (each buffer as wide
// as `out`) still splits in two, where a buffer costs a tenth of the scatter.
template <typename V, typename Scatter, typename Rows>
void ChunkedScatter(ffi::ThreadPool& pool, int64_t threads, int64_t n_fine, int64_t work,
                    int64_t out_rows, int64_t k, V* out, const Scatter& scatter,
                    const Rows& rows) {
  std::fill(out, out + out_rows * k, V{});
  std::vector<int64_t> fine_lo(n_fine, 0), fine_hi(n_fine, -1);
  if (n_fine > 1) {
    ParallelFor(pool, threads, n_fine - 1,
                [&](int64_t c) { rows(c + 1, &fine_lo[c + 1], &fine_hi[c + 1]); });
  }
  int64_t per_group = 1, n_groups = n_fine;
  std::vector<int64_t> lo, hi, offset;
  for (; per_group < n_fine; per_group *= 2) {
    n_groups = (n_fine + per_group - 1) / per_group;
    lo.assign(n_groups, 0);
    hi.assign(n_groups, -1);
    offset.assign(n_groups + 1, 0);
    for (int64_t g = 1; g < n_groups; ++g) {
      for (int64_t c = g * per_group; c < std::min(n_fine, (g + 1) * per_group); ++c) {
        if (fine_hi[c] < fine_lo[c]) continue;
        lo[g] = hi[g] < lo[g] ? fine_lo[c] : std::min(lo[g], fine_lo[c]);
        hi[g] = std::max(hi[g], fine_hi[c]);
      }
      offset[g + 1] = offset[g] + std::max<int64_t>(hi[g] - lo[g] + 1, 0) * k;
    }
    if (offset[n_groups] <= work / 4) break;
  }
  if (per_group >= n_fine) {
    scatter(0, n_fine, out, 0);
    return;
  }
  auto first = [&](int64_t g) { return std::min(n_fine, g * per_group); };
  std::vector<char> bytes = BufferPool::Get().Take(offset[n_groups] * sizeof(V));
  V* partial = reinterpret_cast<V*>(bytes.data());
  ParallelFor(pool, threads, n_groups, [&](int64_t g) {
    if (g == 0) {
      scatter(0, first(1), out, 0);
    } else if (hi[g] >= lo[g]) {
      std::fill(partial + offset[g], partial + offset[g + 1], V{});
      scatter(first(g), first(g + 1), partial + offset[g], lo[g]);
    }
  });
  int64_t blocks = TasksFor(threads, offset[n_groups]);
  int64_t rows_per = (out_rows + blocks - 1) / blocks;
  ParallelFor(pool, threads, blocks, [&](int64_t blk) {
    int64_t r0 = blk * rows_per, r1 = std::min(out_rows, r0 + rows_per);
    for (int64_t g = 1; g < n_groups; ++g) {
      int64_t a = std::max(r0, lo[g]), e = std::min(r1, hi[g] + 1);
      const V* src = partial + offset[g] + (a - lo[g]) * k;
      V* dst = out + a * k;
      for (int64_t i = 0; i < (e - a) * k; ++i) dst[i] += src[i];
    }
  });
  BufferPool::Get().Give(std::move(bytes));
}

}  // namespace jaxsparse
