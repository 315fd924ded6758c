// Scatter products, out[dst, :] += value * b[src, :], for the transposed CSR product and
// the COO product.
//
// The entries are cut into chunks and the chunks into groups as a function of the
// problem (its size and pattern), never of the thread count. Each group sums its terms
// in storage order and the groups are combined in a fixed order, so every output row
// sums the same terms in the same order for any number of threads. A group adds into
// `out` itself wherever no other group can write at the same time, and into a private
// buffer otherwise:
//   1. group 0 adds all its entries into `out`; a "band" group (banded and stencil
//      patterns) has output rows of its own, which no other group's entries reach, and
//      adds its middle units (rows of A; entries of a COO), all of whose rows are its
//      own, into `out` too; every other group adds into its buffer;
//   2. the last units of every band group, whose rows it shares with the next group,
//      add into `out` (no two groups' last units reach the same row);
//   3. then their first units, the same way;
//   4. the buffers are added into `out`, in group order.
// A band pattern so moves no buffers at all, where a buffer per group over all the rows
// it touches would write and read most of `out` once more.
#pragma once

#include <algorithm>
#include <atomic>
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

// Output rows [lo, hi]; none when hi < lo.
struct Rows {
  int64_t lo = 0, hi = -1;

  bool empty() const { return hi < lo; }
  int64_t size() const { return empty() ? 0 : hi - lo + 1; }
  bool holds(Rows r) const { return r.empty() || (lo <= r.lo && r.hi <= hi); }
  bool meets(Rows r) const { return !empty() && !r.empty() && lo <= r.hi && r.lo <= hi; }
  void add(Rows r) {
    if (r.empty()) return;
    if (empty()) {
      *this = r;
    } else {
      lo = std::min(lo, r.lo);
      hi = std::max(hi, r.hi);
    }
  }
};

// Band groups run so far, for the tests (JaxsparseBandGroups in chunk_ranges.cc).
inline std::atomic<int64_t>& BandGroupsRun() {
  static std::atomic<int64_t> count{0};
  return count;
}

// One group of chunks and how it adds (see the top of this file).
struct Group {
  int64_t c0 = 0, c1 = 0;  // its chunks [c0, c1)
  Rows rows;               // the rows its entries reach
  bool band = false;
  Rows own;                // band: the rows no other group reaches
  int64_t m0 = 0, m1 = 0;  // band: its middle units [m0, m1), all reaching own rows only
  Rows first, last;        // band: rows its first units [.., m0) / last [m1, ..) reach
  int64_t offset = 0;      // otherwise (but group 0): where its buffer starts
};

// The longest run of rows of group g that no other group reaches.
inline Rows OwnRows(const std::vector<Group>& groups, size_t g) {
  Rows mine = groups[g].rows;
  std::vector<std::pair<int64_t, int64_t>> taken;
  for (size_t h = 0; h < groups.size(); ++h) {
    Rows r = groups[h].rows;
    if (h != g && r.meets(mine)) {
      taken.emplace_back(std::max(r.lo, mine.lo), std::min(r.hi, mine.hi));
    }
  }
  std::sort(taken.begin(), taken.end());
  Rows best;
  int64_t next = mine.lo;  // the first row not known to be taken
  auto consider = [&](int64_t a, int64_t b) {  // free rows [a, b]
    if (b - a + 1 > best.size()) best = {a, b};
  };
  for (auto [a, b] : taken) {
    consider(next, a - 1);
    next = std::max(next, b + 1);
  }
  consider(next, mine.hi);
  return best;
}

// The groups for chunk ranges `fine`: the finest grouping of consecutive chunks whose
// buffers, were every group but 0 to use one over all its rows, would cost at most a
// quarter of the work (a band keeps every chunk apart; a random pattern, each buffer as
// wide as `out`, still splits in two, where a buffer costs a tenth of the scatter).
inline std::vector<Group> GroupChunks(int64_t n_fine, int64_t work, int64_t k,
                                      const std::vector<ChunkRange>& fine) {
  std::vector<Group> groups;
  for (int64_t per_group = 1;; per_group *= 2) {
    groups.clear();
    int64_t cost = 0;
    for (int64_t c0 = 0; c0 < n_fine; c0 += per_group) {
      Group g;
      g.c0 = c0;
      g.c1 = std::min(n_fine, c0 + per_group);
      for (int64_t c = g.c0; c < g.c1; ++c) g.rows.add({fine[c].lo, fine[c].hi});
      if (c0 > 0) cost += g.rows.size() * k;
      groups.push_back(g);
    }
    if (groups.size() == 1 || cost <= work / 4) return groups;
  }
}

