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

#include "chunk_ranges.h"
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

// Adds every chunk into `out`, grouped by the chunks' ranges `fine` (ChunkedScatter,
// below). Returns false, with nothing added up, when an entry lay outside its group's
// range: `fine` was kept from an older array.
template <typename V, typename Scatter>
bool ScatterGroups(ffi::ThreadPool& pool, int64_t threads, int64_t n_fine, int64_t work,
                   int64_t out_rows, int64_t k, V* out, const Scatter& scatter,
                   const std::vector<ChunkRange>& fine) {
  std::fill(out, out + out_rows * k, V{});
  int64_t per_group = 1, n_groups = n_fine;
  std::vector<int64_t> lo, hi, offset;
  for (; per_group < n_fine; per_group *= 2) {
    n_groups = (n_fine + per_group - 1) / per_group;
    lo.assign(n_groups, 0);
    hi.assign(n_groups, -1);
    offset.assign(n_groups + 1, 0);
    for (int64_t g = 1; g < n_groups; ++g) {
      for (int64_t c = g * per_group; c < std::min(n_fine, (g + 1) * per_group); ++c) {
        if (fine[c].hi < fine[c].lo) continue;
        lo[g] = hi[g] < lo[g] ? fine[c].lo : std::min(lo[g], fine[c].lo);
        hi[g] = std::max(hi[g], fine[c].hi);
      }
      offset[g + 1] = offset[g] + std::max<int64_t>(hi[g] - lo[g] + 1, 0) * k;
    }
    if (offset[n_groups] <= work / 4) break;
  }
  if (per_group >= n_fine) return !scatter(0, n_fine, out, 0, out_rows);
  auto first = [&](int64_t g) { return std::min(n_fine, g * per_group); };
  std::vector<char> bytes = BufferPool::Get().Take(offset[n_groups] * sizeof(V));
  V* partial = reinterpret_cast<V*>(bytes.data());
  std::vector<char> outside(n_groups, 0);
  ParallelFor(pool, threads, n_groups, [&](int64_t g) {
    if (g == 0) {
      outside[g] = scatter(0, first(1), out, 0, out_rows);
    } else {  // an empty group too: any entry in range is then outside its kept range
      std::fill(partial + offset[g], partial + offset[g + 1], V{});
      int64_t span = std::max<int64_t>(hi[g] - lo[g] + 1, 0);
      outside[g] = scatter(first(g), first(g + 1), partial + offset[g], lo[g], span);
    }
  });
  bool complete = std::find(outside.begin(), outside.end(), 1) == outside.end();
  if (complete) {
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
  }
  BufferPool::Get().Give(std::move(bytes));
  return complete;
}

// The entries are cut into n_fine chunks, chunk c being idx[j0, j1) for
// slots(c, &j0, &j1) (idx: each entry's output row), and consecutive chunks are grouped:
// group 0 adds into `out`, every other group into a private buffer over the output rows
// it touches. scatter(c0, c1, target, base, span) adds fine chunks [c0, c1) into rows
// [base, base + span) of target, and returns whether it skipped an entry in [0, out_rows)
// outside them. The grouping is the finest whose buffers cost at most a quarter of the
// work: a banded pattern keeps every chunk apart, a random one (each buffer as wide as
// `out`) still splits in two, where a buffer costs a tenth of the scatter. The chunks'
// ranges are kept between calls (chunk_ranges.h).
template <typename V, typename I, typename Slots, typename Scatter>
void ChunkedScatter(ffi::ThreadPool& pool, int64_t threads, int64_t n_fine, int64_t work,
                    const I* idx, int64_t out_rows, int64_t k, V* out, const Slots& slots,
                    const Scatter& scatter) {
  if (n_fine <= 1) {
    std::fill(out, out + out_rows * k, V{});
    scatter(0, n_fine, out, 0, out_rows);
    return;
  }
  std::vector<int64_t> cut(2 * n_fine);
  for (int64_t c = 0; c < n_fine; ++c) slots(c, &cut[2 * c], &cut[2 * c + 1]);
  // chunk 0 always adds into `out`: its range is never needed (left "none")
  std::vector<ChunkRange> fine(n_fine);
  auto find_all = [&] {
    ParallelFor(pool, threads, n_fine - 1, [&](int64_t c) {
      fine[c + 1] = FindRange(idx, cut[2 * c + 2], cut[2 * c + 3], out_rows);
    });
    RangeMemo::Get().Keep(idx, out_rows, cut, fine);
  };
  bool kept = RangeMemo::Get().Find(idx, out_rows, cut, &fine);
  for (int64_t c = 1; kept && c < n_fine; ++c) {
    kept = EndsStillThere(fine[c], idx, cut[2 * c], cut[2 * c + 1]);
  }
  if (!kept) find_all();
  if (ScatterGroups(pool, threads, n_fine, work, out_rows, k, out, scatter, fine)) return;
  find_all();  // the kept ranges were an older array's
  ScatterGroups(pool, threads, n_fine, work, out_rows, k, out, scatter, fine);
}

}  // namespace jaxsparse
