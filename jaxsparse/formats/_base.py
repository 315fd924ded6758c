"""The interface every sparse format shares.

Concrete formats are frozen dataclasses registered as pytrees; this base holds no fields.
Arithmetic dunders delegate to :mod:`jaxsparse.ops`, which dispatches on the operands.
"""

from __future__ import annotations

import abc
from typing import Any, ClassVar

import jax
import numpy as np

from . import _registry


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

    # What the rest of the package asks about a format (instead of comparing names):
    format_name: ClassVar[str] = ""  # SciPy's name; a subclass that sets it is registered
    # The product kernels that serve it: "csr" (CSR, and CSC as the transposed CSR
    # product), "coo", "dia" or "bsr" (ops/_dispatch.py names are "<layout>_matmul").
    kernel_layout: ClassVar[str] = ""
    # ``data`` holds one value per stored entry, in slot order (CSR, CSC, COO): the
    # entries' values without a conversion to COO.
    entries_in_data: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("format_name"):
            _registry.register(cls)

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
        return self.format_name

    @abc.abstractmethod
    def todense(self) -> jax.Array:
        """The dense ``jax.Array`` this matrix represents."""

    @abc.abstractmethod
    def to_scipy(self, *, copy: bool = True):
        """The equivalent ``scipy.sparse`` array (padding dropped).

        ``copy=True``: writable host arrays, as SciPy's own in-place methods need
        (``sum_duplicates``, ``A.data *= 2``). ``copy=False``: read-only views of the
        device arrays where the platform allows it (a CPU), for code that only reads.
        """

    @abc.abstractmethod
    def tocoo(self):
        """This matrix in COO format (no densifying)."""

    @abc.abstractmethod
    def transpose(self):
        """The transpose, as cheaply as the format allows."""

    @property
    def T(self):
        return self.transpose()

    # -- conversions (formats override the cheap ones; the rest go through COO) --------
    def tocsr(self):
        """This matrix in CSR format (jit-able from CSR/CSC/COO/DIA/BSR)."""
        return self.tocoo().tocsr()

    def tocsc(self):
        """This matrix in CSC format (jit-able from CSR/CSC/COO/DIA/BSR)."""
        return self.tocoo().tocsc()

    def todia(self):
        """This matrix in DIA format. Needs concrete indices: the set of diagonals
        depends on them (a host symbolic phase), so it raises under ``jit``."""
        from ._convert import coo_to_dia

        return coo_to_dia(self.tocoo())

    def tobsr(self, blocksize=None):
        """This matrix in BSR format (``blocksize=None``: SciPy's estimate). Needs
        concrete indices: the block pattern depends on them, so it raises under ``jit``."""
        from ._convert import coo_to_bsr

        return coo_to_bsr(self.tocoo(), blocksize)

    def asformat(self, format: str | None):
        """This matrix in ``format`` ("csr", "csc", "coo", "dia", "bsr"); ``None`` or the
        current format returns ``self``. SciPy equivalent: ``A.asformat(format)``."""
        if format is None or format == self.format:
            return self
        if format not in _registry.FORMATS:
            raise ValueError(
                f"format must be one of {_registry.format_names()} or None, got {format!r}"
            )
        return getattr(self, f"to{format}")()

    def to_bcoo(self):
        """This matrix as a ``jax.experimental.sparse.BCOO`` (2-D, jit-able)."""
        from ._convert import to_bcoo

        return to_bcoo(self.tocoo())

    @classmethod
    def from_bcoo(cls, bcoo):
        """From a 2-D unbatched ``BCOO``; padding (out-of-range indices) stays padding.

        To COO/CSR/CSC this is jit-able; DIA/BSR need concrete indices.
        """
        from ._convert import from_bcoo

        return from_bcoo(bcoo).asformat(cls.format_name)

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

    # -- elementwise, unary and reductions (SciPy's method names; see jaxsparse.ops) ------
    def multiply(self, other):
        """Elementwise product (SciPy's ``A.multiply(B)``)."""
        from .. import ops

        return ops.multiply(self, other)

    def maximum(self, other):
        from .. import ops

        return ops.maximum(self, other)

    def minimum(self, other):
        from .. import ops

        return ops.minimum(self, other)

    def power(self, n):
        from .. import ops

        return ops.power(self, n)

    def conj(self):
        from .. import ops

        return ops.conj(self)

    conjugate = conj

    @property
    def real(self):
        from .. import ops

        return ops.real(self)

    @property
    def imag(self):
        from .. import ops

        return ops.imag(self)

    def sum(self, axis=None, dtype=None):
        from .. import ops

        return ops.sum(self, axis=axis, dtype=dtype)

    def mean(self, axis=None, dtype=None):
        from .. import ops

        return ops.mean(self, axis=axis, dtype=dtype)

    def max(self, axis=None, *, explicit=False):
        from .. import ops

        return ops.max(self, axis=axis, explicit=explicit)

    def min(self, axis=None, *, explicit=False):
        from .. import ops

        return ops.min(self, axis=axis, explicit=explicit)

    def diagonal(self, k=0):
        from .. import ops

        return ops.diagonal(self, k)

    def trace(self, offset=0):
        from .. import ops

        return ops.trace(self, offset)

    def count_nonzero(self, axis=None):
        from .. import ops

        return ops.count_nonzero(self, axis=axis)


def _unary_method(name: str):
    def method(self):
        from .. import ops

        return getattr(ops, name)(self)

    method.__name__ = method.__qualname__ = name
    method.__doc__ = f"Elementwise ``{name}`` of the stored values (SciPy's ``A.{name}()``)."
    return method


for _name in ("sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh",
              "sqrt", "expm1", "log1p", "floor", "ceil", "trunc", "rint", "sign",
              "deg2rad", "rad2deg"):
    setattr(AbstractSparse, _name, _unary_method(_name))
del _name


class AbstractSparseMatrix(AbstractSparse):
    """A 2-D sparse matrix."""

    shape: tuple[int, int]


def mask_values(mask: jax.Array, values: jax.Array, xp=None) -> jax.Array:
    """``values`` where ``mask`` (broadcast over trailing axes), else a zero of the same
    dtype (a bare ``0`` would promote a bool matrix to int32). ``xp``: the array
    namespace, ``jax.numpy`` unless given (``numpy`` for host input)."""
    if xp is None:
        import jax.numpy as xp

    return xp.where(mask, values, xp.zeros((), values.dtype))


def host_array(x, stop: int | None = None, *, copy: bool = True) -> np.ndarray:
    """``x[:stop]`` on the host: a writable copy, or (``copy=False``) a view when the
    device array can be viewed (on a CPU, a read-only one)."""
    view = np.asarray(x)
    view = view if stop is None else view[:stop]
    return np.array(view) if copy else view
