"""``plan(A, mesh, axis)``: the static facts about sharding one matrix, found on the host.

Follows the image partitions of Legate Sparse (SC'23, §3-4; docs/architecture.md):

- a row partition (balanced nonzeros, bounded rows; a permutation where needed);
- image(pos -> crd, vals): each shard's entries, padded to one common capacity;
- image(crd -> x): the columns each shard reads, split into owned and halo. Each shard's
  block is stored PETSc-style as an owned-columns part and a halo-columns part, so the
  owned product can overlap the halo exchange. The halo moves as ``ppermute`` rounds
  (one per non-empty neighbour shift), one ``all_to_all`` when the pattern is scattered,
  or an ``all_gather`` when the halo is most of x (on two shards, one ``ppermute`` of
  the other shard's whole block).
- the owned block's local layout: diagonals (DIA) when every shard's owned block moves
  fewer bytes that way (banded and stencil matrices), else CSR. The halo block is CSR.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from . import _partition
from ._collectives import trades_blocks
from ._layout import Layout, layout_block

HALO_METHODS = ("auto", "ppermute", "all_to_all", "all_gather")
LOCAL_FORMATS = ("auto", "csr", "dia")

# ``local_format="dia"`` stores n_diags values per row of every shard whatever its nnz.
# 64 covers the common stencils (2-D 5x5 and 3-D 27-point: 25 and 27 diagonals, with
# room for higher order) while bounding what forcing can cost: a scattered row with 64
# distinct diagonals may hold a handful of entries and would grow ~10x. Beyond it
# "dia" is refused unless diagonals move fewer bytes anyway (when "auto" picks them).
MAX_FORCED_DIAGONALS = 64


@dataclasses.dataclass(frozen=True)
class HaloPlan:
    """How shard ``r`` gets the off-shard columns it reads.

    ``method`` "ppermute": round ``i`` sends from shard ``s`` to ``(s + shifts[i]) % D``,
    ``sizes[i]`` values each; "all_to_all": one exchange of ``(D, sizes[0])`` blocks;
    "all_gather": every shard's whole block, in shard order (``D * block`` values, its
    own included), or on two shards the other shard's block alone (``block`` values,
    one ``ppermute``; ``_collectives.trades_blocks``); "none": no shard reads another's
    columns.
    ``send[s]``: local slots of shard ``s``'s block to send, concatenated over rounds
    (padding points at slot ``R``, a zero). ``width``: the halo vector's length.
    """

    method: str
    shifts: tuple[int, ...]
    sizes: tuple[int, ...]
    send: np.ndarray  # (D, total send length) int
    width: int
    distinct: np.ndarray  # (D,) distinct off-shard columns each shard reads

    @property
    def volume(self) -> int:
        """Values each shard receives per exchange (padding included)."""
        return int(self.send.shape[1]) if self.method != "all_gather" else self.width


@dataclasses.dataclass(frozen=True, eq=False)
class ShardingPlan:
    """Everything static about one sharded matrix. Small; computed once on the host."""

    shape: tuple[int, int]
    axis: str
    rows: Layout  # the layout of y = A @ x
    cols: Layout  # the layout of x (the same object as ``rows`` for square matrices)
    halo: HaloPlan
    nnz_per_shard: np.ndarray
    own_capacity: int
    halo_capacity: int
    permuted: bool
    local_format: str = "csr"  # the owned blocks' layout: "csr" or "dia"
    own_diagonals: int = 0  # "dia": diagonals per shard (padded to a common count)
    # Rows of the halo blocks: only the block rows that read halo columns (``halo_rows``
    # lists them per shard), or the whole block when that is most of it.
    halo_block_rows: int = 0

    @property
    def n_shards(self) -> int:
        return self.rows.n_shards

    @property
    def nnz_imbalance(self) -> float:
        """max / mean nonzeros per shard (1.0 is perfect)."""
        mean = self.nnz_per_shard.mean() if self.nnz_per_shard.size else 0
        return float(self.nnz_per_shard.max() / mean) if mean > 0 else 1.0

    @property
    def mask(self) -> np.ndarray:
        """(D * R,) bool over the row layout: True at real slots, False at padding.

        Padding slots of layout vectors hold 0 and stay 0 under zero-preserving code
        (sums, norms, axpys, products by A). Code that maps 0 elsewhere (``1 / x``,
        ``exp``) must mask: ``jnp.where(As.mask, f(x), 0)`` (``As.mask`` is the same
        mask, already on the mesh).
        """
        return self.rows.mask

    @property
    def halo_volume(self) -> int:
        """Values received per shard per SpMV, padding included."""
        return self.halo.volume if self.halo.method != "none" else 0

    @property
    def halo_distinct(self) -> int:
        """Distinct off-shard columns over all shards (the unpadded halo)."""
        return int(self.halo.distinct.sum())

    def __repr__(self) -> str:
        return (
            f"ShardingPlan(shape={self.shape}, shards={self.n_shards}, "
            f"block={self.rows.block}, nnz_imbalance={self.nnz_imbalance:.3f}, "
            f"halo={self.halo.method} rounds={self.halo.shifts} sizes={self.halo.sizes}, "
            f"permuted={self.permuted}, local_format={self.local_format!r}"
            + (f" ({self.own_diagonals} diagonals)" if self.local_format == "dia" else "")
            + ")"
        )


def plan_layouts(row_nnz: np.ndarray, shape, n_shards: int, *,
                 like: ShardingPlan | None = None, alpha: float = 1.0, eps: float = 0.1,
                 contiguous: bool = False) -> tuple[Layout, Layout, bool]:
    """The row and column layouts ``(rows, cols, permuted)`` for rows of ``row_nnz``
    nonzeros over ``n_shards`` shards (``contiguous``: never a permutation)."""
    n, m = shape
    if like is not None:
        if like.n_shards != n_shards or like.shape[0] != n or like.shape[1] != m:
            raise ValueError(
                f"like= must be a plan of the same shape {tuple(shape)} and shard count "
                f"{n_shards}, got {like.shape} over {like.n_shards} shards"
            )
        return like.rows, like.cols, like.permuted
    part = _partition.balanced(row_nnz, n_shards, alpha=alpha, eps=eps,
                               allow_permutation=not contiguous)
    rows = Layout.from_partition(part, n, layout_block(part.block_rows))
    if n == m:
        return rows, rows, part.permuted  # x and y share one layout: solvers never move
    cpart = _partition.contiguous(m, n_shards)
    return rows, Layout.from_partition(cpart, m, layout_block(cpart.block_rows)), \
        part.permuted


def agreed_halo(keys: np.ndarray, D: int, block: int, method: str, gather
                ) -> tuple[HaloPlan, np.ndarray, np.ndarray]:
    """The halo plan of every process's halo reads ``keys`` (distinct, sorted
    ``(reader * D + owner) * block + owner slot``; see ``_blocks.halo_key``).

    Returns ``(plan, every, pos)``: ``every`` lists all processes' keys, sorted, and
    ``pos[i]`` is key ``every[i]``'s column in its reader's halo vector."""
    if method not in HALO_METHODS:
        raise ValueError(f"halo must be one of {HALO_METHODS}, got {method!r}")
    every = np.unique(np.concatenate(gather(keys)))
    halo_plan, pos = _plan_halo(every, D, block, method)
    return halo_plan, every, pos


def _plan_halo(uniq, D, block, method):
    """Group the halo reads ``uniq`` (distinct sorted keys, one per value that must
    move) by (reader, owner); choose the collective; number the halo.

    Returns the plan and, for every key, its column in the reader's halo vector.
    """
    distinct = np.zeros(D, dtype=np.int64)
    if uniq.size == 0:
        return HaloPlan("none", (), (), np.zeros((D, 0), np.int64), 0, distinct), uniq
    u_dst, rem = np.divmod(uniq, D * block)
    u_src, u_slot = np.divmod(rem, block)
    pair = u_dst * D + u_src
    pair_count = np.bincount(pair, minlength=D * D).reshape(D, D)
    distinct = pair_count.sum(axis=1)
    first = np.searchsorted(pair, pair)  # uniq is sorted, so pairs are contiguous
    rank = np.arange(uniq.size) - first  # position within its (reader, owner) group
    shift = (u_dst - u_src) % D
    round_size = np.zeros(D, dtype=np.int64)
    for d in range(1, D):
        round_size[d] = max(pair_count[(s + d) % D, s] for s in range(D))
    shifts = tuple(d for d in range(1, D) if round_size[d] > 0)
    pp_volume = int(round_size.sum())
    a2a_size = int(pair_count.max())
    if method == "auto":
        method = _choose(pp_volume, len(shifts), a2a_size, int(distinct.max()), D, block)
    if method == "all_gather":
        send = np.zeros((D, 0), np.int64)
        if trades_blocks(method, D):  # the other shard's block: its slot is the column
            return HaloPlan("all_gather", (), (), send, block, distinct), u_slot
        pos = u_src * block + u_slot  # index into the gathered (D * R,) vector
        return HaloPlan("all_gather", (), (), send, D * block, distinct), pos
    if method == "ppermute":
        offsets = np.concatenate([[0], np.cumsum([round_size[d] for d in shifts])])
        offset_of_shift = np.zeros(D, dtype=np.int64)
        for i, d in enumerate(shifts):
            offset_of_shift[d] = offsets[i]
        pos = offset_of_shift[shift] + rank
        send = np.full((D, int(offsets[-1])), block, dtype=np.int64)
        send[u_src, pos] = u_slot  # the owner sends its slot at the reader's position
        sizes = tuple(int(round_size[d]) for d in shifts)
        return HaloPlan("ppermute", shifts, sizes, send, int(offsets[-1]), distinct), pos
    # all_to_all: owner s sends block [r] (a2a_size values) to reader r
    pos = u_src * a2a_size + rank
    send = np.full((D, D * a2a_size), block, dtype=np.int64)
    send[u_src, u_dst * a2a_size + rank] = u_slot
    return HaloPlan("all_to_all", (), (a2a_size,), send, D * a2a_size, distinct), pos


def _choose(pp_volume, n_rounds, a2a_size, max_distinct, D, block):
    """Pick the cheapest exchange: volume plus a per-collective latency in values."""
    if max_distinct > 0.5 * (D - 1) * block:
        return "all_gather"  # the halo is most of x
    # Rounds move only what each neighbour needs; one all_to_all moves D equal blocks
    # but pays one latency. Neighbour-only patterns (banded, stencils) have <= 2 rounds.
    if pp_volume <= D * a2a_size and n_rounds <= max(2, D // 2):
        return "ppermute"
    return "all_to_all"
