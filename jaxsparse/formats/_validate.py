"""Checks run by public constructors on host input, never in ``__post_init__``.

JAX rebuilds pytrees with placeholder leaves (``vmap`` axis specs, ``tree.map``), so the
dataclasses themselves accept anything; only the public entry points check. SciPy skips
most of these checks by default; they are O(nnz) and cheap next to building a matrix, so
we always run them on concrete input. Traced input gets the static (shape) checks only.
"""

from __future__ import annotations

import operator
import os
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

_EXTRA_FLOATS = {np.dtype(jnp.bfloat16), np.dtype(np.float16)}


def is_concrete(*arrays: Any) -> bool:
    return not any(isinstance(a, jax.core.Tracer) for a in arrays)


def check_data_dtype(dtype: Any, name: str = "data") -> np.dtype:
    """Accept bool, integer, float (incl. bf16/f16) and complex dtypes."""
    dtype = np.dtype(dtype)
    if dtype == np.bool_ or dtype.kind in "iufc" or dtype in _EXTRA_FLOATS:
        return dtype
    raise TypeError(
        f"{name} must have a boolean, integer, floating or complex dtype, got {dtype}"
    )


def check_shape(shape: Any, ndim: int | tuple[int, ...], fmt: str) -> tuple[int, ...]:
    """A tuple of non-negative Python ints with an allowed rank."""
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    try:
        shape = tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be a tuple of integers, got {shape!r}") from None
    if len(shape) not in allowed:
        ranks = " or ".join(str(r) for r in allowed)
        raise ValueError(f"{fmt} shape must have {ranks} dimensions, got shape {shape}")
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must be non-negative, got {shape}")
    return shape


def dtype_of(x: Any) -> np.dtype:
    """``x``'s dtype without converting it (a tracer has one; a list does not)."""
    return np.dtype(x.dtype) if hasattr(x, "dtype") else np.asarray(x).dtype


def check_index_array(arr: Any, name: str) -> None:
    if np.ndim(arr) != 1:
        raise ValueError(f"{name} must be 1-D, got shape {np.shape(arr)}")
    dtype = dtype_of(arr)
    if dtype.kind not in "iu" and np.size(arr) > 0:
        raise TypeError(f"{name} must have an integer dtype, got {dtype}")


def check_indices_in_range(idx: np.ndarray, bound: int, name: str, axis: str) -> None:
    if idx.size == 0:
        return
    lo, hi = int(idx.min()), int(idx.max())
    if lo < 0:
        raise ValueError(f"{name} must be non-negative, found {lo}")
    if hi >= bound:
        raise ValueError(f"{name} must be < the number of {axis} ({bound}), found {hi}")


def check_compressed(
    data: Any, indices: Any, indptr: Any, n_major: int, n_minor: int, major: str, minor: str,
    *, data_ndim: int = 1,
) -> None:
    """Structure of a CSR (major = rows) or CSC (major = columns) triple; BSR's (blocks
    of ``data_ndim=3``) with block rows and columns."""
    check_index_array(indices, "indices")
    check_index_array(indptr, "indptr")
    if np.ndim(data) != data_ndim:
        raise ValueError(f"data must be {data_ndim}-D, got shape {np.shape(data)}")
    if np.shape(indptr)[0] != n_major + 1:
        raise ValueError(
            f"indptr must have shape (n_{major} + 1,) = ({n_major + 1},), "
            f"got {np.shape(indptr)}"
        )
    if np.shape(data)[0] != np.shape(indices)[0]:
        raise ValueError(
            f"data and indices must have the same length, got len(data)={np.shape(data)[0]} "
            f"and len(indices)={np.shape(indices)[0]}"
        )
    if not is_concrete(indices, indptr):
        return
    indptr = np.asarray(indptr)
    indices = np.asarray(indices)
    if indptr[0] != 0:
        raise ValueError(f"indptr[0] must be 0, got {indptr[0]}")
    if np.any(np.diff(indptr) < 0):
        raise ValueError("indptr must be non-decreasing")
    if indptr[-1] > indices.shape[0]:
        raise ValueError(
            f"indptr[-1] ({indptr[-1]}) must be <= len(indices) ({indices.shape[0]})"
        )
    check_indices_in_range(indices[: indptr[-1]], n_minor, "indices", minor)


def check_data(data: Any, dtype: Any = None, name: str = "data") -> None:
    """Refuse unsupported dtypes (object, str, datetime...) before JAX sees the array.

    ``jnp.asarray`` would otherwise fail with a message that names neither the argument
    nor the rule. ``dtype`` (the constructor's ``dtype=`` argument) is checked too.
    """
    if dtype is not None:
        check_data_dtype(dtype, "dtype")
    if isinstance(data, jax.Array) or isinstance(data, jax.core.Tracer):
        check_data_dtype(data.dtype, name)
        return
    arr = data if isinstance(data, np.ndarray) else np.asarray(data)
    check_data_dtype(arr.dtype, name)


