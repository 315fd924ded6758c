"""The vector layout a plan owns: which (shard, slot) holds each global index."""

from __future__ import annotations

import dataclasses

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


@dataclasses.dataclass(frozen=True)
class Layout:
    """A padded block layout of a length-``n`` vector over ``D`` shards of ``R`` slots.

    ``index[s, t]``: the global index held by slot ``t`` of shard ``s`` (``n`` marks a
    padding slot, which always holds 0). ``owner[g]``/``slot[g]``: the inverse map.
    """

    n: int
    index: np.ndarray  # (D, R) int
    owner: np.ndarray  # (n,) int
    slot: np.ndarray  # (n,) int

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
        index = np.full((part.n_shards, block), n, dtype=np.int64)
        # The inverse maps are gathered once per stored entry by the planner: int32
        # halves those per-entry temporaries (the planner's peak memory).
        small = np.int32 if max(n, block, part.n_shards) < np.iinfo(np.int32).max else np.int64
        owner = np.zeros(n, dtype=small)
        slot = np.zeros(n, dtype=small)
        for s, rows in enumerate(part.rows):
            index[s, : len(rows)] = rows
            owner[rows] = s
            slot[rows] = np.arange(len(rows))
        return cls(n, index, owner, slot)

    def same_as(self, other: Layout) -> bool:
        return self.n == other.n and np.array_equal(self.index, other.index)
