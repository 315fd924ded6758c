"""``plan(A, mesh, axis)``: the static facts about sharding one matrix, found on the host.

Follows the image partitions of Legate Sparse (SC'23, §3-4; docs/architecture.md):

- a row partition (balanced nonzeros, bounded rows; a permutation where needed);
- image(pos -> crd, vals): each shard's entries, padded to one common capacity;
- image(crd -> x): the columns each shard reads, split into owned and halo. Each shard's
  block is stored PETSc-style as an owned-columns part and a halo-columns part, so the
  owned product can overlap the halo exchange. The halo moves as ``ppermute`` rounds
  (one per non-empty neighbour shift), one ``all_to_all`` when the pattern is scattered,
  or an ``all_gather`` when the halo is most of x.
- the owned block's local layout: diagonals (DIA) when every shard's owned block moves
  fewer bytes that way (banded and stencil matrices), else CSR. The halo block is CSR.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import scipy.sparse as sps

from ..formats import _structure
from . import _partition
from ._layout import Layout, bucket

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
    "all_gather": the whole vector; "none": no shard reads another's columns.
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


@dataclasses.dataclass(frozen=True)
class LocalBlocks:
    """Per-shard CSR blocks (host arrays stacked on a leading shard axis)."""

    own: tuple[np.ndarray, np.ndarray, np.ndarray]  # data, indices, indptr
    halo: tuple[np.ndarray, np.ndarray, np.ndarray]  # over the rows in ``halo_rows``
    halo_rows: np.ndarray  # (D, plan.halo_block_rows): block row of each halo-block row


@dataclasses.dataclass(frozen=True)
class DiaBlocks:
    """The owned blocks as diagonals (host arrays stacked on a leading shard axis).

    ``offsets[s]`` lists shard ``s``'s diagonals, padded to the common count with
    ``n_cols`` (a diagonal wholly outside the block, whose data is 0). ``slot[s, p]``:
    where CSR slot ``p`` of the owned block lands in the flattened ``data[s]``
    (``n_diags * n_cols`` for capacity padding), see ``formats._structure``.
    """

    data: np.ndarray  # (D, n_diags, n_cols)
    offsets: np.ndarray  # (D, n_diags)
    slot: np.ndarray  # (D, own capacity)


def local_layout(plan: ShardingPlan, blocks: LocalBlocks, request: str, dtype, index_dtype,
                 gather=None) -> tuple[ShardingPlan, DiaBlocks | None]:
    """Choose the owned blocks' layout (``request``: "auto", "csr" or "dia").

    "auto" holds them as diagonals when *every* shard's block moves fewer bytes that way
    with the common diagonal count (all shards run one static program). Returns the plan
    with ``local_format`` set and, for "dia", the blocks as diagonals. ``blocks`` may
    hold only this process's shards; ``gather`` (see :func:`build_blocks`) then agrees
    the count and the choice with the other processes.
    """
    gather = gather or _one_process
    if request not in LOCAL_FORMATS:
        raise ValueError(f"local_format must be one of {LOCAL_FORMATS}, got {request!r}")
    if request == "csr":
        return plan, None
    own_d, own_i, own_p = blocks.own
    shape = (plan.rows.block, plan.cols.block)
    n_local = own_p.shape[0]
    per_shard = [_structure.diagonals(own_p[s], own_i[s]) for s in range(n_local)]
    local_most = np.array([max((d.size for d in per_shard), default=0)])
    count = int(max(g[0] for g in gather(local_most)))
    nnz = own_p[:, -1]
    pays_here = count > 0 and all(
        _structure.diagonals_pay(count, int(k), shape, dtype, index_dtype) for k in nnz)
    pays = all(bool(x[0]) for x in gather(np.array([pays_here])))
    if request == "auto" and not pays:
        return plan, None
    if request == "dia" and not pays and count > MAX_FORCED_DIAGONALS:
        worst = int(np.argmax([d.size for d in per_shard]))
        raise ValueError(
            f"local_format='dia': shard {worst}'s owned block touches {count} diagonals, "
            f"more than {MAX_FORCED_DIAGONALS}, and diagonals would move more bytes than "
            "CSR there; use local_format='auto' or 'csr'"
        )
    count = max(count, 1)
    n_cols = plan.cols.block
    offsets = np.full((n_local, count), n_cols, dtype=np.int64)  # padding: off-block
    data = np.zeros((n_local, count, n_cols), dtype=own_d.dtype)
    slot = np.zeros(own_i.shape, dtype=np.int64)
    for s, diags in enumerate(per_shard):
        offsets[s, : diags.size] = diags
        data[s], slot[s] = _structure.dia_from_csr(own_d[s], own_p[s], own_i[s], shape,
                                                   offsets[s])
    plan = dataclasses.replace(plan, local_format="dia", own_diagonals=count)
    return plan, DiaBlocks(data, offsets, slot)


def _one_process(array: np.ndarray) -> list[np.ndarray]:
    """``gather`` for one process: its own array is everyone's."""
    return [array]