def check_blocksize(blocksize: Any, shape: tuple[int, int]) -> tuple[int, int]:
    """BSR block size: two positive ints that divide the matrix shape (SciPy's rule)."""
    try:
        r, c = (operator.index(b) for b in blocksize)
    except (TypeError, ValueError):
        raise TypeError(
            f"blocksize must be a pair of integers (R, C), got {blocksize!r}"
        ) from None
    if r < 1 or c < 1:
        raise ValueError(f"blocksize must be positive, got {(r, c)}")
    if shape[0] % r or shape[1] % c:
        raise ValueError(
            f"blocksize {(r, c)} must divide the shape {shape} (SciPy's BSR rule)"
        )
    return r, c


def check_dia(data: Any, offsets: Any) -> None:
    """Structure of a DIA pair: ``data`` 2-D, ``offsets`` 1-D unique ints, one per row."""
    if np.ndim(data) != 2:
        raise ValueError(f"data must be 2-D (n_diags, n_cols), got shape {np.shape(data)}")
    if np.ndim(offsets) != 1:
        raise ValueError(f"offsets must be 1-D, got shape {np.shape(offsets)}")
    dtype = dtype_of(offsets)
    if dtype.kind not in "iu" and np.size(offsets) > 0:
        raise TypeError(f"offsets must have an integer dtype, got {dtype}")
    if np.shape(data)[0] != np.shape(offsets)[0]:
        raise ValueError(
            f"data must have one row per offset: data.shape[0]={np.shape(data)[0]}, "
            f"len(offsets)={np.shape(offsets)[0]}"
        )
    if is_concrete(offsets):
        host = np.asarray(offsets)
        if np.unique(host).size != host.size:
            raise ValueError(f"offsets must be unique, got {host.tolist()}")


def check_scipy_input(matrix: Any) -> None:
    """Fully check a SciPy sparse matrix before SciPy's compiled conversions read it.

    They trust ``indices``, ``indptr`` and ``coords``: a matrix built without SciPy's full
    check (``check_format`` is skipped by default) holding an index out of range can make
    ``tocsc()`` write out of bounds and crash the process. Raises ``ValueError`` naming
    the rule instead.
    """
    fmt = matrix.format
    if fmt in ("csr", "csc", "bsr"):
        try:
            matrix.check_format(full_check=True)
            # SciPy skips its full check when indptr[-1] == 0, so a decreasing indptr
            # such as [0, 5, 0] passes and its conversions read out of bounds
            if np.any(np.diff(np.asarray(matrix.indptr)) < 0):
                raise ValueError("indptr must be non-decreasing")
        except (ValueError, TypeError) as e:
            raise ValueError(f"matrix is not a valid SciPy {fmt.upper()} matrix: {e}") from None
    elif fmt == "coo":
        for name, coord, bound in zip(("row", "col"), matrix.coords, matrix.shape, strict=False):
            coord = np.asarray(coord)
            if coord.dtype.kind not in "iu":
                raise ValueError(f"matrix.{name} must have an integer dtype, got {coord.dtype}")
            if coord.size and (coord.min() < 0 or coord.max() >= bound):
                raise ValueError(f"matrix.{name} must lie in [0, {bound}), found "
                                 f"{coord.min()}..{coord.max()}")


def machine_memory() -> int | None:
    """This machine's physical memory in bytes, or None where it cannot be read."""
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system
        return None


def check_fits_memory(needed: int, what: str) -> None:
    """Refuse, before allocating, an array of ``needed`` bytes that the claimed shape
    asks for and no machine here could hold (a shape its data cannot back): a clear
    ``ValueError`` instead of a ``MemoryError``, or pages overcommitted and thrashed."""
    memory = machine_memory()
    if memory is not None and needed > memory:
        raise ValueError(f"{what} need {needed} bytes, more than this machine's memory "
                         f"({memory} bytes)")


def check_scipy_conversion(matrix: Any, target: str) -> None:
    """Before SciPy converts ``matrix`` to ``target`` ("csr", "csc", "bsr"): the result
    keeps an indptr slot per row (per column for CSC), and SciPy's BSR conversion also
    keeps a slot per column while it counts blocks. The claimed shape, not the stored
    entries, sizes these; refuse when no machine here could hold them."""
    shape = tuple(int(n) for n in matrix.shape)
    if target == "bsr":
        needed, what = shape[0] + shape[1] + 2, "a slot per row and per column"
    elif matrix.format == target:
        return  # the input already holds this indptr
    else:
        axis, per = (1, "column") if target == "csc" else (0, "row")
        needed, what = shape[axis] + 1, f"an indptr slot per {per}"
    check_fits_memory(needed * 8, f"shape {shape}: converting to {target.upper()} keeps "
                      f"{what}, and these {needed} slots")


def check_nse(nse: Any) -> None:
    """``nse`` (a static capacity) is None or a non-negative int."""
    if nse is not None and (not isinstance(nse, (int, np.integer)) or nse < 0):
        raise ValueError(f"nse must be a non-negative int (a static capacity), got {nse!r}")


def capacity(nse: Any, count: int, what: str = "nonzeros") -> int:
    """The capacity for ``count`` entries: ``nse`` when given (refused below ``count``),
    else ``count``."""
    check_nse(nse)
    if nse is None:
        return count
    if nse < count:
        raise ValueError(f"nse={nse} is smaller than the number of {what} ({count})")
    return int(nse)