// Makes group g a band group if it can be one (see the top of this file): it has rows of
// its own, its first and last units stop within half its units, and no unit it keeps in
// the middle is a known outlier (`outliers`: units once found there reaching rows not
// its own). Reads only the first and last units' entries.
template <typename Source>
void PlanBand(const Source& src, const std::vector<Group>& groups, size_t g,
              const std::vector<int64_t>& outliers, Group* plan) {
  plan->band = false;
  plan->own = OwnRows(groups, g);
  if (plan->own.empty()) return;
  int64_t u_begin, u_end, unused;
  src.Units(plan->c0, &u_begin, &unused);
  src.Units(plan->c1 - 1, &unused, &u_end);
  const int64_t budget = (u_end - u_begin) / 2;
  auto inside = [&](int64_t c, int64_t u, Rows* reach) {
    Rows r;
    src.Reach(c, u, &r.lo, &r.hi);
    if (plan->own.holds(r)) return true;
    reach->add(r);
    return false;
  };
  // first units, forward to the first unit inside
  plan->first = Rows{};
  int64_t seen = 0, m0 = -1;
  for (int64_t c = plan->c0; c < plan->c1 && m0 < 0; ++c) {
    int64_t u0, u1;
    src.Units(c, &u0, &u1);
    for (int64_t u = u0; u < u1; ++u) {
      if (inside(c, u, &plan->first)) {
        m0 = u;
        break;
      }
      if (++seen > budget) return;
    }
  }
  if (m0 < 0) return;
  // last units, backward to the last unit inside (m0 is one)
  plan->last = Rows{};
  int64_t m1 = -1;
  for (int64_t c = plan->c1 - 1; c >= plan->c0 && m1 < 0; --c) {
    int64_t u0, u1;
    src.Units(c, &u0, &u1);
    for (int64_t u = u1 - 1; u >= u0; --u) {
      if (u < m0 || inside(c, u, &plan->last)) {
        m1 = u + 1;
        break;
      }
      if (++seen > budget) return;
    }
  }
  for (int64_t w : outliers) {
    if (w < m0 || w >= m1) continue;
    for (int64_t c = plan->c0; c < plan->c1; ++c) {
      int64_t u0, u1;
      src.Units(c, &u0, &u1);
      Rows ignored;
      if (u0 <= w && w < u1 && !inside(c, w, &ignored)) return;
    }
  }
  plan->m0 = m0;
  plan->m1 = m1;
  plan->band = true;
}

// body(r0, r1) for the output rows [0, out_rows) cut into consecutive blocks, as many
// as `work` warrants (TasksFor), run over the threads.
template <typename F>
void ForRowBlocks(ffi::ThreadPool& pool, int64_t threads, int64_t work, int64_t out_rows,
                  const F& body) {
  int64_t blocks = TasksFor(threads, work);
  int64_t per = (out_rows + blocks - 1) / blocks;
  ParallelFor(pool, threads, blocks, [&](int64_t blk) {
    int64_t r0 = blk * per;
    body(r0, std::min(out_rows, r0 + per));
  });
}

// Zeroes the rows of `out` outside every band group's own rows, in parallel: each band
// group zeroes its own rows itself, just before it adds into them (phase 1). Against
// one thread zeroing the whole output first: 2-D Poisson A.T at 2 threads 6.38 -> 6.13
// ms, the band 9.88 -> 9.75, random 16.9 -> 16.2.
template <typename V>
void ZeroOutsideOwnRows(ffi::ThreadPool& pool, int64_t threads,
                        const std::vector<Group>& groups, int64_t out_rows, int64_t k,
                        V* out) {
  std::vector<Rows> owned;  // disjoint: no other group reaches a group's own rows
  for (const Group& grp : groups) {
    if (grp.band) owned.push_back(grp.own);
  }
  std::sort(owned.begin(), owned.end(), [](Rows a, Rows b) { return a.lo < b.lo; });
  ForRowBlocks(pool, threads, out_rows * k, out_rows, [&](int64_t r0, int64_t r1) {
    auto zero = [&](int64_t a, int64_t e) {  // rows [a, e) within this block
      a = std::max(a, r0);
      e = std::min(e, r1);
      if (a < e) std::fill(out + a * k, out + e * k, V{});
    };
    int64_t next = 0;  // the first row not known to be owned
    for (Rows own : owned) {
      zero(next, own.lo);
      next = own.hi + 1;
    }
    zero(next, out_rows);
  });
}

