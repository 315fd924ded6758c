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
// pages of an output that is not in memory yet (MADV_HUGEPAGE; a no-op elsewhere or
// with JAXSPARSE_HUGEPAGES=0), so that its first writes fault in 2 MB pages, as NumPy's
// own large arrays (SciPy's outputs) do, rather than 4 KB pages one by one.
//   - 32 MB or more: glibc maps every allocation that large afresh and unmaps it when
//     freed, so such an output arrives untouched on every call: on a 256 MB output,
//     65536 faults, which cost a 16-column product more than its arithmetic.
//   - 4-32 MB: malloc's heap, usually in memory already and then left alone (to
//     PreferHugePages); but now and then memory malloc had given back to the kernel
//     (a 16 MB output: 3906 faults, 11 ms, on 5 calls in 20 of a banded A.T @ y). Those
//     calls (most of its pages absent, by mincore) are advised too, which splits the
//     heap's mapping around the output.
void AdviseFreshOutput(void* p, size_t bytes);

}  // namespace jaxsparse

// For the tests (ctypes): how many whole 2 MB pages of [p, p + bytes) the kernels have
// collapsed (or tried to); AdviseFreshOutput itself.
extern "C" size_t JaxsparseCollapsedPages(const void* p, size_t bytes);
extern "C" void JaxsparseAdviseFreshOutput(void* p, size_t bytes);