def make_plan(S: sps.csr_array, n_shards: int, axis: str, *, halo: str = "auto",
              like: ShardingPlan | None = None, alpha: float = 1.0, eps: float = 0.1
              ) -> tuple[ShardingPlan, LocalBlocks]:
    """Plan ``S`` (canonical SciPy CSR) over ``n_shards`` shards; build its blocks."""
    rows, cols, permuted = plan_layouts(np.diff(S.indptr), S.shape, n_shards, like=like,
                                        alpha=alpha, eps=eps)
    # Per-entry arrays in the narrowest index type: the planner's peak memory is a few
    # of them (no int64 copy of the column indices).
    small = np.int32 if max(S.shape) < np.iinfo(np.int32).max else np.int64
    entry_row = np.repeat(np.arange(S.shape[0], dtype=small), np.diff(S.indptr))
    return build_blocks(entry_row, S.indices, S.data, S.shape, axis, rows, cols, permuted,
                        halo=halo, presorted=not permuted)


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
    rows = Layout.from_partition(part, n, bucket(max(part.block_rows, 1)))
    if n == m:
        return rows, rows, part.permuted  # x and y share one layout: solvers never move
    cpart = _partition.contiguous(m, n_shards)
    return rows, Layout.from_partition(cpart, m, bucket(max(cpart.block_rows, 1))), \
        part.permuted


def build_blocks(entry_row, entry_col, data, shape, axis, rows: Layout, cols: Layout,
                 permuted: bool, *, halo: str = "auto", shards: np.ndarray | None = None,
                 gather=None, presorted: bool = False) -> tuple[ShardingPlan, LocalBlocks]:
    """The plan, and the CSR blocks of ``shards`` (default: all), from the entries
    ``(entry_row, entry_col, data)`` of those shards' rows (global indices).
    ``presorted``: the entries are in CSR order and the row layout keeps the rows in
    order (no permutation), so each block's entries already come sorted by row and no
    sort (and no sorted copies) is needed.

    ``gather(array) -> [array of each process]`` combines what the processes building
    different shards must agree on: the halo requests, the capacities and the counts.
    Every process then holds the same plan and only its own shards' blocks. One process
    builds every shard, and its gather is the identity.
    """
    if halo not in HALO_METHODS:
        raise ValueError(f"halo must be one of {HALO_METHODS}, got {halo!r}")
    gather = gather or _one_process
    D = rows.n_shards
    shards = np.arange(D) if shards is None else np.asarray(shards, dtype=np.int64)
    r_shard, r_slot = rows.owner[entry_row], rows.slot[entry_row]
    c_owner, c_slot = cols.owner[entry_col], cols.slot[entry_col]
    is_own = c_owner == r_shard
    halo_plan, halo_pos = _agreed_halo(r_shard[~is_own], c_owner[~is_own], c_slot[~is_own],
                                       D, cols.block, halo, gather)
    nnz = np.sum(gather(np.bincount(r_shard, minlength=D).astype(np.int64)), axis=0)
    # each entry's shard among ``shards`` (all of them, on one process: the same ids)
    every = shards.size == D and np.array_equal(shards, np.arange(D))
    local = r_shard if every else np.searchsorted(shards, r_shard)
    del c_owner, r_shard
    own = _stack_blocks(data[is_own], local[is_own], r_slot[is_own], c_slot[is_own],
                        len(shards), rows.block, cols.block,
                        _agreed_capacity(local[is_own], len(shards), gather), presorted)
    # No halo (one shard, block-diagonal A): keep only a stub, the product skips it.
    h_shard, h_slot = local[~is_own], r_slot[~is_own]
    if halo_plan.width:
        halo_rows, h_pos = _halo_rows(h_shard, h_slot, len(shards), rows.block, gather)
    else:
        halo_rows, h_pos = np.zeros((len(shards), 0), np.int64), h_slot
    halo_blocks = _stack_blocks(data[~is_own], h_shard, h_pos, halo_pos, len(shards),
                                halo_rows.shape[1], halo_plan.width,
                                _agreed_capacity(h_shard, len(shards), gather), presorted)
    plan = ShardingPlan(
        shape=tuple(shape), axis=axis, rows=rows, cols=cols, halo=halo_plan,
        nnz_per_shard=nnz, own_capacity=own[0].shape[1],
        halo_capacity=halo_blocks[0].shape[1], halo_block_rows=halo_rows.shape[1],
        permuted=permuted,
    )
    return plan, LocalBlocks(own, halo_blocks, halo_rows)


def _agreed_capacity(shard, n_local: int, gather) -> int:
    """One bucketed capacity for every shard of every process."""
    counts = np.bincount(shard, minlength=n_local)
    return bucket(int(max(c.max(initial=0) for c in gather(counts))))


