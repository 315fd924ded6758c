"""The vector layout a plan owns: which (shard, slot) holds each global index."""

from __future__ import annotations

import dataclasses
import functools

import numpy as np

from ._partition import RowPartition


def bucket(n: int, granularity_bits: int = 5) -> int:
    """Round ``n`` up so that similar sizes share compiled code, wasting < 2**-bits.

    ``bucket(1000) == 1008``: multiples of ``2**(floor(log2 n) - 5)``, about 3% at most.
    """
    if n <= 1 << granularity_bits:
        return max(int(n), 1)
    step = 1 << (int(n).bit_length() - 1 - granularity_bits)
    return -(-int(n) // step) * step


# Slots added to a large block beyond its bucket (see layout_block).
BLOCK_SKEW = 72
# From this many slots a block gets the skew (it costs at most 1.8% there).
SKEW_MIN_BLOCK = 4096


def layout_block(rows: int) -> int:
    """A shard's block of slots for ``rows`` rows: :func:`bucket`'s size, plus
    :data:`BLOCK_SKEW` slots once it is large.

    A bucket of 16384 slots or more is a multiple of 512, so R slots of 8 or more bytes
    made a whole number of 4 KB pages, and the rows of a shard's 2-D arrays (the
    diagonals of its DIA block, ``(n_diags, R)``) all started at one offset within their
    pages and the DRAM rows behind them: the 11-diagonal band's owned product over
    R = 1015808 slots (n = 2M on 2 shards) took 5.5-5.8 ms on one thread, against 3.3-3.5
    with 64, 72 or 200 slots more (R x 8 bytes = 512, 576 or 1600 bytes past a page
    multiple). A bucket from 4096 slots on is a multiple of 128; plus 72, no item size
    from 2 to 16 bytes lands within 64 bytes of a page multiple.
    """
    block = bucket(max(rows, 1))
    return block + BLOCK_SKEW if block >= SKEW_MIN_BLOCK else block


@dataclasses.dataclass(frozen=True)
class Layout:
    """A padded block layout of a length-``n`` vector over ``D`` shards of ``R`` slots.

    ``index[s, t]``: the global index held by slot ``t`` of shard ``s`` (``n`` marks a
    padding slot, which always holds 0). ``locate(g)`` is the inverse map.

    A plan keeps its layouts as long as the matrix lives, so a layout holds ``index``
    alone, in the narrowest integer type: the inverse maps of a contiguous partition (an
    unpermuted plan) are two comparisons per index, and only a permuted layout builds
    them as arrays, the first time they are asked for.
    """

    n: int
    index: np.ndarray  # (D, R) int

    @property
    def n_shards(self) -> int:
        return self.index.shape[0]

    @property
    def block(self) -> int:
        return self.index.shape[1]

    @property
    def mask(self) -> np.ndarray:
        """(D * R,) bool: True at real slots, False at padding."""
        return (self.index < self.n).reshape(-1)

    @classmethod
    def from_partition(cls, part: RowPartition, n: int, block: int | None = None) -> Layout:
        block = max(part.block_rows, 1) if block is None else block
        index = np.full((part.n_shards, block), n, dtype=_narrowest(n, block, part.n_shards))
        for s, rows in enumerate(part.rows):
            index[s, : len(rows)] = rows
        return cls(n, index)

    def locate(self, g: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(owner, slot)`` of the global indices ``g``: the shard holding each and
        its slot there."""
        starts = self._starts
        if starts is not None:
            owner = (np.searchsorted(starts, g, side="right") - 1).astype(self.index.dtype)
            return owner, (g - starts[owner]).astype(self.index.dtype)
        owner, slot = self._inverse
        return owner[g], slot[g]

    @functools.cached_property
    def _starts(self) -> np.ndarray | None:
        """Each shard's first index when shard ``s`` holds ``starts[s], ...`` in order
        and the shards follow each other (a contiguous partition); else None."""
        counts = (self.index < self.n).sum(axis=1)
        starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(self.index.dtype)
        slots = np.arange(self.block, dtype=self.index.dtype)
        expected = np.where(slots < counts[:, None], starts[:, None] + slots, self.n)
        return starts if np.array_equal(expected, self.index) else None

    @functools.cached_property
    def _inverse(self) -> tuple[np.ndarray, np.ndarray]:
        owner = np.zeros(self.n, self.index.dtype)
        slot = np.zeros(self.n, self.index.dtype)
        real = self.index < self.n
        owner[self.index[real]] = np.nonzero(real)[0]
        slot[self.index[real]] = np.nonzero(real)[1]
        return owner, slot

    def same_as(self, other: Layout) -> bool:
        return self.n == other.n and np.array_equal(self.index, other.index)


def _narrowest(*sizes: int):
    # The inverse maps are gathered once per stored entry by the planner: int32 halves
    # those per-entry temporaries (the planner's peak memory).
    return np.int32 if max(sizes) < np.iinfo(np.int32).max else np.int64
