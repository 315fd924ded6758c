"""The interface every sparse format shares.

Concrete formats are frozen dataclasses registered as pytrees; this base holds no fields.
Arithmetic dunders delegate to :mod:`jaxsparse.ops`, which dispatches on the operands.
"""

from __future__ import annotations

import abc
from typing import Any

import jax
import numpy as np


def concrete_int(value: Any) -> Any:
    """``int(value)`` when it is concrete; the traced scalar itself under ``jit``."""
    if isinstance(value, jax.core.Tracer):
        return value
    return int(value)


class AbstractSparse(abc.ABC):
    """A sparse array of some format. Subclasses define the fields and the kernels."""

    # ``np.ones(3) @ A`` must reach ``__rmatmul__``, and NumPy must never densify us.
    __array_ufunc__ = None

    shape: tuple[int, ...]
    data: jax.Array

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> Any:
        """Number of stored entries (SciPy's ``size`` is ``nnz``)."""
        return self.nnz

    @property
    @abc.abstractmethod
    def nnz(self) -> Any:
        """Number of real stored entries (padding past the capacity excluded)."""

    @property
    def capacity(self) -> int:
        """Static number of entry slots (real entries plus padding)."""
        return int(self.data.shape[0])

    @property
    def format(self) -> str:
        return type(self).__name__.lower()

    @abc.abstractmethod
    def todense(self) -> jax.Array:
        """The dense ``jax.Array`` this matrix represents."""

    @abc.abstractmethod
    def to_scipy(self):
        """The equivalent ``scipy.sparse`` array (host copy, padding dropped)."""

    @abc.abstractmethod
    def tocoo(self):
        """This matrix in COO format (no densifying)."""

    @abc.abstractmethod
    def transpose(self):
        """The transpose, as cheaply as the format allows."""

    @property
    def T(self):
        return self.transpose()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(shape={self.shape}, dtype={self.dtype}, "
            f"nnz={self.nnz}, capacity={self.capacity})"
        )

    # -- operators ---------------------------------------------------------------------
    def __matmul__(self, other):
        from .. import ops

        return ops.matmul(self, other)

    def __rmatmul__(self, other):
        from .. import ops

        return ops.matmul(other, self)

    def __neg__(self):
        from .. import ops

        return ops.negative(self)

    def __pos__(self):
        return self

    def __abs__(self):
        from .. import ops

        return ops.absolute(self)

    def __add__(self, other):
        from .. import ops

        return ops.add(self, other)

    def __radd__(self, other):
        from .. import ops

        return ops.add(other, self)

    def __sub__(self, other):
        from .. import ops

        return ops.subtract(self, other)

    def __rsub__(self, other):
        from .. import ops

        return ops.subtract(other, self)

    def __mul__(self, other):
        from .. import ops

        return ops.multiply(self, other)

    def __rmul__(self, other):
        from .. import ops

        return ops.multiply(other, self)

    def __truediv__(self, other):
        from .. import ops

        return ops.divide(self, other)

    def __pow__(self, other):
        from .. import ops

        return ops.power(self, other)


class AbstractSparseMatrix(AbstractSparse):
    """A 2-D sparse matrix."""

    shape: tuple[int, int]
