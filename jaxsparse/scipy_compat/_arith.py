"""Arithmetic of the drop-in classes, with SciPy 1.17's result formats and types.

The values are computed by :mod:`jaxsparse.ops` on the cores; this module picks the
operand kinds (sparse, scalar, dense), the result's format where SciPy's differs from
the core's default, and the result's class (``*_array`` / ``*_matrix`` like ``self``,
``np.matrix`` for dense 2-D results of ``*_matrix`` operations, as SciPy).
"""

from __future__ import annotations

import operator

import jax.numpy as jnp
import numpy as np

from .. import ops
from ..formats._base import AbstractSparse
from ._coerce import _is_scipy_sparse, from_scipy, is_scalar_like


def operand(other):
    """``(kind, value, was_matrix)``: kind is "sparse" (a core), "scalar" or "dense"."""
    from ._base import _spbase

    if isinstance(other, _spbase):
        return "sparse", other._core, other._is_matrix
    if _is_scipy_sparse(other):
        return "sparse", from_scipy(other), not hasattr(other, "_is_array") or not (
            other._is_array)
    if is_scalar_like(other):
        return "scalar", other, False
    if isinstance(other, np.matrix):
        return "dense", np.asarray(other), True
    if isinstance(other, (list, tuple)):
        return "dense", np.asarray(other), False
    return "dense", other, False


def dense_result(self, x, was_matrix: bool = False):
    if (self._is_matrix or was_matrix) and getattr(x, "ndim", 0) == 2:
        return np.asmatrix(np.asarray(x))
    return x


def add(self, other):
    kind, value, was_matrix = operand(other)
    if kind == "sparse":
        return self._wrap(ops.add(self._core, value))
    if kind == "scalar":
        if np.asarray(value).item() == 0:
            return self.copy()
        raise NotImplementedError("adding a nonzero scalar to a sparse array is not "
                                  "supported")
    return dense_result(self, ops.add(self._core, value), was_matrix)


def subtract(self, other):
    kind, value, was_matrix = operand(other)
    if kind == "sparse":
        return self._wrap(ops.subtract(self._core, value))
    if kind == "scalar":
        if np.asarray(value).item() == 0:
            return self.copy()
        raise NotImplementedError("subtracting a nonzero scalar from a sparse array is "
                                  "not supported")
    return dense_result(self, ops.subtract(self._core, value), was_matrix)


def rsubtract(self, other):
    kind, value, was_matrix = operand(other)
    if kind == "scalar":
        if np.asarray(value).item() == 0:
            return -self
        raise NotImplementedError("subtracting a sparse array from a nonzero scalar is "
                                  "not supported")
    if kind == "sparse":
        return self._wrap(ops.subtract(value, self._core))
    return dense_result(self, ops.subtract(value, self._core), was_matrix)


def multiply(self, other):
    """Elementwise product: SciPy's ``A.multiply(B)`` / sparray ``A * B``."""
    kind, value, was_matrix = operand(other)
    if kind == "dense" and np.ndim(value) > self.ndim:
        # SciPy broadcasts a sparse row/column against a bigger dense array: dense result
        return dense_result(self, self._core.todense() * jnp.asarray(value), was_matrix)
    if kind == "dense" and np.shape(value) != self.shape and jnp.broadcast_shapes(
            np.shape(value), self.shape) != self.shape:
        return dense_result(self, self._core.todense() * jnp.asarray(value), was_matrix)
    return self._wrap(ops.multiply(self._core, value))


def _matmul_format(self, other_core) -> tuple[str, object]:
    fa, fb = self.format, other_core.format
    if fa == "csc":
        return "csc", None
    if fa == "bsr":
        c = other_core.blocksize[1] if fb == "bsr" else 1
        return "bsr", (self._core.blocksize[0], c)
    if fa == "dia" and fb == "dia":
        return "dia", None
    return "csr", None


def matmul(self, other):
    from ._coerce import convert

    kind, value, was_matrix = operand(other)
    if kind == "sparse":
        if self.ndim == 1 or value.ndim == 1:
            return _matmul_1d(self, value)
        if self.shape[1] != value.shape[0]:
            raise ValueError(f"dimension mismatch: {self.shape} @ {value.shape}")
        fmt, blocksize = _matmul_format(self, value)
        out = ops.matmul(self._core, value)
        if fmt == "bsr":
            try:
                out = convert(out, "bsr", blocksize)
            except ValueError:
                out = convert(out, "bsr")
        else:
            out = convert(out, fmt)
        return self._wrap(out)
    value = jnp.asarray(value)
    if self.ndim == 1:
        if value.shape[0] != self.shape[0]:
            raise ValueError(f"dimension mismatch: {self.shape} @ {value.shape}")
        row = _as_row(self._core)
        out = ops.matmul(row, value)
        return out[0]
    if value.ndim == 0:
        raise ValueError("Scalar operands are not allowed, use '*' instead")
    if value.shape[0] != self.shape[1]:
        raise ValueError(f"dimension mismatch: A has shape {self.shape}, the operand "
                         f"has shape {value.shape}")
    out = self._operator() @ value  # sharded over the default mesh when large enough
    return dense_result(self, out, was_matrix) if was_matrix else out


