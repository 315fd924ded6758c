"""Each shard's blocks, built and placed one shard at a time.

Two passes over each shard's rows, read in chunks of at most ``CHUNK`` stored entries:

1. :func:`survey`: what every shard (and every process) must agree on before anything
   is built: entry counts (the padded capacities), the off-shard columns read (the halo
   plan), the rows that read them (the halo block's rows) and the owned block's
   diagonals (the local layout).
2. :func:`fill`: one shard's arrays, in the agreed layout, moved to that shard's devices
   before the next shard starts.

So the planner never holds per-entry temporaries for more than one chunk, nor host
blocks for more than one shard: its peak memory is the matrix, the blocks already
placed and one shard's staging (``benchmarks/scale.py`` measures it). A contiguous row
range is read through views of the CSR arrays; a permuted shard's rows are copied out,
one shard at a time. The entries must be canonical (no duplicates): the diagonal layout
stores values by assignment.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sps

from ..formats import _structure
from ._layout import Layout

# Entries per chunk: large enough that NumPy's per-call overhead vanishes, small enough
# that a chunk's temporaries (a few bytes per entry each) are a rounding error.
CHUNK = 1 << 19


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Consecutive rows' entries: ``slot`` is each entry's row position in the shard."""

    start: int  # the first row's position
    lengths: np.ndarray  # entries per row
    slot: np.ndarray
    col: np.ndarray
    val: np.ndarray


@dataclasses.dataclass(frozen=True)
class RowSource:
    """Rows of a canonical CSR matrix: global row ``g`` is row ``g - offset`` of
    ``matrix``. Column indices are global."""

    matrix: sps.csr_array
    offset: int = 0

    def chunks(self, rows: np.ndarray):
        """The entries of ``rows`` (global, increasing) in CSR order, in chunks."""
        if rows.size == 0:
            return
        local = np.asarray(rows, dtype=np.int64) - self.offset
        M = self.matrix
        if local[-1] - local[0] + 1 == local.size:  # a row range: views, no copy
            indptr = M.indptr[local[0]: local[-1] + 2]
            indices, data = M.indices, M.data
        else:
            sub = M[local]  # a permuted shard: its rows only
            indptr, indices, data = sub.indptr, sub.indices, sub.data
        small = np.int32 if local.size < np.iinfo(np.int32).max else np.int64
        start, n = 0, local.size
        while start < n:
            # the rows whose entries end within CHUNK of this chunk's start (at least one)
            # (a scalar of indptr's own dtype: a Python int would convert all of indptr)
            end = min(int(indptr[start]) + CHUNK, int(np.iinfo(indptr.dtype).max))
            stop = int(np.searchsorted(indptr, indptr.dtype.type(end), side="right")) - 1
            stop = min(max(stop, start + 1), n)
            a, b = int(indptr[start]), int(indptr[stop])
            lengths = np.diff(indptr[start:stop + 1])
            slot = np.repeat(np.arange(start, stop, dtype=small), lengths)
            yield Chunk(start, lengths, slot, indices[a:b], data[a:b])
            start = stop


def shard_rows(rows: Layout, s: int) -> np.ndarray:
    """The global rows of shard ``s``, in slot order (padding slots dropped)."""
    index = rows.index[s]
    return index[index < rows.n]


@dataclasses.dataclass(frozen=True)
class Split:
    """One chunk's entries split into owned columns and halo reads."""

    mine: np.ndarray | None  # bool per entry; None: every entry is in an owned column
    own_col: np.ndarray  # owned entries' column slots
    far_owner: np.ndarray  # halo reads: the owning shard
    far_slot: np.ndarray  # halo reads: the slot in the owner's block


def column_span(cols: Layout, s: int) -> tuple[int, int] | None:
    """``(lo, hi)`` when shard ``s`` holds the columns ``lo, ..., hi - 1`` in order (a
    contiguous partition: ownership is two comparisons, not a gather per entry)."""
    held = shard_rows(cols, s)
    if held.size == 0:
        return 0, 0
    lo = int(held[0])
    return (lo, lo + held.size) if int(held[-1]) - lo + 1 == held.size else None


