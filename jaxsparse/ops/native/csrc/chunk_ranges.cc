// Counts of the scatter products' plans (chunk_ranges.h, scatter.h), read by
// tests/test_native.py.
#include "chunk_ranges.h"
#include "scatter.h"

int64_t JaxsparseRangeSearches() {
  jaxsparse::RangeMemo& memo = jaxsparse::RangeMemo::Get();
  std::lock_guard<std::mutex> lock(memo.mu_);
  return memo.searches_;
}

int64_t JaxsparseBandGroups() { return jaxsparse::BandGroupsRun().load(); }
