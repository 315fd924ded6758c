"""Turning SciPy-style constructor arguments and operands into core formats.

The drop-in's classes hold one core format object (``jaxsparse.formats``) of *exact*
capacity: no padding slot, so ``A.data`` has SciPy's length and ``A.data.mean()`` is
SciPy's. Core ops may return padded results (they keep capacities static for ``jit``);
:func:`trim` drops the padding whenever the structure is concrete.

Conversions follow SciPy's, not the core's, where the two differ: ``coo -> csr/csc``
sums duplicates, ``dia -> anything`` drops explicit zeros (SciPy goes through
``dia_tocsr``). The core conversions stay jit-able; only the trimming is host-side.
"""

from __future__ import annotations

import dataclasses
import numbers
import operator

import jax
import jax.numpy as jnp
import numpy as np

from ..formats import BSR, COO, CSC, CSR, DIA
from ..formats._base import AbstractSparse
from ..formats._validate import is_concrete

CORES = {"csr": CSR, "csc": CSC, "coo": COO, "dia": DIA, "bsr": BSR}


def structure_concrete(core: AbstractSparse) -> bool:
    leaves = jax.tree_util.tree_leaves(core)
    return is_concrete(*leaves)


def _indices_concrete(core: AbstractSparse) -> bool:
    fields = {
        "csr": ("indices", "indptr"), "csc": ("indices", "indptr"),
        "bsr": ("indices", "indptr"), "dia": ("offsets",),
    }.get(core.format)
    if fields is None:
        return is_concrete(*core.coords)
    return is_concrete(*(getattr(core, f) for f in fields))


def trim(core: AbstractSparse) -> AbstractSparse:
    """``core`` without padding slots (exact capacity), when its indices are concrete.

    Under ``jit`` (traced indices) the core is returned unchanged: its capacity is
    static there, and padding slots hold value 0 at out-of-range indices.
    """
    fmt = core.format
    if fmt == "dia" or not _indices_concrete(core):
        return core
    if fmt in ("csr", "csc", "bsr"):
        nnz = int(core.indptr[-1])
        if nnz == core.data.shape[0]:
            return core
        return dataclasses.replace(core, data=core.data[:nnz], indices=core.indices[:nnz])
    # COO: padding may sit anywhere (coordinate == shape on every axis)
    keep = np.asarray(core.coords[0] < core.shape[0])
    if keep.all():
        return core
    where = jnp.asarray(np.flatnonzero(keep).astype(np.int32))
    return dataclasses.replace(core, data=core.data[where],
                               coords=tuple(c[where] for c in core.coords))


def _dia_to_csr(core: DIA) -> CSR:
    """SciPy's ``dia.tocsr()``: canonical, explicit zeros dropped."""
    out = trim(core.tocoo().tocsr().sum_duplicates())
    if _indices_concrete(out) and is_concrete(out.data):
        out = trim(out.eliminate_zeros())
    return dataclasses.replace(out, has_sorted_indices=True, has_canonical_format=True)


def convert(core: AbstractSparse, fmt: str, blocksize=None) -> AbstractSparse:
    """``core`` in format ``fmt``, with SciPy's conversion semantics and exact capacity."""
    src = core.format
    if fmt not in CORES:
        raise ValueError(f"format must be one of {tuple(CORES)} or None, got {fmt!r}")
    if core.ndim != 2 and fmt != "coo":
        raise ValueError(f"a {core.ndim}-D array can only be stored as COO, not {fmt!r}")
    if src == fmt:
        if fmt == "bsr" and blocksize is not None and tuple(blocksize) != core.blocksize:
            return trim(core.tobsr(blocksize=tuple(blocksize)))
        return core
    if src == "dia" and fmt != "coo":
        core = _dia_to_csr(core)
        src = "csr"
        if fmt == "csr":
            return core
    if src == "dia":  # -> coo: via csr, as SciPy
        return trim(_dia_to_csr(core).tocoo())
    if fmt in ("csr", "csc"):
        out = core.tocsr() if fmt == "csr" else core.tocsc()
        if src == "coo":
            out = out.sum_duplicates()
        return trim(out)
    if fmt == "coo":
        return trim(core.tocoo())
    if fmt == "dia":
        return core.todia()
    return trim(core.tobsr(blocksize=None if blocksize is None else tuple(blocksize)))


def from_scipy(S, fmt: str | None = None, blocksize=None) -> AbstractSparse:
    """A SciPy sparse array/matrix as a core of ``fmt`` (SciPy converts on the host)."""
    fmt = fmt or S.format
    if fmt == "bsr":
        S = S.tobsr(blocksize=blocksize)
        return BSR.from_scipy(S)
    S = S.asformat(fmt)
    if fmt == "coo" and S.ndim == 1:
        return COO.from_arrays(S.data, (S.coords[0],), shape=S.shape)
    if fmt == "dia":
        return DIA.from_arrays(S.data, S.offsets, shape=S.shape)
    return CORES[fmt].from_scipy(S)


