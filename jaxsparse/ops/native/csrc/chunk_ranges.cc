// See chunk_ranges.h: the count of range searches, read by tests/test_native.py.
#include "chunk_ranges.h"

int64_t JaxsparseRangeSearches() {
  jaxsparse::RangeMemo& memo = jaxsparse::RangeMemo::Get();
  std::lock_guard<std::mutex> lock(memo.mu_);
  return memo.searches_;
}
