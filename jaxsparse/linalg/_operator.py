"""The one operator type every solver takes, and the conversion to it.

Solvers accept many kinds of ``A`` and ``M``: jaxsparse matrices, ``ShardedCSR``, dense
arrays, callables (JAX or NumPy code), :class:`~jaxsparse.linalg.LinearOperator`, SciPy
``LinearOperator``\\ s and the drop-in's sparse classes. :func:`as_operator` turns each
into an :class:`Operator`, the products ``A v`` and ``A^H v`` as pytrees: the solver loops
see nothing else. ``LinearOperator`` stays the public (SciPy) type.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from .. import _operand
from ..formats._base import AbstractSparse
from ..ops._dtypes import as_dense
from ._linear_operator import LinearOperator, _MatrixLinearOperator, aslinearoperator
from ._vectors import matmul, rmatmul


@functools.partial(
    jax.tree_util.register_dataclass,
    data_fields=("matvec", "rmatvec"),
    meta_fields=("shape", "dtype", "host"),
)
@dataclasses.dataclass(frozen=True)
class Operator:
    """What every solver multiplies by: ``matvec(v) = A v`` and ``rmatvec(v) = A^H v``.

    A pytree whose leaves are the products' arrays (a matrix inside a ``Partial``) and whose
    ``shape``, ``dtype`` (``None`` for a callable) and ``host`` (the products run on the host
    through ``jax.pure_callback``) are static, so a jitted solver taking operators as
    arguments compiles once per structure.
    """

    matvec: Partial
    rmatvec: Partial
    shape: tuple[int, int]
    dtype: Any = None
    host: bool = False

    @property
    def T(self) -> Operator:
        """``A^T``: ``A^T v = conj(A^H conj v)`` and ``(A^T)^H v = conj(A conj v)``, so a
        gradient's transposed solve is the same solver run on ``A.T``."""
        return Operator(
            transpose_of(self.rmatvec),
            transpose_of(self.matvec),
            self.shape[::-1],
            self.dtype,
            self.host,
        )

    @property
    def user_code(self) -> bool:
        """Whether a user's function is involved (then solvers are traced afresh)."""
        return is_callable_operator(self.matvec) or is_callable_operator(self.rmatvec)


def identity_operator(n: int) -> Operator:
    """The identity of size ``n`` (no preconditioner)."""
    return Operator(Partial(_identity), Partial(_identity), (n, n))


def is_identity(op: Partial) -> bool:
    """Whether ``op`` is the identity's product (no preconditioner: a solver may skip it)."""
    return getattr(op, "func", None) is _identity


def is_callable_operator(op: Partial) -> bool:
    """Whether ``op`` wraps a user's function (rather than a matrix we multiply by)."""
    if op.func is _transpose_apply:
        return is_callable_operator(op.args[0])
    return op.func not in (matmul, _identity, rmatmul)


def transpose_of(rmatvec: Partial) -> Partial:
    """``A^T v = conj(A^H conj(v))`` from ``A^H``, as a pytree (for transposed solves)."""
    return Partial(_transpose_apply, rmatvec)


def as_operator(
    op: Any, name: str, *, n: int | None = None, dtype: Any = None, square: bool = True
) -> Operator:
    """An :class:`Operator` for anything a solver accepts as ``A`` or ``M``.

    Accepts a jaxsparse matrix, a ``ShardedCSR`` (``b`` in its layout), a dense 2-D array,
    a callable, a :class:`~jaxsparse.linalg.LinearOperator`, a SciPy ``LinearOperator``
    and the drop-in's sparse classes. A ``scipy.sparse`` matrix is refused rather than
    converted: conversion is a host copy the caller should make once, outside the
    solver. The products are ``jax.tree_util.Partial``\\ s: pytrees whose arrays (the
    matrix) are leaves and whose function is static, so a jitted solver taking them is
    compiled once per structure and reused for new values. ``n`` is the length of
    ``b`` (``A``'s row count); ``dtype`` is the solver's working dtype, used to probe a
    callable. A callable (or ``LinearOperator``) whose matvec cannot be traced by JAX (NumPy
    code: it raises ``TracerArrayConversionError``, ``ConcretizationTypeError``, ...) is
    detected by tracing it once with ``jax.eval_shape`` and then runs through
    ``jax.pure_callback``: correct, but one device-to-host round trip per product.
    """
    op = _drop_in_operator(op, square)
    if isinstance(op, _MatrixLinearOperator):
        op = op.A
    if _is_scipy_linear_operator(op):
        op = aslinearoperator(op)
    if isinstance(op, LinearOperator):
        return _linear_operator_parts(op, name, n=n, dtype=dtype, square=square)
    if isinstance(op, AbstractSparse) or isinstance(op, jax.Array | np.ndarray):
        if isinstance(op, np.ndarray):
            op = as_dense(op, name)  # names the operator for object/str arrays
        if op.ndim != 2:
            raise ValueError(f"{name} must be 2-D, got shape {op.shape}")
        if square:
            _check_square(tuple(op.shape), n if n is not None else op.shape[0], name)
        elif n is not None and op.shape[0] != n:
            raise ValueError(f"{name} has {op.shape[0]} rows but b has length {n}")
        return Operator(Partial(matmul, op), Partial(rmatmul, op), tuple(op.shape), op.dtype)
    from ..sharding import ShardedCSR

    if isinstance(op, ShardedCSR):
        # b is in the plan's layout: the products map layout vectors to layout vectors
        laid_out = op.col_index.size
        if op.shape[0] != op.shape[1] or n != laid_out:
            raise ValueError(
                f"{name} is sharded with shape {op.shape}: it must be square and b must be "
                f"in its layout (length {laid_out}), got length {n}"
            )
        return Operator(Partial(matmul, op), Partial(rmatmul, op), (n, n), op.dtype)
    if callable(op) and not _is_scipy_sparse(op):
        if n is None:
            raise ValueError(f"{name} is a callable: its size must come from b")
        lin = LinearOperator((n, n), matvec=op, dtype=dtype)
        parts = _linear_operator_parts(lin, name, n=n, dtype=dtype, square=square)
        # keep the plain callable as the matvec: no wrapper in the solver's jaxpr
        return parts if parts.host else Operator(Partial(op), parts.rmatvec, (n, n), None)
    if _is_scipy_sparse(op):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; convert it once with "
            f"jaxsparse.CSR.from_scipy({name}) before calling the solver"
        )
    raise TypeError(
        f"{name} must be a jaxsparse matrix, a dense 2-D array, a LinearOperator or a "
        f"callable matvec, got {type(op).__name__}"
    )


