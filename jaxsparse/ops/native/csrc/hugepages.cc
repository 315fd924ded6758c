// See hugepages.h. jnp twin: none (it changes speed, never results); the Python side's
// collapse of placed matrices is jaxsparse/_hugepages.py.
#include "hugepages.h"

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <unordered_set>
#include <vector>

#if defined(__linux__)
#include <sys/mman.h>
#include <unistd.h>
#endif

namespace jaxsparse {
namespace {

constexpr uintptr_t kHuge = uintptr_t{1} << 21;
constexpr size_t kMinBytes = size_t{4} << 20;
constexpr size_t kFreshMinBytes = size_t{32} << 20;  // glibc's largest mmap threshold
constexpr size_t kMaxPages = size_t{1} << 16;  // the memo's bound: 128 GB of pages
constexpr double kBudgetSeconds = 1.0;
constexpr int kMadvCollapse = 25;  // MADV_COLLAPSE, absent from older headers

struct Memo {
  std::mutex mu;
  std::unordered_set<uintptr_t> pages;  // 2 MB pages already collapsed (or refused)
  double spent = 0;                     // seconds inside madvise
  bool enabled = true;
};

// The whole 2 MB pages inside [p, p + bytes): [first, last).
void WholePages(const void* p, size_t bytes, uintptr_t* first, uintptr_t* last) {
  *first = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  *last = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
}

// JAXSPARSE_HUGEPAGES=0 turns both off. Read when the library is loaded (at import),
// not at the first kernel call, which could come while a test has set it for a moment.
const bool kAllowed = [] {
  const char* env = std::getenv("JAXSPARSE_HUGEPAGES");
  return !(env != nullptr && std::strcmp(env, "0") == 0);
}();

bool Allowed() { return kAllowed; }

Memo& TheMemo() {
  static Memo* memo = [] {
    auto* m = new Memo;  // never destroyed: kernels may run during interpreter exit
    m->enabled = Allowed();
    return m;
  }();
  return *memo;
}

}  // namespace

void PreferHugePages(const void* p, size_t bytes) {
#if defined(__linux__)
  if (p == nullptr || bytes < kMinBytes) return;
  Memo& memo = TheMemo();
  uintptr_t first, last;
  WholePages(p, bytes, &first, &last);
  std::vector<uintptr_t> fresh;
  {
    std::lock_guard<std::mutex> lock(memo.mu);
    if (!memo.enabled) return;
    for (uintptr_t page = first; page < last; page += kHuge) {
      if (memo.pages.size() < kMaxPages && memo.pages.insert(page).second) {
        fresh.push_back(page);
      }
    }
  }
  if (fresh.empty()) return;
  auto start = std::chrono::steady_clock::now();
  for (size_t i = 0; i < fresh.size();) {  // runs of consecutive pages, one call each
    size_t j = i + 1;
    while (j < fresh.size() && fresh[j] == fresh[j - 1] + kHuge) ++j;
    madvise(reinterpret_cast<void*>(fresh[i]), (j - i) * kHuge, kMadvCollapse);
    i = j;
  }
  std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  std::lock_guard<std::mutex> lock(memo.mu);
  memo.spent += took.count();
  if (memo.spent > kBudgetSeconds) memo.enabled = false;
#else
  (void)p;
  (void)bytes;
#endif
}

#if defined(__linux__)
// Whether most of the 4 KB pages of [first, last) are not in memory (mincore).
bool MostlyAbsent(uintptr_t first, uintptr_t last) {
  static const size_t page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  std::vector<unsigned char> resident((last - first + page - 1) / page);
  if (mincore(reinterpret_cast<void*>(first), last - first, resident.data()) != 0) {
    return false;
  }
  size_t absent = 0;
  for (unsigned char r : resident) absent += (r & 1) == 0;
  return 2 * absent > resident.size();
}
#endif

void AdviseFreshOutput(void* p, size_t bytes) {
#if defined(__linux__)
  if (p == nullptr || bytes < kMinBytes || !Allowed()) return;
  uintptr_t first, last;
  WholePages(p, bytes, &first, &last);
  if (last <= first) return;
  if (bytes < kFreshMinBytes && !MostlyAbsent(first, last)) return;
  madvise(reinterpret_cast<void*>(first), last - first, MADV_HUGEPAGE);
#else
  (void)p;
  (void)bytes;
#endif
}

}  // namespace jaxsparse

size_t JaxsparseCollapsedPages(const void* p, size_t bytes) {
  using namespace jaxsparse;
  uintptr_t first, last;
  WholePages(p, bytes, &first, &last);
  Memo& memo = TheMemo();
  std::lock_guard<std::mutex> lock(memo.mu);
  size_t count = 0;
  for (uintptr_t page = first; page < last; page += kHuge) count += memo.pages.count(page);
  return count;
}

void JaxsparseAdviseFreshOutput(void* p, size_t bytes) { jaxsparse::AdviseFreshOutput(p, bytes); }