def split(col: np.ndarray, s: int, cols: Layout, span) -> Split:
    if span is not None:
        lo, hi = span
        mine = (col >= lo) & (col < hi)
        if mine.all():  # banded and stencil chunks: no halo reads, no copies
            return Split(None, col - lo, col[:0], col[:0])
        return Split(mine, col[mine] - lo, *cols.locate(col[~mine]))
    c_owner, c_slot = cols.locate(col)
    mine = c_owner == s
    far = ~mine
    return Split(mine, c_slot[mine], c_owner[far], c_slot[far])


def _own(a: np.ndarray, part: Split) -> np.ndarray:
    return a if part.mine is None else a[part.mine]


def _far(a: np.ndarray, part: Split) -> np.ndarray:
    return a[:0] if part.mine is None else a[~part.mine]


@dataclasses.dataclass(frozen=True)
class Survey:
    """What one shard's entries ask of the plan (pass 1)."""

    own: int  # entries in owned columns
    halo: int  # entries in other shards' columns
    halo_keys: np.ndarray  # distinct (reader, owner, owner slot) keys, sorted int64
    halo_rows: np.ndarray  # distinct block rows reading halo columns, sorted
    diagonals: np.ndarray | None  # the owned block's diagonals (when asked), sorted


def halo_key(s: int, owner, owner_slot, D: int, block: int) -> np.ndarray:
    """One int64 per halo read: ``(reader * D + owner) * block + owner_slot``."""
    return (np.int64(s) * D + owner.astype(np.int64)) * block + owner_slot


def survey(source: RowSource, s: int, rows: Layout, cols: Layout,
           want_diagonals: bool) -> Survey:
    D, R, C = rows.n_shards, rows.block, cols.block
    own = halo = 0
    keys, hrows = [], []
    present = np.zeros(R + C, dtype=bool) if want_diagonals else None  # diagonal + R
    span = column_span(cols, s)
    for chunk in source.chunks(shard_rows(rows, s)):
        slot, part = chunk.slot, split(chunk.col, s, cols, span)
        own += part.own_col.size
        halo += part.far_slot.size
        if part.far_slot.size:
            keys.append(np.unique(halo_key(s, part.far_owner, part.far_slot, D, C)))
            hrows.append(np.unique(_far(slot, part)))
        if present is not None and part.own_col.size:
            present[part.own_col.astype(np.int64) - _own(slot, part) + R] = True
    return Survey(
        own=own, halo=halo,
        halo_keys=_unique_of(keys, np.int64),
        halo_rows=_unique_of(hrows, np.int64),
        diagonals=None if present is None else np.flatnonzero(present) - R,
    )


def _unique_of(parts, dtype) -> np.ndarray:
    if not parts:
        return np.zeros(0, dtype)
    return np.unique(np.concatenate(parts)).astype(dtype, copy=False)


@dataclasses.dataclass(frozen=True)
class Agreed:
    """What every shard's fill needs from the plan (pass 2's inputs)."""

    own_capacity: int
    halo_capacity: int
    halo_width: int
    halo_every: np.ndarray  # every halo key of every shard, sorted
    halo_pos: np.ndarray  # each key's column in its reader's halo vector
    halo_block_rows: int  # H: rows of a halo block
    halo_all_rows: bool  # the halo block keeps every block row
    diagonals: int  # 0: CSR owned blocks; else the common diagonal count
    dtype: np.dtype
    index: np.dtype


