"""Reductions with SciPy's result types: 1-D arrays for ``*_array``, ``np.matrix`` for
``*_matrix``; axis-wise max/min give a 1-D ``coo_array`` (2-D ``coo_matrix``)."""

from __future__ import annotations

import operator

import jax.numpy as jnp
import numpy as np


def _axis(self, axis):
    if axis is None:
        return None
    if isinstance(axis, tuple):
        if len(axis) == self.ndim and sorted(a % self.ndim for a in axis) == list(
                range(self.ndim)):
            return None
        if len(axis) != 1:
            raise ValueError(f"axis {axis} is not supported")
        axis = axis[0]
    axis = operator.index(axis)
    if not -self.ndim <= axis < self.ndim:
        raise ValueError("axis out of range")
    return axis % self.ndim


def _matrix_line(self, out, axis):
    """A 1-D per-axis result as SciPy's ``np.matrix`` for ``*_matrix`` classes."""
    if not self._is_matrix:
        return out
    host = np.asarray(out)
    return np.asmatrix(host.reshape(1, -1) if axis == 0 else host.reshape(-1, 1))


def _write_out(res, out):
    if out is None:
        return res
    out[...] = np.asarray(res).reshape(np.shape(out))
    return out


def sum_(self, axis, dtype, out):
    axis = _axis(self, axis)
    res = self._core.sum(axis=axis, dtype=dtype)
    if axis is not None and self.ndim == 2:
        res = _matrix_line(self, res, axis)
    return _write_out(res, out)


def mean(self, axis, dtype, out):
    axis = _axis(self, axis)
    res = self._core.mean(axis=axis, dtype=dtype)
    if axis is not None and self.ndim == 2:
        res = _matrix_line(self, res, axis)
    return _write_out(res, out)


def min_max(self, axis, explicit, which):
    axis = _axis(self, axis)
    core = self._core
    is_max = which.endswith("max")
    if which.startswith("nan") and np.dtype(core.dtype).kind in "fc":
        fill = -np.inf if is_max else np.inf
        core = core.with_data(jnp.where(jnp.isnan(core.data), fill, core.data))
    res = core.max(axis=axis, explicit=explicit) if is_max else core.min(
        axis=axis, explicit=explicit)
    if axis is None or self.ndim == 1:
        return res
    out = self._wrap(res)  # 1-D coo_array; coo_matrix of shape (1, n)
    if self._is_matrix and axis == 1:
        out = out.transpose()
    return out


def argminmax(self, axis, explicit, which):
    """Index of the max/min (implicit zeros included unless ``explicit``).

    Host-side: the result depends on the values through SciPy's tie-breaking rules
    (the first occurrence, implicit zeros included), computed by SciPy on a host copy.
    """
    S = self._core.to_scipy()
    if self._is_matrix:
        import scipy.sparse as sps

        S = sps.csr_matrix(S) if S.ndim == 2 else S
    fn = S.argmax if which == "max" else S.argmin
    res = fn(axis=axis, explicit=explicit)
    if isinstance(res, np.matrix):
        return res
    return jnp.asarray(res) if np.ndim(res) else res
