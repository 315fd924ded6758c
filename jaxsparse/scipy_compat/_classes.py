"""The drop-in's classes: SciPy's own sparse classes, with a device copy for products.

``jaxsparse.scipy_compat.csr_array`` is a subclass of ``scipy.sparse.csr_array`` (and
so on for every format and for the ``*_matrix`` classes), so ``scipy.sparse.issparse``,
``isinstance(A, scipy.sparse.sparray)`` and every library that takes SciPy matrices
accept it as it is. Everything SciPy does, it does: the arrays are SciPy's writable
NumPy arrays, and structural work (conversions, indexing, assignment, stacking,
``A.T @ A``...) runs in SciPy's compiled code on the host, with no JAX compile. SciPy
builds its results through the ``_*_container`` hooks, which here name the drop-in's
classes, so results stay drop-in objects.

What the subclass adds (docs/dropin.md says why):

- products ``A @ x``, ``x @ A``, ``A.dot(x)`` (and ``*`` on ``*_matrix``) are routed by
  cost (:mod:`._route`): on the device when ``x`` is a ``jax.Array`` (the result is
  one too) or when the matrix is large (a NumPy ``x`` then gets a writable NumPy
  result), else SciPy's own kernel;
- a device copy kept between products (:mod:`._device`), so products, solvers and
  eigensolvers of :mod:`jaxsparse.scipy_compat.linalg` run on JAX, sharded over the
  default mesh when large (:mod:`._product_view`);
- pytree registration: a drop-in matrix passed to a ``jax.jit`` function flattens to
  its device arrays; inside, it is a :class:`._traced.TracedMatrix`;
- constructors called by user code check the index arrays fully (SciPy's default check
  skips index bounds and ``indptr`` order, and its compiled code trusts them).
"""

from __future__ import annotations

import functools
import inspect
import sys

import jax
import numpy as np
import scipy.sparse as ss

from ..formats import BSR, COO, CSC, CSR, DIA
from . import _device, _registry, _route
from ._traced import from_core, unflatten

CORE_CLASSES = {"csr": CSR, "csc": CSC, "coo": COO, "dia": DIA, "bsr": BSR}
STORED = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
          "bsr": ("data", "indices", "indptr"), "coo": ("data", "coords"),
          "dia": ("data", "offsets")}
FORMATS = ("csr", "csc", "coo", "dia", "bsr", "lil", "dok")


def _container(fmt: str):
    return property(lambda self: _registry.CLASSES[(fmt, self._is_matrix_kind)],
                    doc=f"The drop-in {fmt} class of this kind (SciPy's result hook).")


class Containers:
    """SciPy builds results through these: here they name the drop-in's classes."""

    _is_matrix_kind = False

    def __init__(self, *args, **kwargs):
        if args and ss.issparse(args[0]) and not _internal_caller():
            _check_sparse_argument(args[0])
        super().__init__(*args, **kwargs)

    _bsr_container = _container("bsr")
    _coo_container = _container("coo")
    _csc_container = _container("csc")
    _csr_container = _container("csr")
    _dia_container = _container("dia")
    _dok_container = _container("dok")
    _lil_container = _container("lil")

    @classmethod
    def _adopt(cls, x):
        """A drop-in object of this class holding SciPy object ``x``'s arrays (shared)."""
        out = object.__new__(cls)
        out.__dict__.update(x.__dict__)
        return out


def _internal_caller() -> bool:
    """True when the constructor was called from SciPy's own code (building a result
    from arrays it has already checked), two frames up: our ``__init__``'s caller."""
    module = sys._getframe(2).f_globals.get("__name__", "")
    return module.startswith(("scipy.", "jaxsparse.scipy_compat"))


def _check_indices(A) -> None:
    """What SciPy's default check leaves out (its compiled code trusts both): indices
    within the minor dimension, and ``indptr`` non-decreasing."""
    blocksize = _device.stored(A, "data").shape[1:] if A.format_name == "bsr" else None
    _check_pattern(A.format_name, A.shape, blocksize,
                   _device.stored(A, "indptr"), _device.stored(A, "indices"))


