"""The drop-in's classes: mutable SciPy-style wrappers around the immutable core formats.

A wrapper holds one frozen jaxsparse format object in ``_core`` (exact capacity: no
padding, so ``A.data`` is SciPy's ``A.data``). Methods that mutate in SciPy rebind
``_core`` and return ``None``; they raise under ``jit``, where the wrapper is a traced
pytree. Every other method returns new objects, built with ``_from_core``.

Wrappers are pytrees (their core is the only child), so they pass through ``jax.jit``.

Differences from SciPy, on purpose:

- Constructors always validate their input (index bounds, ``indptr`` monotonicity,
  shapes, dtypes): SciPy checks little by default.
- Dense results are ``jax.Array``\\ s (NumPy accepts them); the ``*_matrix`` classes
  return ``np.matrix`` where SciPy does (``todense``, axis sums), which is host data.
- Arrays are immutable: ``A.data = new`` works (same length), ``A.data[0] = 1`` does not.
- Sparse results keep entries that become numerically zero only where SciPy does too
  (comparisons prune, products keep), see :mod:`jaxsparse.ops`.
"""

from __future__ import annotations

import operator
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .._warnings import SparseEfficiencyWarning as SparseEfficiencyWarning
from .._warnings import SparseWarning as SparseWarning
from ..formats._base import AbstractSparse
from . import _coerce, _product_view

# (format, is_matrix) -> class; filled by the format modules.
_CLASSES: dict[tuple[str, bool], type] = {}

_FORMAT_NAMES = {
    "csr": "Compressed Sparse Row", "csc": "Compressed Sparse Column",
    "coo": "COOrdinate", "dia": "DIAgonal", "bsr": "Block Sparse Row",
}


