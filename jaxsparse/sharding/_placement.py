"""Building a plan's blocks and putting them on the mesh: the common end of ``shard``
and ``from_local_rows`` (one process or several)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sps
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from .. import _hugepages
from ..formats._base import AbstractSparse
from ..formats._index import index_dtype
from . import _blocks
from ._blocks import RowSource
from ._layout import Layout, bucket
from ._plan import MAX_FORCED_DIAGONALS, ShardingPlan, agreed_halo
from ._sharded import PlanKey, ShardedCSR


def canonical_scipy(A) -> sps.csr_array:
    if isinstance(A, AbstractSparse):
        S = A.to_scipy(copy=False)  # only read here (a non-canonical one is copied)
    elif sps.issparse(A):
        S = A
    else:
        raise TypeError(
            f"A must be a jaxsparse or scipy.sparse matrix, got {type(A).__name__}"
        )
    if S.ndim != 2:
        raise ValueError(f"A must be 2-D, got shape {S.shape}")
    if S.format == "csr" and S.has_canonical_format:
        return sps.csr_array(S, copy=False)  # the planner only reads it: no copy
    S = sps.csr_array(S, copy=True)
    S.sum_duplicates()
    return S


def axis_size(mesh: jax.sharding.Mesh, axis: str) -> int:
    if not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if axis not in mesh.shape:
        raise ValueError(f"axis {axis!r} is not a mesh axis; the mesh has {tuple(mesh.shape)}")
    return int(mesh.shape[axis])


def agree(source: RowSource, shape, axis: str, rows: Layout, cols: Layout, permuted: bool,
          *, shards: np.ndarray, halo: str, local_format: str, dtype, gather=None
          ) -> tuple[ShardingPlan, list[_blocks.Survey], _blocks.Agreed]:
    """The plan of the matrix ``source`` holds, with what filling its blocks needs: each
    of ``shards``' survey (pass 1) and the agreed sizes. Host work only: nothing is built
    or placed (``jaxsparse.sharding.plan`` stops here)."""
    gather = gather or _one_process
    dtype = jnp.asarray(np.zeros(0, dtype)).dtype
    D, R, C = rows.n_shards, rows.block, cols.block
    found = [_blocks.survey(source, int(s), rows, cols, local_format != "csr")
             for s in shards]
    counts = np.zeros(D, np.int64)
    counts[shards] = [f.own + f.halo for f in found]
    nnz = np.sum(gather(counts), axis=0)
    keys = np.unique(np.concatenate([f.halo_keys for f in found] or [np.zeros(0, np.int64)]))
    halo_plan, every, pos = agreed_halo(keys, D, C, halo, gather)
    own_cap = bucket(_agreed_max([f.own for f in found], gather))
    halo_cap = bucket(_agreed_max([f.halo for f in found], gather))
    H, all_rows = 0, False
    if halo_plan.width:
        # A banded or stencil block reads halo columns in a few rows at each end, so its
        # halo product walks H rows instead of R; when H would exceed half the block
        # (scattered patterns) the halo block keeps every row.
        H = bucket(_agreed_max([f.halo_rows.size for f in found], gather))
        all_rows = 2 * H > R
        H = R if all_rows else H
    ext = max(R, C, halo_plan.width + 1, own_cap, halo_cap, *shape)
    idx = index_dtype(ext)
    n_diags = _owned_diagonals(found, shards, local_format, (R, C), dtype, idx, gather)
    if n_diags:  # slot ids run to n_diags * C (the dump slot)
        idx = index_dtype(ext, n_diags * C)
    the_plan = ShardingPlan(
        shape=tuple(shape), axis=axis, rows=rows, cols=cols, halo=halo_plan,
        nnz_per_shard=nnz, own_capacity=own_cap, halo_capacity=halo_cap,
        halo_block_rows=H, permuted=permuted,
        local_format="dia" if n_diags else "csr", own_diagonals=n_diags,
    )
    agreed = _blocks.Agreed(own_cap, halo_cap, halo_plan.width, every, pos, H, all_rows,
                            n_diags, np.dtype(dtype), np.dtype(idx))
    return the_plan, found, agreed


def build_and_place(source: RowSource, shape, mesh, axis: str, rows: Layout, cols: Layout,
                    permuted: bool, *, shards: np.ndarray, halo: str, local_format: str,
                    dtype, gather=None) -> ShardedCSR:
    """Plan the matrix whose entries ``source`` holds and place the blocks of
    ``shards`` (all of them on one process; this process's, in mesh order, on several)
    on the mesh, one shard at a time (``_blocks``).

    ``gather(array) -> [array of each process]`` combines what the processes building
    different shards must agree on: the halo reads, the capacities, the counts and the
    owned blocks' layout. Every process then holds the same plan and places only its own
    shards' blocks. On one process ``gather`` is the identity.
    """
    the_plan, found, agreed = agree(source, shape, axis, rows, cols, permuted, shards=shards,
                                    halo=halo, local_format=local_format, dtype=dtype,
                                    gather=gather)
    D, idx = rows.n_shards, agreed.index
    sharding = NamedSharding(mesh, P(axis))
    devices = _devices_of_shards(sharding, D)
    placed: dict[str, list] = {}
    for s, f in zip(shards, found, strict=True):
        # each array goes to the devices as soon as it is built: only device copies stay
        # (large ones on 2 MB pages: fewer TLB misses in every product)
        for name, a in _blocks.fill(source, int(s), rows, cols, f, agreed):
            placed.setdefault(name, []).extend(
                _hugepages.device_put(a[None], d) for d in devices[int(s)])
            del a
    leaves = {name: jax.make_array_from_single_device_arrays(
        (D, *parts[0].shape[1:]), sharding, parts) for name, parts in placed.items()}
    _hugepages.release_freed_host_memory()  # the staging arrays' heap memory

    def put(a):  # plan arrays: every process holds all of them
        return jax.device_put(np.asarray(a, dtype=idx), sharding)

    row_index = put(rows.index)
    return ShardedCSR(
        own_data=leaves["own_data"], own_indices=leaves.get("own_indices"),
        own_indptr=leaves["own_indptr"], halo_data=leaves["halo_data"],
        halo_indices=leaves["halo_indices"], halo_indptr=leaves["halo_indptr"],
        halo_rows=leaves["halo_rows"], send=put(the_plan.halo.send),
        row_index=row_index, col_index=row_index if cols is rows else put(cols.index),
        own_offsets=leaves.get("own_offsets"), own_mask=leaves.get("own_mask"),
        key=PlanKey(the_plan, mesh),
    )


def _one_process(array: np.ndarray) -> list[np.ndarray]:
    """``gather`` for one process: its own array is everyone's."""
    return [array]


def _agreed_max(values, gather) -> int:
    return int(max(int(g[0]) for g in gather(np.array([max(values, default=0)], np.int64))))


def _owned_diagonals(found, shards, request, shape, dtype, idx, gather) -> int:
    """The owned blocks' common diagonal count, or 0 to keep them CSR.

    "auto" holds them as diagonals when *every* shard's block moves fewer bytes that way
    with the common count (all shards run one static program)."""
    if request == "csr":
        return 0
    count = _agreed_max([f.diagonals.size for f in found], gather)
    pays_here = _blocks.diagonals_pay(found, count, shape, dtype, idx)
    pays = all(bool(x[0]) for x in gather(np.array([pays_here])))
    if request == "auto" and not pays:
        return 0
    if request == "dia" and not pays and count > MAX_FORCED_DIAGONALS:
        worst = int(shards[int(np.argmax([f.diagonals.size for f in found]))])
        raise ValueError(
            f"local_format='dia': shard {worst}'s owned block touches {count} diagonals, "
            f"more than {MAX_FORCED_DIAGONALS}, and diagonals would move more bytes than "
            "CSR there; use local_format='auto' or 'csr'"
        )
    return max(count, 1)


def _devices_of_shards(sharding: NamedSharding, D: int) -> dict[int, list]:
    """This process's devices holding each shard (several where other mesh axes
    replicate it)."""
    out: dict[int, list] = {}
    for device, index in sharding.addressable_devices_indices_map((D,)).items():
        out.setdefault(index[0].start or 0, []).append(device)
    return out