def _check_sparse_argument(S) -> None:
    """A compressed SciPy matrix about to be converted, checked as :func:`_check_indices`
    checks our own: SciPy's conversions trust its ``indptr`` and ``indices`` (and its
    default check passes an ``indptr`` such as [0, 5, 0], which made ``csc_array(csr)``
    read out of bounds and crash)."""
    if S.format in ("csr", "csc", "bsr"):
        _check_pattern(S.format, S.shape, getattr(S, "blocksize", None),
                       np.asarray(S.indptr), np.asarray(S.indices))


def _check_pattern(fmt: str, shape, blocksize, indptr: np.ndarray, indices: np.ndarray) -> None:
    if indptr.size and (indptr[0] != 0 or indptr[-1] > indices.size):
        raise ValueError(f"indptr must start at 0 and end at most at len(indices) = "
                         f"{indices.size}, got {indptr[0]}..{indptr[-1]}")
    minor = shape[0] if fmt == "csc" else shape[1] // (blocksize[1] if fmt == "bsr" else 1)
    used = indices[: int(indptr[-1])] if indptr.size else indices[:0]
    # One reduction: seen as unsigned, a negative index is larger than any valid one.
    unsigned = used.view(f"u{used.dtype.itemsize}") if used.dtype.kind == "i" else used
    if used.size and unsigned.max() >= minor:
        raise ValueError(f"indices must be >= 0 and < {minor} (the "
                         f"{'rows' if fmt == 'csc' else 'columns'}), got values "
                         f"in [{used.min()}, {used.max()}]")
    if indptr.size > 1 and (indptr[1:] < indptr[:-1]).any():
        raise ValueError("indptr must be a non-decreasing sequence")


def _as_stored(fmt: str, d: dict) -> dict:
    """SciPy object attributes ``d`` with the stored arrays renamed, in place, to the
    slots of the drop-in's descriptors (``_device.Stored``)."""
    for name in STORED[fmt]:
        d["_stored_" + name] = d.pop(name)
    return d


class DropIn(Containers):
    """Base of the drop-in classes that can live on the device (csr csc coo dia bsr)."""

    format_name = ""

    _scipy_class: type  # SciPy's class of the same name (set by _make)

    def __init__(self, *args, **kwargs):
        internal = _internal_caller()
        if args and ss.issparse(args[0]) and not internal:
            _check_sparse_argument(args[0])
        # SciPy's constructor on its own class, whose arrays are plain attributes: run on
        # this one, each of its ~20 reads of data/indices/indptr went through the Stored
        # descriptors (a 1000 x 1000 CSR from arrays: 24 us against SciPy's 11).
        self.__dict__.update(_as_stored(self.format_name,
                                        self._scipy_class(*args, **kwargs).__dict__))
        if self.format_name in ("csr", "csc", "bsr") and not internal:
            _check_indices(self)

    @classmethod
    def _adopt(cls, x):
        out = object.__new__(cls)
        out.__dict__.update(_as_stored(cls.format_name, dict(x.__dict__)))
        return out

    def _plain(self):
        """A plain SciPy object sharing this object's arrays (for the device upload)."""
        base = getattr(ss, f"{self.format_name}_array")
        out = object.__new__(base)
        d = {k: v for k, v in self.__dict__.items() if not k.startswith(("_device", "_r"))}
        for name in STORED[self.format_name]:
            d[name] = d.pop("_stored_" + name)
        out.__dict__.update(d)
        return out

    def __getstate__(self):
        return {k: v for k, v in self.__dict__.items()
                if k not in ("_device", "_reading")}

    @property
    def dtype(self):
        return _device.stored(self, "data").dtype

    @dtype.setter
    def dtype(self, value):
        self.data.dtype = value

    # -- products, routed by cost ----------------------------------------------------------
    def _matmul_dispatch(self, other):
        if _route.on_device(self, other):
            return _route.device_matmul(self, other)
        return super()._matmul_dispatch(_registry.host(other))

    def _rmatmul_dispatch(self, other):
        if _route.on_device(self, other):
            return _route.device_rmatmul(self, other)
        return super()._rmatmul_dispatch(_registry.host(other))

    # -- what jaxsparse.linalg multiplies by -------------------------------------------------
    @property
    def _core(self):
        """The device copy: a core jaxsparse format (built on first use)."""
        return _device.device_core(self, CORE_CLASSES[self.format_name])

    def _operator(self):
        """The device product operator (the core, a view of it, or a sharded copy)."""
        return _device.device_operator(self, CORE_CLASSES[self.format_name])

    def _wrap(self, core):
        """A core result as a drop-in object of this kind (array or matrix)."""
        return from_core(core, self._is_matrix_kind)

    # What jaxsparse.linalg reads (jaxsparse._operand): the same three, by protocol.
    def __jaxsparse_matrix__(self):
        return self._core

    def __jaxsparse_operator__(self):
        return self._operator()

    def __jaxsparse_wrap__(self, core):
        return self._wrap(core)


