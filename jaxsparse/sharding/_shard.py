"""Public entry points: ``plan`` and ``shard``."""

from __future__ import annotations

import jax
import numpy as np

from ._local_rows import shard_on_processes
from ._placement import RowSource, agree, axis_size, build_and_place, canonical_scipy
from ._plan import HALO_METHODS, LOCAL_FORMATS, ShardingPlan, plan_layouts
from ._sharded import ShardedCSR


def plan(A, mesh: jax.sharding.Mesh, axis: str = "x", *, halo: str = "auto",
         like: ShardedCSR | None = None, local_format: str = "auto") -> ShardingPlan:
    """The static sharding plan of ``A`` over ``mesh[axis]`` (computed on the host).

    Reports ``nnz_per_shard``, ``nnz_imbalance``, the halo method, rounds and volume,
    and the owned blocks' ``local_format``. Only the host survey runs: no block is
    built or placed (on several processes, the plan of a full :func:`shard`).
    """
    S, D = _checked(A, mesh, axis, halo, like, local_format)
    if jax.process_count() > 1:
        return shard(A, mesh, axis, halo=halo, like=like, local_format=local_format).plan
    rows, cols, permuted = plan_layouts(np.diff(S.indptr), S.shape, D,
                                        like=None if like is None else like.plan)
    the_plan, _, _ = agree(RowSource(S), S.shape, axis, rows, cols, permuted,
                           shards=np.arange(D), halo=halo, local_format=local_format,
                           dtype=S.dtype)
    return the_plan


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
    S, D = _checked(A, mesh, axis, halo, like, local_format)
    if jax.process_count() > 1:  # every process holds S: each builds only its shards
        return shard_on_processes(S, mesh, axis, halo=halo, like=like,
                                  local_format=local_format)
    rows, cols, permuted = plan_layouts(np.diff(S.indptr), S.shape, D,
                                        like=None if like is None else like.plan)
    return build_and_place(RowSource(S), S.shape, mesh, axis, rows, cols, permuted,
                           shards=np.arange(D), halo=halo, local_format=local_format,
                           dtype=S.dtype)


def _checked(A, mesh, axis, halo, like, local_format):
    """The arguments of :func:`plan` and :func:`shard` checked: ``(canonical SciPy CSR of
    A, shard count)``."""
    if halo not in HALO_METHODS:
        raise ValueError(f"halo must be one of {HALO_METHODS}, got {halo!r}")
    if local_format not in LOCAL_FORMATS:
        raise ValueError(f"local_format must be one of {LOCAL_FORMATS}, got {local_format!r}")
    D = axis_size(mesh, axis)
    S = canonical_scipy(A)
    if like is not None:
        if not isinstance(like, ShardedCSR):
            raise TypeError(f"like must be a ShardedCSR, got {type(like).__name__}")
        if like.mesh != mesh or like.axis != axis:
            raise ValueError("like= must be sharded over the same mesh and axis")
    return S, D