// What one run of the groups found: `done`, or the first unit outside the rows its
// group was given (-1: none), and whether that unit was in a band group's middle.
struct Outcome {
  bool done = true;
  int64_t unit = -1;
  bool middle = false;
};

// Runs the groups (phases 1-4 at the top of this file) with the chunks' ranges `fine`;
// with `bands` false no group is a band group.
template <typename V, typename Source>
Outcome RunGroups(ffi::ThreadPool& pool, int64_t threads, int64_t n_fine, int64_t work,
                  int64_t out_rows, int64_t k, V* out, const Source& src,
                  const std::vector<ChunkRange>& fine, const std::vector<int64_t>& outliers,
                  bool bands) {
  std::vector<Group> groups = GroupChunks(n_fine, work, k, fine);
  const int64_t n_groups = static_cast<int64_t>(groups.size());
  // Group g's units in [from, to), added through `target` (its first row is output row
  // rows.lo), bounded to `rows`; the first unit that reached a row outside them, or -1.
  auto add_units = [&](const Group& g, int64_t from, int64_t to, V* target, Rows rows) {
    int64_t bad = -1;
    for (int64_t c = g.c0; c < g.c1; ++c) {
      int64_t u0, u1;
      src.Units(c, &u0, &u1);
      u0 = std::max(u0, from);
      u1 = std::min(u1, to);
      if (u0 >= u1) continue;
      int64_t b = src.Scatter(c, u0, u1, target, rows.lo, rows.size());
      if (bad < 0) bad = b;
    }
    return bad;
  };
  auto all_units = [&](const Group& g, int64_t* u_begin, int64_t* u_end) {
    int64_t unused;
    src.Units(g.c0, u_begin, &unused);
    src.Units(g.c1 - 1, &unused, u_end);
  };
  if (n_groups == 1) {
    std::fill(out, out + out_rows * k, V{});
    int64_t u_begin, u_end;
    all_units(groups[0], &u_begin, &u_end);
    int64_t bad = add_units(groups[0], u_begin, u_end, out, Rows{0, out_rows - 1});
    return {bad < 0, bad, false};
  }
  if (bands) {
    ParallelFor(pool, threads, n_groups - 1,
                [&](int64_t g) { PlanBand(src, groups, g + 1, outliers, &groups[g + 1]); });
    // the last units of two band groups, or their first units, must never meet
    for (int64_t g = 1; g < n_groups; ++g) {
      for (int64_t h = 1; h < g && groups[g].band; ++h) {
        if (groups[h].band && (groups[h].first.meets(groups[g].first) ||
                               groups[h].last.meets(groups[g].last))) {
          groups[g].band = false;
        }
      }
    }
  }
  for (const Group& grp : groups) {  // first or last units beyond the kept rows: stale
    if (grp.band && !(grp.rows.holds(grp.first) && grp.rows.holds(grp.last))) {
      return {false, grp.m0, false};
    }
  }
  int64_t buffered = 0;
  for (int64_t g = 1; g < n_groups; ++g) {
    if (groups[g].band) continue;
    groups[g].offset = buffered;
    buffered += groups[g].rows.size() * k;
  }
  std::vector<char> bytes = BufferPool::Get().Take(buffered * sizeof(V));
  V* partial = reinterpret_cast<V*>(bytes.data());
  ZeroOutsideOwnRows(pool, threads, groups, out_rows, k, out);
  std::vector<Outcome> found(n_groups);
  ParallelFor(pool, threads, n_groups, [&](int64_t g) {  // phase 1
    const Group& grp = groups[g];
    int64_t u_begin, u_end;
    all_units(grp, &u_begin, &u_end);
    if (g == 0) {
      found[g].unit = add_units(grp, u_begin, u_end, out + grp.rows.lo * k, grp.rows);
    } else if (grp.band) {
      // its own rows, zeroed here (in this thread's cache) just before its adds
      std::fill(out + grp.own.lo * k, out + (grp.own.hi + 1) * k, V{});
      found[g].unit = add_units(grp, grp.m0, grp.m1, out + grp.own.lo * k, grp.own);
      found[g].middle = true;
    } else {  // an empty group too: any entry in range is then outside its rows
      std::fill(partial + grp.offset, partial + grp.offset + grp.rows.size() * k, V{});
      found[g].unit = add_units(grp, u_begin, u_end, partial + grp.offset, grp.rows);
    }
  });
  auto first_failure = [&]() -> Outcome {
    for (const Outcome& o : found) {
      if (o.unit >= 0) return {false, o.unit, o.middle};
    }
    return {};
  };
  Outcome outcome = first_failure();
  for (int phase = 2; phase <= 3 && outcome.done; ++phase) {  // last, then first units
    std::fill(found.begin(), found.end(), Outcome{});
    ParallelFor(pool, threads, n_groups, [&](int64_t g) {
      const Group& grp = groups[g];
      if (!grp.band) return;
      int64_t u_begin, u_end;
      all_units(grp, &u_begin, &u_end);
      Rows rows = phase == 2 ? grp.last : grp.first;
      found[g].unit = phase == 2 ? add_units(grp, grp.m1, u_end, out + rows.lo * k, rows)
                                 : add_units(grp, u_begin, grp.m0, out + rows.lo * k, rows);
    });
    outcome = first_failure();
  }
  if (outcome.done && buffered > 0) {  // phase 4
    ForRowBlocks(pool, threads, buffered, out_rows, [&](int64_t r0, int64_t r1) {
      for (int64_t g = 1; g < n_groups; ++g) {
        const Group& grp = groups[g];
        if (grp.band || grp.rows.empty()) continue;
        int64_t a = std::max(r0, grp.rows.lo), e = std::min(r1, grp.rows.hi + 1);
        const V* from = partial + grp.offset + (a - grp.rows.lo) * k;
        V* to = out + a * k;
        for (int64_t i = 0; i < (e - a) * k; ++i) to[i] += from[i];
      }
    });
  }
  BufferPool::Get().Give(std::move(bytes));
  if (outcome.done) {
    for (const Group& grp : groups) BandGroupsRun() += grp.band;
  }
  return outcome;
}