def _flatten(obj):
    return (obj._core,), (obj.format_name, obj._is_matrix_kind)


# Operators whose results SciPy sometimes builds with its module-level classes instead of
# the ``_*_container`` hooks (COO indexing, for one): their results are re-labelled.
_OPERATORS = ("__getitem__", "__add__", "__radd__", "__sub__", "__rsub__", "__mul__",
              "__rmul__", "__matmul__", "__rmatmul__", "__truediv__", "__rtruediv__",
              "__neg__", "__abs__", "__pow__", "__round__", "__eq__", "__ne__", "__lt__",
              "__gt__", "__le__", "__ge__", "__pos__")


# Public methods that return None, a number or a NumPy array (SciPy calls some of them
# inside its constructors): no result to re-label, so no wrapper on the hot path.
_NO_SPARSE_RESULT = frozenset((
    "check_format", "prune", "sort_indices", "sum_duplicates", "eliminate_zeros",
    "setdiag", "resize", "getnnz", "count_nonzero", "get_shape", "getformat",
    "getmaxprint", "toarray", "todense", "nonzero", "diagonal", "trace", "argmax",
    "argmin"))


def _results_to_rewrap(base: type):
    for name in dir(base):
        if (name.startswith("_") and name not in _OPERATORS) or name in _NO_SPARSE_RESULT:
            continue
        if inspect.isfunction(getattr(base, name, None)):
            yield name


def _rewrapping(method):
    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        return _registry.rewrap_all(method(self, *args, **kwargs))

    return wrapped


def _make(fmt: str, is_matrix: bool) -> type:
    base = getattr(ss, f"{fmt}_{'matrix' if is_matrix else 'array'}")
    name = base.__name__
    namespace = {"__module__": "jaxsparse.scipy_compat", "__qualname__": name,
                 "__doc__": f"SciPy's ``{name}``, as a drop-in (see "
                            "``jaxsparse.scipy_compat``).\n\n" + (base.__doc__ or ""),
                 "format_name": fmt, "_is_matrix_kind": is_matrix, "_scipy_class": base}
    for method in _results_to_rewrap(base):
        namespace[method] = _rewrapping(getattr(base, method))
    if fmt in STORED:
        for attr in STORED[fmt]:
            stored = _device.Stored()
            stored.__set_name__(None, attr)
            namespace[attr] = stored
        for method in _device.READ_ONLY_METHODS:
            if hasattr(base, method):
                namespace[method] = _device.keeps_cache(namespace.get(method) or
                                                        getattr(base, method))
        cls = type(name, (DropIn, base), namespace)
        jax.tree_util.register_pytree_node(cls, _flatten, unflatten)
    else:
        cls = type(name, (Containers, base), namespace)
    cls.format_name = fmt
    return _registry.register(cls)


_CLASSES = {(fmt, m): _make(fmt, m) for fmt in FORMATS for m in (False, True)}

csr_array, csr_matrix = _CLASSES[("csr", False)], _CLASSES[("csr", True)]
csc_array, csc_matrix = _CLASSES[("csc", False)], _CLASSES[("csc", True)]
coo_array, coo_matrix = _CLASSES[("coo", False)], _CLASSES[("coo", True)]
dia_array, dia_matrix = _CLASSES[("dia", False)], _CLASSES[("dia", True)]
bsr_array, bsr_matrix = _CLASSES[("bsr", False)], _CLASSES[("bsr", True)]
lil_array, lil_matrix = _CLASSES[("lil", False)], _CLASSES[("lil", True)]
dok_array, dok_matrix = _CLASSES[("dok", False)], _CLASSES[("dok", True)]
