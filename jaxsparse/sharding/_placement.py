"""Putting a plan's blocks on the mesh: the common end of ``shard`` and
``from_local_rows`` (one process or several)."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sps
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..formats._base import AbstractSparse
from ..formats._index import index_dtype
from ._plan import ShardingPlan, local_layout
from ._sharded import PlanKey, ShardedCSR


def canonical_scipy(A) -> sps.csr_array:
    if isinstance(A, AbstractSparse):
        S = A.to_scipy()
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


def place(the_plan: ShardingPlan, blocks, mesh, local_format: str, dtype, gather=None,
          ) -> ShardedCSR:
    """Choose the owned blocks' layout, and put the blocks on the mesh as a ShardedCSR.

    ``blocks`` holds every shard (one process), or this process's shards in mesh order
    (several processes: placed with ``make_array_from_process_local_data``; ``gather``
    agrees the layout choice)."""
    dtype = jnp.asarray(np.zeros(0, dtype)).dtype
    ext = max(the_plan.rows.block, the_plan.cols.block, the_plan.halo.width + 1,
              the_plan.own_capacity, the_plan.halo_capacity, *the_plan.shape)
    idx = index_dtype(ext)
    the_plan, dia = local_layout(the_plan, blocks, local_format, dtype, idx, gather)
    if dia is not None:  # slot ids run to n_diags * n_cols (the dump slot)
        idx = index_dtype(ext, dia.data.shape[1] * dia.data.shape[2])
    sharding = NamedSharding(mesh, P(the_plan.axis))
    D = the_plan.n_shards

    def put(a, dt):
        a = np.asarray(a, dtype=dt)
        if a.shape[0] == D:  # every shard's block (or a plan array every process has)
            return jax.device_put(a, sharding)
        return jax.make_array_from_process_local_data(sharding, a, (D, *a.shape[1:]))

    own_d, own_i, own_p = blocks.own
    halo_d, halo_i, halo_p = blocks.halo
    return ShardedCSR(
        own_data=put(own_d if dia is None else dia.data, dtype),
        own_indices=put(own_i, idx), own_indptr=put(own_p, idx),
        halo_data=put(halo_d, dtype), halo_indices=put(halo_i, idx),
        halo_indptr=put(halo_p, idx), halo_rows=put(blocks.halo_rows, idx),
        send=put(the_plan.halo.send, idx),
        row_index=put(the_plan.rows.index, idx), col_index=put(the_plan.cols.index, idx),
        own_offsets=None if dia is None else put(dia.offsets, idx),
        own_slot=None if dia is None else put(dia.slot, idx),
        key=PlanKey(the_plan, mesh),
    )