def is_shape(x) -> bool:
    if not isinstance(x, tuple) or len(x) not in (1, 2):
        return False
    try:
        return all(operator.index(s) >= 0 for s in x)
    except TypeError:
        return False


def _check_shape_arg(shape, ndims=(1, 2)):
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of integers, got {shape!r}") from None
    if len(shape) not in ndims:
        raise ValueError(f"shape must have {' or '.join(map(str, ndims))} dimensions, "
                         f"got {shape}")
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must be non-negative, got {shape}")
    return shape


def _host_max(arr) -> int:
    a = np.asarray(arr)
    return int(a.max()) if a.size else -1


def _empty(fmt: str, shape, dtype, blocksize) -> AbstractSparse:
    dtype = np.dtype(float if dtype is None else dtype)
    idx = np.int32
    if fmt == "coo":
        return COO.from_arrays(np.zeros(0, dtype), tuple(np.zeros(0, idx) for _ in shape),
                               shape=shape)
    if len(shape) != 2:
        raise ValueError(f"{fmt} arrays must be 2-D here, got shape {shape}")
    n, m = shape
    if fmt in ("csr", "csc"):
        major = n if fmt == "csr" else m
        return CORES[fmt].from_arrays(np.zeros(0, dtype), np.zeros(0, idx),
                                      np.zeros(major + 1, idx), shape=shape)
    if fmt == "dia":
        return DIA.from_arrays(np.zeros((0, 0), dtype), np.zeros(0, idx), shape=shape)
    r, c = (1, 1) if blocksize is None else tuple(blocksize)
    return BSR.from_arrays(np.zeros((0, r, c), dtype), np.zeros(0, idx),
                           np.zeros(n // r + 1 if r else 1, idx), shape=shape,
                           blocksize=(r, c))


def _coo_from_pair(data, ij, shape, dtype) -> COO:
    if not isinstance(ij, (tuple, list)):
        ij = (ij,)
    ij = tuple(ij)
    if shape is None:
        if not is_concrete(*ij):
            raise ValueError("shape= is required when the index arrays are traced")
        shape = tuple(_host_max(c) + 1 for c in ij)
        if any(np.size(c) == 0 for c in ij):
            raise ValueError("cannot infer dimensions from zero sized index arrays")
    return COO.from_arrays(_as_data(data), ij, shape=shape, dtype=dtype)


def _as_data(data):
    if isinstance(data, (jax.Array, np.ndarray)):
        return data
    return np.asarray(data)


def _as_index(x):
    if isinstance(x, (jax.Array, np.ndarray)):
        return x
    return np.asarray(x)


def core_from_args(fmt: str, arg1, shape=None, dtype=None, blocksize=None,
                   is_matrix: bool = False) -> AbstractSparse:
    """Parse any of SciPy's constructor forms into a core of format ``fmt``.

    Every form is validated by the core's public constructors (stricter than SciPy,
    which skips index checks by default).
    """
    from ._base import _spbase

    if shape is not None:
        shape = _check_shape_arg(shape, (2,) if (is_matrix or fmt != "coo") else (1, 2))
    if dtype is not None:
        dtype = np.dtype(dtype)
    if blocksize is not None:
        blocksize = tuple(operator.index(b) for b in blocksize)
    core = None
    if isinstance(arg1, _spbase):
        core = arg1._core
        if core.ndim == 1 and (is_matrix or fmt != "coo"):
            core = _to_2d_row(core)
        core = convert(core, fmt, blocksize)
    elif isinstance(arg1, AbstractSparse):
        core = convert(arg1, fmt, blocksize)
    elif _is_scipy_sparse(arg1):
        S = arg1
        if S.ndim == 1 and (is_matrix or fmt != "coo"):
            S = S.reshape(1, S.shape[0])
        core = from_scipy(S, fmt, blocksize)
    elif isinstance(arg1, tuple):
        if is_shape(arg1):
            core = _empty(fmt, _check_shape_arg(arg1, (2,) if (is_matrix or fmt != "coo")
                                                else (1, 2)), dtype, blocksize)
            return core
        core = _core_from_tuple(fmt, arg1, shape, dtype, blocksize, is_matrix)
    else:
        core = _core_from_dense(fmt, arg1, dtype, blocksize, is_matrix)
    if shape is not None and tuple(core.shape) != shape:
        raise ValueError(f"shape={shape} does not match the input's shape {core.shape}")
    if dtype is not None and core.dtype != dtype:
        core = core.astype(dtype)
    return core


def _core_from_tuple(fmt, arg1, shape, dtype, blocksize, is_matrix):
    if len(arg1) == 2:
        data, second = arg1
        if fmt == "dia":
            if shape is None:
                raise ValueError("dia constructor (data, offsets) needs shape=")
            offsets = np.atleast_1d(_as_index(second)) if not isinstance(
                second, jax.Array) else jnp.atleast_1d(second)
            data = _as_data(data)
            if np.ndim(data) == 1:
                data = data[None, :]
            return DIA.from_arrays(data, offsets, shape=shape, dtype=dtype)
        if isinstance(second, (tuple, list)) and len(second) in (1, 2):
            coo = _coo_from_pair(data, tuple(_as_index(c) for c in second), shape, dtype)
            if coo.ndim == 1 and (is_matrix or fmt != "coo"):
                raise ValueError(f"{fmt} needs 2-D (row, col) coordinates, got 1")
            if fmt == "coo":
                return coo
            return convert(coo, fmt, blocksize)
        raise ValueError(f"unrecognized {fmt} constructor input: a pair must be "
                         "(data, (row, col))" + (" or (data, offsets)" if fmt == "dia" else ""))
    if len(arg1) == 3 and fmt in ("csr", "csc", "bsr"):
        data, indices, indptr = (_as_data(arg1[0]), _as_index(arg1[1]), _as_index(arg1[2]))
        if fmt == "bsr":
            if np.ndim(data) == 1 and blocksize is not None:
                data = data.reshape((-1,) + tuple(blocksize))
            if np.ndim(data) != 3:
                raise ValueError(f"bsr data must be 3-D (n_blocks, R, C), got shape "
                                 f"{np.shape(data)}")
            r, c = np.shape(data)[1:]
            if shape is None:
                if not is_concrete(indices):
                    raise ValueError("shape= is required when indices are traced")
                shape = ((np.shape(indptr)[0] - 1) * r, (_host_max(indices) + 1) * c)
            core = BSR.from_arrays(data, indices, indptr, shape=shape, dtype=dtype,
                                   blocksize=blocksize)
        else:
            if shape is None:
                if not is_concrete(indices):
                    raise ValueError("shape= is required when indices are traced")
                if np.size(indices) == 0:
                    raise ValueError("unable to infer matrix dimensions")
                major, minor = np.shape(indptr)[0] - 1, _host_max(indices) + 1
                shape = (major, minor) if fmt == "csr" else (minor, major)
            core = CORES[fmt].from_arrays(data, indices, indptr, shape=shape, dtype=dtype)
        return trim(core)
    raise ValueError(f"unrecognized {fmt} constructor input: a tuple of length {len(arg1)}")


def _core_from_dense(fmt, arg1, dtype, blocksize, is_matrix):
    if isinstance(arg1, jax.core.Tracer):
        raise ValueError(
            f"{fmt} construction from a traced dense array is not supported: the number "
            "of nonzeros depends on the values; build it outside jit, or use the core "
            "format's fromdense(..., nse=) inside jit"
        )
    try:
        dense = np.asarray(arg1, dtype=dtype)
    except Exception as err:
        raise ValueError(f"unrecognized {fmt} constructor input: {type(arg1).__name__}"
                         ) from err
    if dense.dtype == object:
        raise ValueError(f"unrecognized {fmt} constructor input: an object array")
    if is_matrix or fmt != "coo":
        if dense.ndim < 2:
            dense = np.atleast_2d(dense)
        if dense.ndim != 2:
            raise ValueError(f"{fmt} input must be 2-D, got {dense.ndim}-D")
    elif dense.ndim == 0 or dense.ndim > 2:
        raise ValueError(f"coo_array input must be 1-D or 2-D, got {dense.ndim}-D")
    if fmt == "bsr":
        coo = COO.fromdense(dense)
        return trim(coo.tobsr(blocksize=blocksize))
    if fmt == "dia":
        return DIA.fromdense(dense)
    return CORES[fmt].fromdense(dense)


def _to_2d_row(core: AbstractSparse) -> COO:
    (idx,) = core.coords
    return COO(core.data, (jnp.where(idx < core.shape[0], 0, 1).astype(idx.dtype), idx),
               shape=(1, core.shape[0]), has_canonical_format=core.has_canonical_format)


def _is_scipy_sparse(x) -> bool:
    mod = type(x).__module__
    if not mod.startswith("scipy.sparse"):
        return False
    import scipy.sparse as sps

    return sps.issparse(x)


def is_scalar_like(x) -> bool:
    if isinstance(x, (numbers.Number, np.generic)):
        return True
    return getattr(x, "ndim", None) == 0 and not hasattr(x, "_core")