def rmatmul(self, other):
    kind, value, was_matrix = operand(other)
    if kind == "sparse":
        from ._base import _CLASSES

        left = _CLASSES[(value.format, self._is_matrix)]._from_core(value)
        return matmul(left, self)
    value = jnp.asarray(value)
    core = self._core if self.ndim == 2 else _as_row(self._core).transpose()
    if value.shape[-1] != core.shape[0]:
        raise ValueError(f"dimension mismatch: the operand has shape {value.shape}, A "
                         f"has shape {self.shape}")
    op = self._operator() if self.ndim == 2 and value.ndim in (1, 2) else core
    if isinstance(op, AbstractSparse):  # the core or a one-device view (COO, DIA):
        out = ops.matmul(value, op)  # the transposed kernel, no conversion per call
    else:  # sharded: x @ A = A^T x, the halo exchange run in reverse
        out = op.T @ value.T
        out = out.T
    if self.ndim == 1:
        out = out[..., 0]
    return dense_result(self, out, was_matrix) if was_matrix else out


def _as_row(core):
    from ._coerce import _to_2d_row

    return _to_2d_row(core)


def _matmul_1d(self, value):
    from ._coerce import _to_2d_row

    a = _to_2d_row(self._core) if self.ndim == 1 else self._core
    b = _to_2d_row(value).transpose() if value.ndim == 1 else value
    out = ops.matmul(a, b)
    if self.ndim == 1 and value.ndim == 1:
        return out.todense()[0, 0]
    from ._coerce import convert

    coo = convert(out, "coo")
    idx = coo.coords[1] if self.ndim == 1 else coo.coords[0]
    n = coo.shape[1] if self.ndim == 1 else coo.shape[0]
    from ..formats import COO

    return self._wrap(COO(coo.data, (idx,), shape=(n,)))


def divide(self, other):
    kind, value, was_matrix = operand(other)
    if kind == "sparse":
        return dense_result(self, ops.divide(self._core, value), was_matrix)
    if kind == "dense" and np.shape(value) != self.shape and jnp.broadcast_shapes(
            np.shape(value), self.shape) != self.shape:
        return dense_result(self, self._core.todense() / jnp.asarray(value), was_matrix)
    return self._wrap(ops.divide(self._core, value))


def power(self, n, dtype=None):
    if not is_scalar_like(n):
        raise NotImplementedError("input is not scalar")
    core = self._core
    if dtype is not None:
        core = core.astype(dtype)
    if np.asarray(n).item() == 0:
        raise NotImplementedError("zero power is not supported as it would densify the "
                                  "matrix. Use `np.ones(A.shape, dtype=A.dtype)` for this "
                                  "case.")
    return self._wrap(ops.power(core, n))


def matrix_power(self, n):
    """``*_matrix ** n``: the matrix power (square matrices, integer ``n >= 0``)."""
    if self.shape[0] != self.shape[1]:
        raise TypeError("sparse matrix is not square")
    if not is_scalar_like(n) or np.asarray(n).dtype.kind not in "iu":
        raise ValueError("exponent must be an integer >= 0")
    n = operator.index(np.asarray(n).item())
    if n < 0:
        raise ValueError("exponent must be >= 0")
    if n == 0:
        import scipy.sparse as sps

        eye = sps.eye(self.shape[0], dtype=self.dtype, format="csr")
        return self._wrap(from_scipy(eye, "csr"), fmt=self.format if self.format != "dia"
                          else "dia")
    result, base = None, self
    while n:
        if n & 1:
            result = base if result is None else result @ base
        n >>= 1
        if n:
            base = base @ base
    return result


def max_min(self, other, op):
    kind, value, was_matrix = operand(other)
    fn = ops.maximum if op == "maximum" else ops.minimum
    if kind == "dense":
        return dense_result(self, fn(self._core, value), was_matrix)
    if kind == "scalar":
        s = np.asarray(value).item()
        np_fn = np.maximum if op == "maximum" else np.minimum
        if np_fn(0, s) != 0:
            # SciPy returns a dense result here
            jfn = jnp.maximum if op == "maximum" else jnp.minimum
            dense = self._core.todense()
            return dense_result(self, jfn(dense, jnp.asarray(value, dtype=np.result_type(
                dense.dtype, np.asarray(value).dtype))))
    out = fn(self._core, value)
    if self.format not in ("csr", "csc") and out.format != "csr":
        from ._coerce import convert

        out = convert(out, "csr")
    return self._wrap(out)


def round_(self, ndigits=0):
    """``round(A)``: the format is kept; duplicates are summed before rounding (SciPy's
    ``_deduped_data``)."""
    core = self._core.sum_duplicates() if self.format == "coo" else self._core
    return self._wrap(core.with_data(jnp.round(core.data, ndigits)))