def _agreed_halo(dst, src, src_slot, D, block, method, gather):
    """:func:`_plan_halo` on every process's halo requests, and the position of each
    of this process's halo entries in its reader's halo vector."""
    key = (dst * D + src) * block + src_slot
    every = np.unique(np.concatenate(gather(np.unique(key))))
    u_dst, rem = np.divmod(every, D * block)
    u_src, u_slot = np.divmod(rem, block)
    halo_plan, pos = _plan_halo(u_dst, u_src, u_slot, D, block, method)
    return halo_plan, pos[np.searchsorted(every, key)]


def _plan_halo(dst, src, src_slot, D, block, method):
    """Group halo reads by (reader, owner); choose the collective; number the halo.

    Returns the plan and, for every halo entry, its column in the reader's halo vector.
    """
    distinct = np.zeros(D, dtype=np.int64)
    if dst.size == 0:
        return HaloPlan("none", (), (), np.zeros((D, 0), np.int64), 0, distinct), dst
    # unique (reader, owner, owner slot) triples, i.e. the values that must move
    key = (dst * D + src) * block + src_slot
    uniq, inverse = np.unique(key, return_inverse=True)
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
        pos = u_src * block + u_slot  # index into the gathered (D * R,) vector
        send = np.zeros((D, 0), np.int64)
        return HaloPlan("all_gather", (), (), send, D * block, distinct), pos[inverse]
    if method == "ppermute":
        offsets = np.concatenate([[0], np.cumsum([round_size[d] for d in shifts])])
        offset_of_shift = np.zeros(D, dtype=np.int64)
        for i, d in enumerate(shifts):
            offset_of_shift[d] = offsets[i]
        pos = offset_of_shift[shift] + rank
        send = np.full((D, int(offsets[-1])), block, dtype=np.int64)
        send[u_src, pos] = u_slot  # the owner sends its slot at the reader's position
        sizes = tuple(int(round_size[d]) for d in shifts)
        return HaloPlan("ppermute", shifts, sizes, send, int(offsets[-1]), distinct), \
            pos[inverse]
    # all_to_all: owner s sends block [r] (a2a_size values) to reader r
    pos = u_src * a2a_size + rank
    send = np.full((D, D * a2a_size), block, dtype=np.int64)
    send[u_src, u_dst * a2a_size + rank] = u_slot
    return HaloPlan("all_to_all", (), (a2a_size,), send, D * a2a_size, distinct), \
        pos[inverse]


def _choose(pp_volume, n_rounds, a2a_size, max_distinct, D, block):
    """Pick the cheapest exchange: volume plus a per-collective latency in values."""
    if max_distinct > 0.5 * (D - 1) * block:
        return "all_gather"  # the halo is most of x
    # Rounds move only what each neighbour needs; one all_to_all moves D equal blocks
    # but pays one latency. Neighbour-only patterns (banded, stencils) have <= 2 rounds.
    if pp_volume <= D * a2a_size and n_rounds <= max(2, D // 2):
        return "ppermute"
    return "all_to_all"


def _halo_rows(shard, slot, D, block, gather):
    """``(rows, pos)``: per shard, the block rows holding halo entries, padded with the
    sentinel ``block`` to a common bucketed count H, and each entry's position among
    them. A banded or stencil block reads halo columns in a few rows at each end, so
    its halo product walks H rows instead of ``block``. When H would exceed half the
    block (scattered patterns), the halo block keeps every row: ``rows`` is
    ``arange(block)`` and positions are the rows themselves."""
    per_shard = [np.unique(slot[shard == s]) for s in range(D)]
    most = np.array([max((u.size for u in per_shard), default=0)])
    H = bucket(int(max(g[0] for g in gather(most))))
    if 2 * H > block:
        return np.tile(np.arange(block, dtype=np.int64), (D, 1)), slot
    rows = np.full((D, H), block, dtype=np.int64)
    pos = np.zeros_like(slot)
    for s, u in enumerate(per_shard):
        rows[s, : u.size] = u
        mine = shard == s
        pos[mine] = np.searchsorted(u, slot[mine])
    return rows, pos


def _stack_blocks(data, shard, row, col, D, n_rows, n_cols, cap, presorted=False):
    """Per-shard CSR arrays, stacked, each padded to capacity ``cap``. ``presorted``:
    the entries are already grouped by shard and by row within it (columns within a
    row in any order: the product kernels do not need them sorted)."""
    counts = np.bincount(shard, minlength=D)
    if not presorted:
        order = np.lexsort((col, row, shard))
        shard, row, col, data = shard[order], row[order], col[order], data[order]
        del order
    starts = np.concatenate([[0], np.cumsum(counts)])
    out_data = np.zeros((D, cap), dtype=data.dtype)
    out_idx = np.full((D, cap), n_cols, dtype=np.promote_types(col.dtype, np.int32))
    out_ptr = np.zeros((D, n_rows + 1), dtype=np.int64)
    for s in range(D):
        a, b = starts[s], starts[s + 1]
        out_data[s, : b - a] = data[a:b]
        out_idx[s, : b - a] = col[a:b]
        out_ptr[s, 1:] = np.cumsum(np.bincount(row[a:b], minlength=n_rows))
    return out_data, out_idx, out_ptr