def _linear_operator_parts(op, name, *, n, dtype, square) -> Operator:
    shape = tuple(op.shape)
    if square:
        _check_square(shape, n if n is not None else shape[0], name)
    elif n is not None and shape[0] != n:
        raise ValueError(f"{name} has {shape[0]} rows but b has length {n}")
    work = jnp.result_type(*[d for d in (dtype, op.dtype) if d is not None] or [float])
    if not jnp.issubdtype(work, jnp.inexact):
        work = jnp.result_type(work, float)
    if _traceable(op._matvec_1d, shape[1], work):
        return Operator(Partial(op._matvec_1d), Partial(op._rmatvec_1d), shape, op.dtype)
    out = jnp.result_type(work, op.dtype) if op.dtype is not None else work
    real = op.dtype is not None and not jnp.issubdtype(op.dtype, jnp.complexfloating)
    # functools.partial: the user's function and sizes are static, not pytree leaves
    return Operator(
        Partial(functools.partial(_host_apply, op._matvec_1d, shape[0], out, real)),
        Partial(functools.partial(_host_apply, op._rmatvec_1d, shape[1], out, real)),
        shape,
        op.dtype,
        host=True,
    )


_TRACE_ERRORS = (
    jax.errors.TracerArrayConversionError,
    jax.errors.ConcretizationTypeError,
    jax.errors.TracerBoolConversionError,
    jax.errors.TracerIntegerConversionError,
)


def _traceable(f, n_in, dtype) -> bool:
    """Whether ``f`` traces under JAX: probe it once with ``jax.eval_shape``. Compiled
    NumPy-only code (SuperLU's ``solve``, most C extensions) refuses a tracer with a plain
    ``TypeError`` ("argument 1 must be numpy.ndarray, not DynamicJaxprTracer"): that
    counts as NumPy code too; any other ``TypeError`` is the user's and propagates."""
    try:
        jax.eval_shape(f, jax.ShapeDtypeStruct((n_in,), dtype))
    except _TRACE_ERRORS:
        return False
    except TypeError as err:
        if "Tracer" in str(err):
            return False
        raise
    return True


def _host_apply(f, n_out, dtype, real, v):
    """``f(v)`` on the host via ``jax.pure_callback`` (for matvecs written in NumPy).

    A real operator (``real``: its declared dtype is real) given a complex vector is
    applied to the real and imaginary parts, ``f(Re v) + i f(Im v)``: NumPy code written
    for real vectors (a real LU's ``solve``) often refuses complex ones, and SciPy never
    hands them one, e.g. ``eigs``' real Arnoldi applies a real ``OPinv`` to real vectors
    only, where our complex iteration would otherwise pass complex ones."""
    dtype = jnp.dtype(jnp.result_type(dtype, v.dtype))  # a complex v gives a complex A v
    shape = jax.ShapeDtypeStruct((n_out,), dtype)

    def host(v):
        v = np.asarray(v)
        if real and np.iscomplexobj(v):
            y = np.asarray(f(v.real)) + 1j * np.asarray(f(v.imag))
        else:
            y = f(v)
        return np.asarray(y, dtype=dtype).reshape(n_out)

    return jax.pure_callback(host, shape, v, vmap_method="sequential")


def _drop_in_operator(op: Any, square: bool) -> Any:
    """A drop-in matrix's product operator (its cached COO view or sharded copy, see
    ``scipy_compat._product_view``); other operators unchanged. A sharded copy serves
    square operators only: its products take and return length-``n`` vectors."""
    if not _operand.implements(op):
        return op
    from ..sharding import ShardedCSR

    product = _operand.operator_of(op)
    if isinstance(product, ShardedCSR) and not square:
        return _operand.core_of(op)
    return product


def _identity(v):
    return v


def _transpose_apply(rmatvec, v):
    if jnp.iscomplexobj(v):
        return jnp.conj(rmatvec(jnp.conj(v)))
    return rmatvec(v)


def _check_square(shape: tuple[int, ...], n: int, name: str) -> None:
    if tuple(shape) != (n, n):
        raise ValueError(f"{name} must have shape (n, n) = ({n}, {n}) to match b, got {shape}")


def _is_scipy_sparse(op: Any) -> bool:
    try:
        import scipy.sparse as sps
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return sps.issparse(op)


def _is_scipy_linear_operator(op: Any) -> bool:
    try:
        from scipy.sparse.linalg import LinearOperator as ScipyLinearOperator
    except ImportError:  # pragma: no cover
        return False
    return isinstance(op, ScipyLinearOperator)