class _spbase:
    """Shared behaviour of every drop-in sparse class (SciPy's ``_spbase``).

    Subclasses set ``_format`` ("csr", "csc", "coo", "dia", "bsr") and ``_is_matrix``
    (``*_matrix`` classes: ``np.matrix``-style ``*`` and 2-D results).
    """

    _format: str = ""
    _is_matrix: bool = False
    __array_ufunc__ = None  # NumPy hands ``ndarray @ A`` to ``__rmatmul__``
    __array_priority__ = 10.1

    # The core is a property so that every rebinding (mutation, ``A.data = ...``) drops
    # the cached product operator: a stale copy must never answer a product.
    @property
    def _core(self) -> AbstractSparse:
        return self.__dict__["_core_value"]

    @_core.setter
    def _core(self, core: AbstractSparse) -> None:
        self.__dict__["_core_value"] = core
        self.__dict__.pop("_operator_cache", None)

    def _operator(self):
        """What products and solvers multiply by: the core, a cached COO view of a large
        CSR/CSC core (its row ids stored), or a cached
        :class:`~jaxsparse.sharding.ShardedCSR` over the default mesh.

        Transparent distribution: with a default mesh (``jaxsparse.set_default_mesh``;
        all devices when several are visible) a 2-D matrix of at least
        ``jaxsparse.sharding.MIN_SHARDED_NNZ`` stored entries is sharded once, on first
        use, and reused until it is mutated. Traced matrices (inside ``jit``, where a
        plan cannot be made) use the core. See :mod:`._product_view`.
        """
        from .. import sharding

        core = self._core
        if core.ndim != 2 or _product_view.is_traced(core):
            return core
        mesh = sharding.default_mesh()
        cached = self.__dict__.get("_operator_cache")
        if cached is None or cached[0] != mesh:
            cached = (mesh, _product_view.build(core, mesh))
            self.__dict__["_operator_cache"] = cached
        return cached[1]

    # -- construction shared by every class ------------------------------------------------
    def __init__(self, arg1, shape=None, dtype=None, copy=False, *, maxprint=None,
                 blocksize=None):
        """Build from any of SciPy's constructor forms (see the class docstring).

        ``copy`` is accepted for SciPy compatibility; the arrays are always the
        wrapper's own (JAX arrays are immutable, so sharing is never observable).
        """
        del copy, maxprint
        if blocksize is not None and self._format != "bsr":
            raise TypeError(f"blocksize= applies to bsr only, not {self._format}")
        core = _coerce.core_from_args(self._format, arg1, shape=shape, dtype=dtype,
                                      blocksize=blocksize, is_matrix=self._is_matrix)
        if self._is_matrix and core.ndim != 2:
            raise ValueError(f"{type(self).__name__} must be 2-D, got shape {core.shape}")
        self._core = _coerce.trim(core)

    @classmethod
    def _from_core(cls, core: AbstractSparse):
        """Wrap a core object of this class's format without copying or checking."""
        out = object.__new__(cls)
        out._core = core
        return out

    def _set_core(self, core: AbstractSparse) -> None:
        """Rebind the core (SciPy-style in-place mutation); refused under ``jit``."""
        self._check_mutable("this method")
        self._core = core

    def _check_mutable(self, what: str) -> None:
        leaves = jax.tree_util.tree_leaves(self._core)
        if any(isinstance(leaf, jax.core.Tracer) for leaf in leaves):
            raise TypeError(
                f"{what} mutates the matrix in place, which is impossible under jax.jit "
                "(traced arrays are immutable); call it outside jit, or use the core "
                "jaxsparse format's functional methods, which return new objects"
            )

    def _mutate(self, what: str, core: AbstractSparse) -> None:
        self._check_mutable(what)
        self._core = _coerce.trim(core)

    def _wrap(self, core: AbstractSparse, fmt: str | None = None):
        """A result core as a drop-in object: array or matrix like ``self``."""
        if fmt is not None and core.format != fmt:
            core = _coerce.convert(core, fmt)
        core = _coerce.trim(core)
        if self._is_matrix and core.ndim == 1:
            core = _coerce._to_2d_row(core)
        return _CLASSES[(core.format, self._is_matrix)]._from_core(core)

    # -- attributes ------------------------------------------------------------------------
    @property
    def format(self) -> str:
        return self._format

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self._core.shape)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def dtype(self) -> Any:
        return np.dtype(self._core.dtype)

    @property
    def nnz(self) -> Any:
        """Number of stored entries, explicit zeros included (SciPy's ``nnz``)."""
        return self._core.nnz

    @property
    def size(self) -> Any:
        """SciPy's ``size``: the number of stored entries (``nnz``)."""
        return self.nnz

    def getnnz(self, axis=None):
        """Stored entries, in total or per row/column (``axis``), duplicates counted."""
        if axis is None:
            return self.nnz
        coo = _coerce.convert(self._core, "coo") if self.format != "coo" else self._core
        axis = operator.index(axis) % self.ndim
        keep = 1 - axis
        seg = coo.coords[keep]
        out = jnp.zeros(self.shape[keep], jnp.int64).at[seg].add(1, mode="drop")
        return out

    @property
    def T(self):
        return self.transpose()

    @property
    def _is_array(self) -> bool:
        return not self._is_matrix

    def __repr__(self) -> str:
        kind = "matrix" if self._is_matrix else "array"
        extra = f" and blocksize={self.blocksize}" if self.format == "bsr" else ""
        return (f"<{_FORMAT_NAMES[self.format]} sparse {kind} of dtype '{self.dtype}'\n"
                f"\twith {self.nnz} stored elements{extra} and shape {self.shape}>")

    def __str__(self) -> str:
        coo = self.tocoo()
        lines = [repr(self), "  Coords\tValues"]
        coords = [np.asarray(c) for c in coo.coords]
        for k, v in enumerate(np.asarray(coo.data)):
            lines.append(f"  {tuple(int(c[k]) for c in coords)}\t{v}")
        return "\n".join(lines)

    def __len__(self):
        raise TypeError("sparse array length is ambiguous; use getnnz() or shape[0]")

    def __bool__(self) -> bool:
        if self.shape == (1, 1) or self.shape == (1,):
            return bool(self.nnz != 0)
        raise ValueError("The truth value of an array with more than one element is "
                         "ambiguous. Use a.any() or a.all().")

    def __iter__(self):
        for r in range(self.shape[0]):
            yield self[r]

    # -- indexing (implemented in _index.py) ---------------------------------------------
    def __getitem__(self, key):
        from ._index import getitem

        return getitem(self, key)

    def __setitem__(self, key, value):
        from ._index import setitem

        return setitem(self, key, value)

    # -- copies and conversions ----------------------------------------------------------
    def copy(self):
        """A copy (JAX arrays are immutable, so the arrays themselves are shared)."""
        return type(self)._from_core(self._core)

    def astype(self, dtype, casting="unsafe", copy=True):
        """This matrix with values cast to ``dtype`` (SciPy's ``A.astype``)."""
        dtype = np.dtype(dtype)
        if not np.can_cast(self.dtype, dtype, casting=casting):
            raise TypeError(f"Cannot cast array data from {self.dtype} to {dtype} "
                            f"according to the rule {casting!r}")
        if dtype == self.dtype:
            return self.copy() if copy else self
        return self._wrap(self._core.astype(dtype))

    def asformat(self, format, copy=False):
        """This matrix in ``format`` (``None``: unchanged). SciPy: ``A.asformat``."""
        if format is None or format == self.format:
            return self.copy() if copy else self
        return getattr(self, "to" + format)()

    def tocsr(self, copy=False):
        return self._wrap(_coerce.convert(self._core, "csr"))

    def tocsc(self, copy=False):
        return self._wrap(_coerce.convert(self._core, "csc"))

    def tocoo(self, copy=False):
        return self._wrap(_coerce.convert(self._core, "coo"))

    def todia(self, copy=False):
        return self._wrap(_coerce.convert(self._core, "dia"))

    def tobsr(self, blocksize=None, copy=False):
        return self._wrap(_coerce.convert(self._core, "bsr", blocksize))

    def tolil(self, copy=False):
        """Not provided (``TypeError``): LIL is a host-side, per-row Python structure."""
        _no_host_format("LIL")

    def todok(self, copy=False):
        """Not provided (``TypeError``): DOK is a host-side Python dict."""
        _no_host_format("DOK")

    def toarray(self, order=None, out=None):
        """The dense array, as SciPy's: a writable ``np.ndarray`` in ``order`` (written
        into ``out`` if given). Under ``jit`` it is the traced ``jax.Array`` (a host
        array cannot be traced; ``out=`` is then refused)."""
        dense = self._core.todense()
        if isinstance(dense, jax.core.Tracer):
            if out is not None:
                raise TypeError("toarray(out=...) writes a NumPy array: not under jit")
            return dense
        if out is not None:
            out[...] = np.asarray(dense)
            return out
        return np.array(dense, order="F" if order == "F" else "C")

    def todense(self, order=None, out=None):
        """Dense: ``np.matrix`` for ``*_matrix`` classes, else as :meth:`toarray`."""
        dense = self.toarray(order=order, out=out)
        if self._is_matrix and not isinstance(dense, jax.core.Tracer):
            return np.asmatrix(dense)
        return dense

    def transpose(self, axes=None, copy=False):
        """The transpose (csr <-> csc; coo, dia, bsr keep their format)."""
        if axes is not None and tuple(axes) != tuple(range(self.ndim))[::-1]:
            raise ValueError("Sparse arrays/matrices do not support an 'axes' "
                             "parameter other than the reversed axes")
        return self._wrap(self._core.transpose())

    def conjugate(self, copy=True):
        return self._wrap(self._core.conj())

    def conj(self, copy=True):
        return self.conjugate(copy=copy)

    @property
    def real(self):
        return self._wrap(self._core.real)

    @property
    def imag(self):
        return self._wrap(self._core.imag)

    def getH(self):
        return self.conjugate().transpose()

    @property
    def H(self):
        if not self._is_matrix:
            raise AttributeError("sparse arrays have no .H; use A.conj().T")
        return self.getH()

    def get_shape(self):
        return self.shape

    def getformat(self):
        return self.format

    def asfptype(self):
        """Upcast to a floating dtype (``*_matrix`` only in SciPy)."""
        if self.dtype.kind in "fc":
            return self
        return self.astype(np.float64)

    # -- canonical forms (mutate, return None, as SciPy) --------------------------------
    def sum_duplicates(self) -> None:
        """Sum duplicate entries in place (sorting the indices). SciPy semantics."""
        if self.format == "dia":
            return None
        self._mutate("sum_duplicates", self._core.sum_duplicates())
        return None

    def eliminate_zeros(self) -> None:
        """Remove explicit zeros in place (SciPy semantics)."""
        if self.format == "dia":
            self._mutate("eliminate_zeros",
                         _coerce.convert(_coerce.convert(self._core, "csr"), "dia"))
            return None
        self._mutate("eliminate_zeros", self._core.eliminate_zeros())
        return None

    def check_format(self, full_check=True) -> None:
        """Re-validate the arrays (the constructors already did: this cannot fail on a
        matrix built through the drop-in unless its attributes were reassigned)."""
        self._rebuild_from_attrs()

    def resize(self, *shape) -> None:
        """Change the shape in place, dropping entries outside it (SciPy semantics)."""
        from ._structure import resized

        self._mutate("resize", resized(self, shape))

    def setdiag(self, values, k=0) -> None:
        """Set diagonal ``k`` in place (SciPy semantics: a scalar fills the diagonal;
        an array sets its first ``len(values)`` entries)."""
        from ._structure import with_diagonal

        self._mutate("setdiag", with_diagonal(self, values, k))

    def reshape(self, *args, order="C", copy=False):
        """A new shape with the same entries (COO result, as SciPy; unchanged shape
        returns ``self``)."""
        from ._structure import reshaped

        return reshaped(self, args, order=order, copy=copy)

    def nonzero(self):
        """``(row, col)`` of the stored entries that are nonzero, in storage order."""
        from ._structure import nonzero

        return nonzero(self)

    # -- arithmetic ------------------------------------------------------------------------
    def __neg__(self):
        if self.dtype == np.bool_:
            raise NotImplementedError("negating a boolean sparse array is not supported")
        return self._wrap(-self._core)

    def __pos__(self):
        return self.copy()

    def __abs__(self):
        return self._wrap(abs(self._core))

    def __round__(self, ndigits=0):
        from ._arith import round_

        return round_(self, ndigits)

    def __add__(self, other):
        from ._arith import add

        return add(self, other)

    def __radd__(self, other):
        from ._arith import add

        return add(self, other)

    def __sub__(self, other):
        from ._arith import subtract

        return subtract(self, other)

    def __rsub__(self, other):
        from ._arith import rsubtract

        return rsubtract(self, other)

    def __mul__(self, other):
        from ._arith import matmul, multiply

        if self._is_matrix and not _coerce.is_scalar_like(other):
            return matmul(self, other)
        return multiply(self, other)

    def __rmul__(self, other):
        from ._arith import multiply, rmatmul

        if self._is_matrix and not _coerce.is_scalar_like(other):
            return rmatmul(self, other)
        return multiply(self, other)

    def __matmul__(self, other):
        from ._arith import matmul

        if _coerce.is_scalar_like(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return matmul(self, other)

    def __rmatmul__(self, other):
        from ._arith import rmatmul

        if _coerce.is_scalar_like(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return rmatmul(self, other)

    def __truediv__(self, other):
        from ._arith import divide

        return divide(self, other)

    def __rtruediv__(self, other):
        return NotImplemented

    def __pow__(self, other):
        from ._arith import matrix_power

        if self._is_matrix:
            return matrix_power(self, other)
        return self.power(other)

    def dot(self, other):
        """Matrix product (a scalar operand scales, as SciPy's ``dot``)."""
        if _coerce.is_scalar_like(other):
            return self * other
        return self @ other

    def multiply(self, other):
        """Elementwise product (SciPy's ``A.multiply``)."""
        from ._arith import multiply

        return multiply(self, other)

    def maximum(self, other):
        from ._arith import max_min

        return max_min(self, other, "maximum")

    def minimum(self, other):
        from ._arith import max_min

        return max_min(self, other, "minimum")

    def power(self, n, dtype=None):
        """Elementwise power by a scalar (zeros stay zero; ``n == 0`` raises)."""
        from ._arith import power

        return power(self, n, dtype)

    # -- comparisons -----------------------------------------------------------------------
    def __eq__(self, other):
        from ._compare import compare

        return compare(self, other, "eq")

    def __ne__(self, other):
        from ._compare import compare

        return compare(self, other, "ne")

    def __lt__(self, other):
        from ._compare import compare

        return compare(self, other, "lt")

    def __gt__(self, other):
        from ._compare import compare

        return compare(self, other, "gt")

    def __le__(self, other):
        from ._compare import compare

        return compare(self, other, "le")

    def __ge__(self, other):
        from ._compare import compare

        return compare(self, other, "ge")

    __hash__ = None  # mutable, and == is elementwise

    # -- reductions --------------------------------------------------------------------------
    def sum(self, axis=None, dtype=None, out=None):
        from ._reduce import sum_

        return sum_(self, axis, dtype, out)

    def mean(self, axis=None, dtype=None, out=None):
        from ._reduce import mean

        return mean(self, axis, dtype, out)

    def max(self, axis=None, out=None, *, explicit=False):
        from ._reduce import min_max

        return min_max(self, axis, explicit, "max")

    def min(self, axis=None, out=None, *, explicit=False):
        from ._reduce import min_max

        return min_max(self, axis, explicit, "min")

    def nanmax(self, axis=None, out=None, *, explicit=False):
        from ._reduce import min_max

        return min_max(self, axis, explicit, "nanmax")

    def nanmin(self, axis=None, out=None, *, explicit=False):
        from ._reduce import min_max

        return min_max(self, axis, explicit, "nanmin")

    def argmax(self, axis=None, out=None, *, explicit=False):
        from ._reduce import argminmax

        return argminmax(self, axis, explicit, "max")

    def argmin(self, axis=None, out=None, *, explicit=False):
        from ._reduce import argminmax

        return argminmax(self, axis, explicit, "min")

    def count_nonzero(self, axis=None):
        """Entries that are nonzero after summing duplicates (SciPy's semantics, including
        its dtypes: ``int64`` where SciPy counts with ``bincount``, the index dtype where
        it differences ``indptr``; no axis for DIA and BSR)."""
        if axis is None:
            return self._core.count_nonzero()
        if self.format in ("dia", "bsr"):
            raise NotImplementedError(
                f"count_nonzero over an axis is not implemented for {self.format.upper()} "
                "format."
            )
        out = self._core.count_nonzero(axis=axis)
        compressed_axis = {"csr": 1, "csc": 0}.get(self.format)
        if compressed_axis is not None and axis % 2 == compressed_axis:
            return out.astype(self._core.indptr.dtype)
        return out.astype(np.int64)

    def diagonal(self, k=0):
        if self.ndim != 2:
            raise ValueError("diagonal requires two dimensions")
        return self._core.diagonal(k)

    def trace(self, offset=0):
        return self._core.trace(offset)


def _unary(name: str):
    def method(self):
        return self._wrap(getattr(self._core, name)())

    method.__name__ = method.__qualname__ = name
    method.__doc__ = (f"Elementwise ``{name}`` of the stored values (``{name}(0) == 0``, "
                      f"so the pattern is kept). SciPy equivalent: ``A.{name}()``.")
    return method


for _name in ("sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh",
              "sqrt", "expm1", "log1p", "floor", "ceil", "trunc", "rint", "sign",
              "deg2rad", "rad2deg"):
    setattr(_spbase, _name, _unary(_name))
del _name


class sparray:
    """Base of the ``*_array`` classes, for ``isinstance`` (SciPy's ``sparray``)."""

    __slots__ = ()


class spmatrix:
    """Base of the ``*_matrix`` classes, for ``isinstance`` (SciPy's ``spmatrix``):
    ``*`` is the matrix product and results stay 2-D (``np.matrix`` when dense)."""

    __slots__ = ()
    _is_matrix = True


def _flatten(obj: _spbase):
    return (obj._core,), type(obj)


def _unflatten(cls, children):
    return cls._from_core(children[0])


def register(cls):
    """Class decorator: register a drop-in class as a pytree (and in the class table)."""
    jax.tree_util.register_pytree_node(cls, _flatten, lambda aux, ch: _unflatten(aux, ch))
    _CLASSES[(cls._format, bool(cls._is_matrix))] = cls
    return cls


def _no_host_format(name):
    raise TypeError(f"the {name} format is not provided by jaxsparse.scipy_compat; build "
                    "with coo_array((data, (row, col))) or set entries of a csr/csc/coo "
                    "array (A[i, j] = v)")
