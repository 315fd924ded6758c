"""What a drop-in matrix multiplies by, built once and cached until it is mutated.

- Large matrices, with a default mesh: a :class:`~jaxsparse.sharding.ShardedCSR`.
- Large CSR/CSC matrices on one device, where the products run on the "xla" backend:
  the same entries as COO with the row (or column) id of every entry stored. That
  kernel re-derives those ids from ``indptr`` on every call, which is over half of an
  SpMV on CPU. One int array of ``nnz`` is the price; the values and the minor indices
  are shared, not copied. The native CPU kernels walk ``indptr`` directly and move
  fewer bytes than COO, so where they are used the core itself multiplies.
- Everything else, and any traced matrix (under ``jit``): the core itself.
"""

from __future__ import annotations

import jax

from ..formats import COO
from ..formats._base import AbstractSparse
from ..ops import _dispatch

# Below this many entries the ids cost less than the extra compile a second format of
# the same shape would take.
MIN_COO_VIEW_NNZ = 4096


def is_traced(core: AbstractSparse) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(core))


def coo_view(core: AbstractSparse) -> AbstractSparse:
    """``core`` as a COO sharing its arrays, for a CSR/CSC core without padding."""
    if core.format not in ("csr", "csc") or core.nnz != core.capacity:
        return core
    major = core._major_ids()
    if core.format == "csr":
        return COO(core.data, (major, core.indices), shape=core.shape,
                   has_canonical_format=core.has_canonical_format)
    return COO(core.data, (core.indices, major), shape=core.shape)


def build(core: AbstractSparse, mesh) -> AbstractSparse:
    """The product operator of the concrete 2-D ``core`` (see the module docstring)."""
    from .. import sharding

    if mesh is not None and core.nnz >= sharding.MIN_SHARDED_NNZ:
        return sharding.shard(core, mesh, mesh.axis_names[0])
    if core.nnz >= MIN_COO_VIEW_NNZ and _dispatch.pick("csr_matmul") == "xla":
        return coo_view(core)
    return core
