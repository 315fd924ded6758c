"""A drop-in matrix inside ``jax.jit``: what a drop-in argument unflattens to there.

SciPy's methods need concrete NumPy arrays, so a traced matrix offers what JAX code
needs from a matrix argument (products in both orientations, the transpose, the dense
array, shape and dtype) and refuses everything else with a ``TypeError`` that says
why. Leaving ``jit`` (a matrix returned by the function) gives a drop-in object again.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.sparse as ss
from scipy.sparse._sputils import isscalarlike

from . import _registry


def is_traced(core) -> bool:
    return any(isinstance(x, jax.core.Tracer) for x in jax.tree_util.tree_leaves(core))


_ARRAYS = ("data", "indices", "indptr", "coords", "offsets", "blocksize")


class TracedMatrix:
    """A drop-in matrix whose arrays are JAX tracers (see the module docstring)."""

    def __init__(self, core, is_matrix: bool):
        self._core = core
        self._is_matrix_kind = is_matrix

    shape = property(lambda self: tuple(self._core.shape))
    ndim = property(lambda self: len(self._core.shape))
    dtype = property(lambda self: np.dtype(self._core.dtype))
    nnz = property(lambda self: self._core.nnz)
    format = property(lambda self: self._core.format)

    def _operator(self):
        return self._core

    def _wrap(self, core):
        return TracedMatrix(core, self._is_matrix_kind)

    def __jaxsparse_matrix__(self):  # jaxsparse._operand's protocol
        return self._core

    __jaxsparse_operator__ = __jaxsparse_matrix__
    __jaxsparse_wrap__ = _wrap

    def __repr__(self) -> str:
        kind = "matrix" if self._is_matrix_kind else "array"
        return f"<traced {self.format} sparse {kind} of dtype '{self.dtype}', shape {self.shape}>"

    def __matmul__(self, other):
        if isscalarlike(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return self._core @ other

    def __rmatmul__(self, other):
        from ..ops import matmul

        if isscalarlike(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return matmul(other, self._core)

    def dot(self, other):
        return self * other if isscalarlike(other) else self @ other

    def __mul__(self, other):
        if isscalarlike(other):
            return TracedMatrix(self._core * other, self._is_matrix_kind)
        if self._is_matrix_kind:
            return self @ other
        return TracedMatrix(self._core.multiply(other), self._is_matrix_kind)

    __rmul__ = __mul__

    def transpose(self, axes=None, copy=False):
        return TracedMatrix(self._core.transpose(), self._is_matrix_kind)

    T = property(transpose)

    def toarray(self, order=None, out=None):
        if out is not None:
            raise TypeError("toarray(out=...) writes a NumPy array: not under jax.jit")
        return self._core.todense()

    todense = toarray

    def __getitem__(self, key):
        raise TypeError("indexing a drop-in matrix is host work (SciPy's), not possible "
                        "under jax.jit; index outside jit")

    def __setitem__(self, key, value):
        raise TypeError("assigning into a drop-in matrix mutates it in place, which is "
                        "impossible under jax.jit (traced arrays are immutable)")

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in _ARRAYS:  # the traced arrays themselves
            return getattr(self._core, name)
        raise TypeError(
            f"{name} is not available on a drop-in matrix traced under jax.jit: SciPy's "
            "methods need concrete NumPy arrays (mutations and structural work run "
            "outside jit); inside, use products, .T, toarray(), shape and dtype"
        )


def from_core(core, is_matrix: bool):
    """A core jaxsparse format as a drop-in object (host arrays copied from the device),
    or a :class:`TracedMatrix` when the core is traced."""
    if is_traced(core):
        return TracedMatrix(core, is_matrix)
    return _registry.rewrap(_as_kind(core.to_scipy(), is_matrix))


def _as_kind(x, is_matrix: bool):
    if isinstance(x, ss.spmatrix) == is_matrix:
        return x
    return getattr(ss, f"{x.format}_{'matrix' if is_matrix else 'array'}")(x)


def _flatten(obj: TracedMatrix):
    return (obj._core,), (obj.format, obj._is_matrix_kind)


def unflatten(aux, children):
    """Every drop-in class's pytree unflatten: concrete device arrays (a matrix returned
    from ``jit``) give a drop-in object again, tracers a :class:`TracedMatrix`."""
    (core,) = children
    leaves = jax.tree_util.tree_leaves(core)
    if leaves and all(isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer)
                      for x in leaves):
        return from_core(core, aux[1])
    return TracedMatrix(core, aux[1])


jax.tree_util.register_pytree_node(TracedMatrix, _flatten, unflatten)
