// The output rows each fine chunk of a scatter touches (scatter.h), kept from one call
// to the next.
//
// Finding them reads every index once more before the scatter: 4 of the 12 bytes per
// entry a float64 product with int32 indices moves, a quarter of its time on a banded
// matrix. A matrix multiplied again (a solver's A.T @ y, any loop) has the same ranges
// on every call, so they are kept per index buffer and checked instead of found again:
//   - every chunk covers the same slots as when they were found;
//   - each chunk's smallest and largest row still sit at the slots they were found at,
//     so the true range is at least the kept one;
//   - the scatter bounds-checks every entry anyway, against rows inside its group's kept
//     range, and reports one outside, so the true range of every group is at most the
//     kept one.
// The grouping only ever compares the costs of these ranges, and the rest of the plan
// only uses the groups' ranges, which the checks leave exactly as the true ranges make
// them: the result has the bits a fresh search gives. When a check fails, the ranges
// are found afresh and the product runs again.
#pragma once

#include <cstdint>
#include <mutex>
#include <vector>

#include "common.h"

// How many times the ranges were searched for rather than kept, and how many band
// groups ran (scatter.h), in this process (chunk_ranges.cc).
extern "C" int64_t JaxsparseRangeSearches();
extern "C" int64_t JaxsparseBandGroups();

namespace jaxsparse {

struct ChunkRange {
  int64_t lo = 0, hi = -1;       // rows [lo, hi]; hi < lo: none
  int64_t at_lo = 0, at_hi = 0;  // slots of the index array holding lo and hi
};

// The range of the valid (in [0, n)) values of idx[j0, j1), and where its ends are.
template <typename I>
ChunkRange FindRange(const I* idx, int64_t j0, int64_t j1, int64_t n) {
  ChunkRange r;
  ValidRange(idx + j0, j1 - j0, n, &r.lo, &r.hi);
  if (r.hi < r.lo) return r;
  r.at_lo = j0;
  while (static_cast<int64_t>(idx[r.at_lo]) != r.lo) ++r.at_lo;
  r.at_hi = j1 - 1;
  while (static_cast<int64_t>(idx[r.at_hi]) != r.hi) --r.at_hi;
  return r;
}

// Whether kept range r's ends are still where they were, among slots [j0, j1). A kept
// "none" holds here: the scatter then finds any entry in range.
template <typename I>
bool EndsStillThere(const ChunkRange& r, const I* idx, int64_t j0, int64_t j1) {
  if (r.hi < r.lo) return true;
  auto at = [&](int64_t j, int64_t value) {
    return j0 <= j && j < j1 && static_cast<int64_t>(idx[j]) == value;
  };
  return at(r.at_lo, r.lo) && at(r.at_hi, r.hi);
}

// The kept ranges: a small ring of (index buffer, row bound, chunk slots) -> ranges.
// XLA reuses buffers, so an entry may describe an older array at the same address; the
// checks above catch that.
class RangeMemo {
 public:
  static RangeMemo& Get() {
    static RangeMemo* memo = new RangeMemo;  // never destroyed: kernels run until exit
    return *memo;
  }

  // The kept ranges and outliers (units found reaching rows their group did not own:
  // scatter.h) for this index buffer, row bound and chunk slots, if any.
  bool Find(const void* idx, int64_t n, const std::vector<int64_t>& slots,
            std::vector<ChunkRange>* ranges, std::vector<int64_t>* outliers) {
    std::lock_guard<std::mutex> lock(mu_);
    Entry* e = Lookup(idx, n, slots);
    if (e == nullptr) return false;
    *ranges = e->ranges;
    *outliers = e->outliers;
    return true;
  }

  // Keeps the ranges just found, with no outliers (counted: JaxsparseRangeSearches, for
  // the tests).
  void Keep(const void* idx, int64_t n, const std::vector<int64_t>& slots,
            const std::vector<ChunkRange>& ranges) {
    std::lock_guard<std::mutex> lock(mu_);
    ++searches_;
    if (Entry* e = Lookup(idx, n, slots)) {
      e->ranges = ranges;
      e->outliers.clear();
      return;
    }
    Entry fresh{idx, n, slots, ranges, {}};
    if (entries_.size() < kEntries) {
      entries_.push_back(std::move(fresh));
    } else {
      entries_[next_] = std::move(fresh);
      next_ = (next_ + 1) % kEntries;
    }
  }

  // Adds an outlier to the kept entry (scatter.h).
  void AddOutlier(const void* idx, int64_t n, const std::vector<int64_t>& slots,
                  int64_t unit) {
    std::lock_guard<std::mutex> lock(mu_);
    if (Entry* e = Lookup(idx, n, slots)) e->outliers.push_back(unit);
  }

 private:
  friend int64_t ::JaxsparseRangeSearches();
  static constexpr size_t kEntries = 32;
  struct Entry {
    const void* idx;
    int64_t n;
    std::vector<int64_t> slots;  // [j0, j1) of every chunk, flattened
    std::vector<ChunkRange> ranges;
    std::vector<int64_t> outliers;
  };
  Entry* Lookup(const void* idx, int64_t n, const std::vector<int64_t>& slots) {
    for (Entry& e : entries_) {
      if (e.idx == idx && e.n == n && e.slots == slots) return &e;
    }
    return nullptr;
  }
  std::mutex mu_;
  std::vector<Entry> entries_;
  size_t next_ = 0;
  int64_t searches_ = 0;
};

}  // namespace jaxsparse
