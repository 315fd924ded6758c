"""What a drop-in matrix multiplies by, built once and cached until it is mutated.

- Large matrices, with a default mesh: a :class:`~jaxsparse.sharding.ShardedCSR` (whose
  shards pick their own local layout, CSR or diagonals, by the rule below).
- Large CSR/CSC matrices on one device whose pattern is banded: the same entries as a
  :class:`~jaxsparse.DIA`, when its diagonals move fewer bytes than CSR
  (``n_diags * n_cols * itemsize < nnz * (itemsize + index itemsize) + indptr``; see
  ``formats._structure``). An SpMV on a CPU is bound by memory traffic, and diagonals
  carry no indices: 8 bytes per f64 entry against CSR's 12. Products only; the core
  stays what SciPy's methods and the arrays see.
- Other large CSR/CSC matrices on one device, where the products run on the "xla"
  backend: the same entries as COO with the row (or column) id of every entry stored.
  That kernel re-derives those ids from ``indptr`` on every call, which is over half of
  an SpMV on CPU. One int array of ``nnz`` is the price; the values and the minor
  indices are shared, not copied. The native CPU kernels walk ``indptr`` directly and
  move fewer bytes than COO, so where they are used the core itself multiplies.
- Everything else, and any traced matrix (under ``jit``): the core itself.
"""

from __future__ import annotations

import jax
import numpy as np

from ..formats import COO, DIA, _host, _structure
from ..formats._base import AbstractSparse
from ..formats._index import index_dtype
from ..ops import _dispatch

# Below this many entries the ids cost less than the extra compile a second format of
# the same shape would take.
MIN_COO_VIEW_NNZ = 4096
# The same trade for the diagonals view (one host pass to find the diagonals, and a
# second compiled product).
MIN_DIA_VIEW_NNZ = MIN_COO_VIEW_NNZ


def is_traced(core: AbstractSparse) -> bool:
    return any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree_util.tree_leaves(core))


def coo_view(core: AbstractSparse) -> AbstractSparse:
    """``core`` as a COO sharing its arrays, for a CSR/CSC core without padding."""
    if core.kernel_layout != "csr" or core.nnz != core.capacity:  # CSR or CSC
        return core
    major = core._major_ids()
    if core.format == "csr":
        return COO(core.data, (major, core.indices), shape=core.shape,
                   has_canonical_format=core.has_canonical_format)
    return COO(core.data, (core.indices, major), shape=core.shape)


def dia_view(core: AbstractSparse) -> DIA | None:
    """``core`` as diagonals when its pattern is banded enough that they move fewer
    bytes than CSR (a CSR/CSC core of float or complex values); else ``None``."""
    if core.kernel_layout != "csr" or not np.issubdtype(core.dtype, np.inexact):
        return None
    csc = core.format == "csc"
    indptr, indices = np.asarray(core.indptr), np.asarray(core.indices)
    offsets = _structure.banded_offsets(indptr, indices, core.shape, core.dtype,
                                        indices.dtype, csc=csc)
    if offsets is None:
        return None
    data, _ = _structure.dia_from_csr(np.asarray(core.data), indptr, indices, core.shape,
                                      offsets, csc=csc)
    n, m = core.shape
    idx = index_dtype(n, m, data.size, int(np.abs(offsets).max()))
    # placed as the constructors place theirs (large arrays on huge pages: _hugepages)
    return DIA(*_host.to_device(data, np.asarray(offsets, dtype=idx)), shape=core.shape)


def wants_sharding(nnz: int, mesh) -> bool:
    """Is a matrix of ``nnz`` stored entries multiplied as a sharded copy over ``mesh``?"""
    from .. import sharding

    return mesh is not None and nnz >= sharding.MIN_SHARDED_NNZ


def build(core: AbstractSparse, mesh) -> AbstractSparse:
    """The product operator of the concrete 2-D ``core`` (see the module docstring)."""
    from .. import sharding

    if wants_sharding(core.nnz, mesh):
        return sharding.shard(core, mesh, mesh.axis_names[0])
    if core.nnz >= MIN_DIA_VIEW_NNZ:
        view = dia_view(core)
        if view is not None:
            return view
    if core.nnz >= MIN_COO_VIEW_NNZ and _dispatch.pick("csr_matmul") == "xla":
        return coo_view(core)
    return core
