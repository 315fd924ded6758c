"""Row partitions: which shard owns which rows, computed once on the host.

Contiguous blocks first (vectors stay compact and banded matrices talk only to their
neighbours); when contiguous blocks cannot balance the nonzeros within the row cap
(rows sorted by degree, power laws), rows are dealt out by degree instead.
"""

from __future__ import annotations

import dataclasses
import heapq

import numpy as np


@dataclasses.dataclass(frozen=True)
class RowPartition:
    """``rows[s]``: the global rows of shard ``s`` in increasing order."""

    rows: tuple[np.ndarray, ...]
    permuted: bool  # False: rows[s] is a contiguous range

    @property
    def n_shards(self) -> int:
        return len(self.rows)

    @property
    def block_rows(self) -> int:
        return max((len(r) for r in self.rows), default=0)


def _from_bounds(bounds) -> RowPartition:
    pairs = zip(bounds[:-1], bounds[1:], strict=True)
    return RowPartition(tuple(np.arange(a, b) for a, b in pairs), permuted=False)


def contiguous(n: int, n_shards: int) -> RowPartition:
    """Equal contiguous blocks (``ceil(n / D)`` rows each, the last ones shorter)."""
    size = -(-n // n_shards) if n_shards else 0
    bounds = np.minimum(np.arange(n_shards + 1) * size, n)
    return _from_bounds(bounds)


def balanced(row_nnz: np.ndarray, n_shards: int, *, alpha: float = 1.0, eps: float = 0.1,
             max_imbalance: float = 1.10, allow_permutation: bool = True) -> RowPartition:
    """Balance ``cost = nnz + alpha * rows`` with at most ``(1 + eps) * n / D`` rows a block.

    Falls back to a degree-dealt permutation when the contiguous split leaves the
    nonzeros more than ``max_imbalance`` (max / mean) out of balance, unless
    ``allow_permutation`` is False (rows assembled on several processes: a permutation
    would move most of them).
    """
    n = len(row_nnz)
    cap = max(1, int(np.ceil((1 + eps) * n / n_shards)))
    part = _contiguous_by_cost(row_nnz.astype(np.float64) + alpha, n_shards, cap)
    if allow_permutation and imbalance(row_nnz, part) > max_imbalance:
        dealt = _dealt_by_degree(row_nnz, n_shards)
        if imbalance(row_nnz, dealt) < imbalance(row_nnz, part):
            return dealt
    return part


def nnz_per_shard(row_nnz: np.ndarray, part: RowPartition) -> np.ndarray:
    return np.array([int(row_nnz[r].sum()) for r in part.rows], dtype=np.int64)


def imbalance(row_nnz: np.ndarray, part: RowPartition) -> float:
    """max / mean nonzeros per shard (1.0 is perfect; an empty matrix is balanced)."""
    loads = nnz_per_shard(row_nnz, part)
    mean = loads.mean() if loads.size else 0.0
    return float(loads.max() / mean) if mean > 0 else 1.0


def _contiguous_by_cost(cost: np.ndarray, n_shards: int, cap: int) -> RowPartition:
    n = len(cost)
    prefix = np.concatenate([[0.0], np.cumsum(cost)])
    total = prefix[-1]
    bounds = [0]
    for k in range(1, n_shards):
        b = int(np.searchsorted(prefix, total * k / n_shards))
        # take the nearer of the two candidate boundaries around the target
        if 0 < b <= n and abs(prefix[b - 1] - total * k / n_shards) < abs(
            prefix[b] - total * k / n_shards
        ):
            b -= 1
        b = min(max(b, bounds[-1]), bounds[-1] + cap, n)
        b = max(b, n - (n_shards - k) * cap)  # what is left must still fit
        bounds.append(b)
    bounds.append(n)
    return _from_bounds(bounds)


def _dealt_by_degree(row_nnz: np.ndarray, n_shards: int, heavy_rounds: int = 4096
                     ) -> RowPartition:
    """Deal rows, heaviest first, so every shard gets ``ceil(n / D)`` rows at most.

    The heaviest rows go one round (``D`` rows) at a time to the lightest shards
    (longest-processing-time); once rows are light, a serpentine deal keeps loads even
    without a Python loop per row.
    """
    n = len(row_nnz)
    order = np.argsort(-row_nnz, kind="stable")
    owner = np.empty(n, dtype=np.int64)
    loads = [(0, s) for s in range(n_shards)]
    n_heavy = min(n, heavy_rounds * n_shards)
    for start in range(0, n_heavy, n_shards):
        batch = order[start:start + n_shards]
        lightest = heapq.nsmallest(len(batch), loads)
        loads = [x for x in loads if x not in lightest]
        for row, (load, s) in zip(batch, lightest, strict=True):
            owner[row] = s
            loads.append((load + int(row_nnz[row]), s))
    rest = order[n_heavy:]
    if rest.size:
        ranked = [s for _, s in sorted(loads)]  # lightest first
        pos = np.arange(rest.size)
        lap, j = pos // n_shards, pos % n_shards
        idx = np.where(lap % 2 == 0, j, n_shards - 1 - j)
        owner[rest] = np.asarray(ranked)[idx]
    rows = tuple(np.flatnonzero(owner == s) for s in range(n_shards))
    return RowPartition(rows, permuted=True)
