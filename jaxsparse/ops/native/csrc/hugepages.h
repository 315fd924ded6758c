// Vectors on 2 MB pages. XLA's CPU allocator hands out buffers on 4 KB pages; a sparse
// product's gathers from x and stores into y then miss the TLB on every few entries
// (the matrix itself is collapsed when it is placed: jaxsparse/_hugepages.py). This
// collapses the whole 2 MB pages of a kernel's large vector operands into huge pages,
// once per page: the allocator hands the same buffers back call after call, so the
// cost (about 1 ms per MB, once) is paid on the first calls only.
#pragma once

#include <cstddef>

namespace jaxsparse {

// Best effort, content-preserving (MADV_COLLAPSE, Linux 6.1+; a no-op elsewhere or with
// JAXSPARSE_HUGEPAGES=0). Buffers under 4 MB are left alone, each 2 MB page is collapsed
// at most once per process, and collapsing stops for good once it has taken a second in
// all, so a program whose buffers move every call pays a bounded cost.
void PreferHugePages(const void* p, size_t bytes);

// For a kernel's output, before its first write: asks for huge pages on the whole 2 MB
// pages of an output of 32 MB or more (MADV_HUGEPAGE; a no-op elsewhere or with
// JAXSPARSE_HUGEPAGES=0). glibc maps every allocation that large afresh and unmaps it
// when freed, so such an output arrives untouched on every call and its first writes
// fault in 4 KB pages one by one: on a 256 MB output, 65536 faults, which cost a
// 16-column product more than its arithmetic. Advised, they fault in 2 MB pages, as
// NumPy's own large arrays (SciPy's outputs) do. Smaller outputs come from the heap,
// already in memory, and are left to PreferHugePages (advising parts of the heap would
// split its mapping).
void AdviseFreshOutput(void* p, size_t bytes);

}  // namespace jaxsparse

// For the tests (ctypes): how many whole 2 MB pages of [p, p + bytes) the kernels have
// collapsed (or tried to).
extern "C" size_t JaxsparseCollapsedPages(const void* p, size_t bytes);