def fill(source: RowSource, s: int, rows: Layout, cols: Layout, found: Survey,
         agreed: Agreed):
    """Shard ``s``'s arrays in the agreed layout (pass 2), as ``(name, array)`` pairs
    named like ``ShardedCSR``'s leaves (absent leaves are not produced).

    The owned values come last, from a second walk over the rows, so that the caller
    can place (and drop) the pattern before the values are staged: host staging peaks
    at the larger of the two, not at their sum.
    """
    D, R, C = rows.n_shards, rows.block, cols.block
    H = agreed.halo_block_rows
    idx = agreed.index
    halo_d = np.zeros(agreed.halo_capacity, agreed.dtype)
    halo_i = np.full(agreed.halo_capacity, agreed.halo_width, idx)
    halo_count = np.zeros(H, np.int64)
    own_count = np.zeros(R, np.int64)
    n_diags = agreed.diagonals
    where = _OwnPosition(found, agreed, R, C)
    # CSR: the columns; diagonals: which slots of the DIA data hold an entry (1 byte per
    # slot instead of an index per entry; ShardedCSR.own_slots rebuilds the slot order)
    own_i = np.zeros(n_diags * C, bool) if n_diags else np.full(agreed.own_capacity, C, idx)
    o = h = 0
    span = column_span(cols, s)
    for chunk in source.chunks(shard_rows(rows, s)):
        slot, part = chunk.slot, split(chunk.col, s, cols, span)
        k = part.own_col.size
        own_rows = slice(chunk.start, chunk.start + chunk.lengths.size)
        own_count[own_rows] = chunk.lengths
        if part.mine is not None:  # less each row's halo reads
            own_count[own_rows] -= np.bincount(_far(slot, part) - chunk.start,
                                               minlength=chunk.lengths.size)
        if n_diags:
            own_i[where(part, slot)] = True
        else:
            own_i[o:o + k] = part.own_col
        o += k
        k = part.far_slot.size
        if k:
            key = halo_key(s, part.far_owner, part.far_slot, D, C)
            halo_i[h:h + k] = agreed.halo_pos[np.searchsorted(agreed.halo_every, key)]
            halo_d[h:h + k] = _far(chunk.val, part)
            f_slot = _far(slot, part)
            row = f_slot if agreed.halo_all_rows else np.searchsorted(found.halo_rows, f_slot)
            halo_count += np.bincount(row, minlength=H)
            h += k
    if n_diags:  # one bit per band slot (little-endian within each byte)
        yield "own_mask", np.packbits(own_i.reshape(n_diags, C), axis=1, bitorder="little")
    else:
        yield "own_indices", own_i
    del own_i
    yield "own_indptr", _indptr(own_count, idx)
    yield "halo_data", halo_d
    yield "halo_indices", halo_i
    yield "halo_indptr", _indptr(halo_count, idx)
    if agreed.halo_all_rows:
        halo_rows = np.arange(H, dtype=idx)
    else:
        halo_rows = np.full(H, R, idx)  # padding rows: the sentinel R
        halo_rows[: found.halo_rows.size] = found.halo_rows
    yield "halo_rows", halo_rows
    if n_diags:
        offsets = np.full(n_diags, C, idx)  # padding: a diagonal wholly off-block
        offsets[: found.diagonals.size] = found.diagonals
        yield "own_offsets", offsets
    del halo_d, halo_i, halo_rows
    own_d = np.zeros(n_diags * C if n_diags else agreed.own_capacity, agreed.dtype)
    o = 0
    for chunk in source.chunks(shard_rows(rows, s)):
        part = split(chunk.col, s, cols, span)
        values = _own(chunk.val, part)
        if n_diags:
            own_d[where(part, chunk.slot)] = values  # canonical: one value per position
        else:
            own_d[o:o + values.size] = values
            o += values.size
    yield "own_data", own_d.reshape(n_diags, C) if n_diags else own_d


class _OwnPosition:
    """Owned entries' positions in the flattened ``(n_diags, n_cols)`` DIA data."""

    def __init__(self, found: Survey, agreed: Agreed, R: int, C: int):
        self.R, self.C = R, C
        if agreed.diagonals:
            self.which = np.zeros(R + C, np.int64)  # diagonal + R -> its row in the data
            self.which[found.diagonals + R] = np.arange(found.diagonals.size)

    def __call__(self, part: Split, slot: np.ndarray) -> np.ndarray:
        col = part.own_col.astype(np.int64)
        return self.which[col - _own(slot, part) + self.R] * self.C + col


def _indptr(counts: np.ndarray, dtype) -> np.ndarray:
    out = np.zeros(counts.size + 1, dtype)
    np.cumsum(counts, out=out[1:])
    return out


def diagonals_pay(found: list[Survey], count: int, shape, dtype, index) -> bool:
    """Do ``count`` diagonals move fewer bytes than CSR for each of these shards?"""
    return count > 0 and all(
        _structure.diagonals_pay(count, f.own, shape, dtype, index) for f in found)
