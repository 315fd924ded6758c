"""Public entry points: ``plan`` and ``shard``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sps
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from ..formats._base import AbstractSparse
from ..formats._index import index_dtype
from ._plan import HALO_METHODS, LOCAL_FORMATS, ShardingPlan, local_layout, make_plan
from ._sharded import PlanKey, ShardedCSR


def _canonical_scipy(A) -> sps.csr_array:
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
    S = sps.csr_array(S, copy=True)
    S.sum_duplicates()
    return S


def _axis_size(mesh: jax.sharding.Mesh, axis: str) -> int:
    if not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh, got {type(mesh).__name__}")
    if axis not in mesh.shape:
        raise ValueError(f"axis {axis!r} is not a mesh axis; the mesh has {tuple(mesh.shape)}")
    return int(mesh.shape[axis])


def plan(A, mesh: jax.sharding.Mesh, axis: str = "x", *, halo: str = "auto",
         like: ShardedCSR | None = None, local_format: str = "auto") -> ShardingPlan:
    """The static sharding plan of ``A`` over ``mesh[axis]`` (computed on the host).

    Reports ``nnz_per_shard``, ``nnz_imbalance``, the halo method, rounds and volume,
    and the owned blocks' ``local_format``.
    """
    return shard(A, mesh, axis, halo=halo, like=like, local_format=local_format).plan


def shard(A, mesh: jax.sharding.Mesh, axis: str = "x", *, halo: str = "auto",
          like: ShardedCSR | None = None, local_format: str = "auto") -> ShardedCSR:
    """Split ``A`` by rows over ``mesh[axis]``: a :class:`ShardedCSR`.

    Args:
        A: any jaxsparse format or ``scipy.sparse`` matrix (host data).
        mesh: a ``jax.sharding.Mesh`` (Explicit or Auto axes).
        axis: the mesh axis the rows are split over.
        halo: "auto" (default), "ppermute", "all_to_all" or "all_gather".
        like: reuse another sharded matrix's vector layout so the two compose.
        local_format: the owned-columns blocks' layout. "auto" (default): diagonals
            (DIA) when every shard's block moves fewer bytes that way (banded and
            stencil matrices; see ``jaxsparse.formats._structure``), else CSR. "csr"
            or "dia" force one; "dia" is refused for a block of more than
            ``MAX_FORCED_DIAGONALS`` (64) diagonals where CSR moves fewer bytes.
            ``As.plan.local_format`` says which was chosen.

    Example:
        >>> mesh = jax.make_mesh((4,), ("x",))
        >>> As = js.sharding.shard(A, mesh, "x")
        >>> ys = As @ As.shard_vector(x)
    """
    if halo not in HALO_METHODS:
        raise ValueError(f"halo must be one of {HALO_METHODS}, got {halo!r}")
    if local_format not in LOCAL_FORMATS:
        raise ValueError(f"local_format must be one of {LOCAL_FORMATS}, got {local_format!r}")
    D = _axis_size(mesh, axis)
    S = _canonical_scipy(A)
    if like is not None:
        if not isinstance(like, ShardedCSR):
            raise TypeError(f"like must be a ShardedCSR, got {type(like).__name__}")
        if like.mesh != mesh or like.axis != axis:
            raise ValueError("like= must be sharded over the same mesh and axis")
    the_plan, blocks = make_plan(S, D, axis, halo=halo,
                                 like=None if like is None else like.plan)
    dtype = jnp.asarray(np.zeros(0, S.dtype)).dtype
    ext = max(the_plan.rows.block, the_plan.cols.block, the_plan.halo.width + 1,
              the_plan.own_capacity, the_plan.halo_capacity, *S.shape)
    idx = index_dtype(ext)
    the_plan, dia = local_layout(the_plan, blocks, local_format, dtype, idx)
    if dia is not None:  # slot ids run to n_diags * n_cols (the dump slot)
        idx = index_dtype(ext, dia.data.shape[1] * dia.data.shape[2])
    sharding = NamedSharding(mesh, P(axis))

    def put(a, dt):
        return jax.device_put(np.asarray(a, dtype=dt), sharding)

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
