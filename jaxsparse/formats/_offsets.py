"""Narrow column offsets: a second, smaller copy of a compressed matrix's pattern.

A CSR product with int32 indices reads 12 bytes per float64 entry, and on both cores it
runs at the memory rate. When every entry lies near the diagonal (banded and stencil
matrices), its column minus its row fits in int8 or int16, and a kernel that reads those
instead of the indices moves 9 or 10 bytes per entry (``ops/native/csrc/csr_offsets.cc``:
banded float64, n = 2e6, 2 threads: 8.2 -> 6.7 ms; 2-D Poisson 4.5 -> 4.0). They are
computed once on the host when a matrix is built from host arrays (``from_arrays``,
``from_scipy``, ``fromdense``), kept as the ``diagonal_offsets`` leaf, and carried only
where the pattern is unchanged (``with_data``, ``astype``, the transpose view); every
other constructor leaves them out, so they can never describe another pattern. For CSC
the same arrays read as rows minus columns (the transposed product reads them).
"""

from __future__ import annotations

import numpy as np

_WIDTHS = (np.int8, np.int16)


def diagonal_offsets(indices: np.ndarray, indptr: np.ndarray, *,
                     sorted_indices: bool = False) -> np.ndarray | None:
    """``indices[k] - major(k)`` for every slot, in the narrowest of int8 / int16 that
    holds them all, or None when neither does (or the matrix is empty). Slots past
    ``indptr[-1]`` (capacity) get 0; no kernel reads them. With ``sorted_indices`` (each
    row's indices ascending) a matrix whose rows reach too far is turned down from the
    rows' first and last entries, without a pass over every entry (random, n = 1e6:
    19 -> 5 ms)."""
    nnz = int(indptr[-1])
    if nnz == 0:
        return None
    # In the index dtype: both terms lie in [0, 2**31) for int32, so no overflow.
    major = np.arange(indptr.shape[0] - 1, dtype=indices.dtype)
    if sorted_indices and _width(*_ends(indices, indptr, major)) is None:
        return None
    offsets = indices[:nnz] - np.repeat(major, np.diff(indptr))
    width = _width(int(offsets.min()), int(offsets.max()))
    if width is None:
        return None
    out = np.zeros(indices.shape[0], width)
    out[:nnz] = offsets
    return out


def _width(low: int, high: int):
    return next((w for w in _WIDTHS if np.iinfo(w).min <= low and high <= np.iinfo(w).max),
                None)


def _ends(indices: np.ndarray, indptr: np.ndarray, major: np.ndarray) -> tuple[int, int]:
    """The least first-index-minus-row and the greatest last-index-minus-row over the
    non-empty rows: the range of every offset when each row is sorted ascending."""
    starts, ends = indptr[:-1], indptr[1:]
    rows = np.flatnonzero(ends > starts)
    first = indices[starts[rows]].astype(np.int64) - major[rows]
    last = indices[ends[rows] - 1].astype(np.int64) - major[rows]
    return int(first.min()), int(last.max())