// The scatter of a problem cut into n_fine chunks, served by `src`:
//   src.Slots(c, &j0, &j1)  chunk c's entries are idx[j0, j1) (idx: their output rows);
//   src.Units(c, &u0, &u1)  chunk c's units (rows of A, or entries), in storage order;
//   src.Reach(c, u, &lo, &hi)  the output rows unit u of chunk c reaches;
//   src.Scatter(c, u0, u1, target, base, span)  adds units [u0, u1) of chunk c into
//     rows [base, base + span) of target (its first row is output row base), and returns
//     the first unit that reached a row in [0, out_rows) outside them, or -1.
// The chunks' ranges are kept between calls (chunk_ranges.h); a run that finds a unit
// outside the rows it was planned for runs again, on fresh ranges, or with the band
// group whose middle held the unit (an outlier, kept too) adding into a buffer.
template <typename V, typename I, typename Source>
void ChunkedScatter(ffi::ThreadPool& pool, int64_t threads, int64_t n_fine, int64_t work,
                    const I* idx, int64_t out_rows, int64_t k, V* out, const Source& src) {
  std::vector<int64_t> cut(2 * n_fine);
  for (int64_t c = 0; c < n_fine; ++c) src.Slots(c, &cut[2 * c], &cut[2 * c + 1]);
  std::vector<ChunkRange> fine(n_fine);
  std::vector<int64_t> outliers;
  RangeMemo& memo = RangeMemo::Get();
  auto find_all = [&] {
    ParallelFor(pool, threads, n_fine, [&](int64_t c) {
      fine[c] = FindRange(idx, cut[2 * c], cut[2 * c + 1], out_rows);
    });
    outliers.clear();
    memo.Keep(idx, out_rows, cut, fine);
  };
  if (n_fine == 1) {  // one group: no ranges needed
    RunGroups(pool, threads, n_fine, work, out_rows, k, out, src, fine, outliers, false);
    return;
  }
  bool fresh = !memo.Find(idx, out_rows, cut, &fine, &outliers);
  for (int64_t c = 0; !fresh && c < n_fine; ++c) {
    fresh = !EndsStillThere(fine[c], idx, cut[2 * c], cut[2 * c + 1]);
  }
  if (fresh) find_all();
  bool bands = true;
  for (;;) {
    Outcome o = RunGroups(pool, threads, n_fine, work, out_rows, k, out, src, fine, outliers,
                          bands);
    if (o.done) return;
    if (!fresh) {  // the kept ranges (or outliers) were an older array's
      find_all();
      fresh = true;
    } else if (o.middle && outliers.size() < static_cast<size_t>(n_fine)) {
      outliers.push_back(o.unit);
      memo.AddOutlier(idx, out_rows, cut, o.unit);
    } else {  // cannot happen on fresh ranges; the run without bands cannot fail
      bands = false;
    }
  }
}

}  // namespace jaxsparse
