"""Turn the operands solvers accept (sparse matrix, dense matrix, matvec) into a matvec."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.tree_util import Partial

from ..formats._base import AbstractSparse


def as_matvec(op: Any, n: int, name: str) -> tuple[Partial, Any]:
    """``(matvec, dtype)`` for a jaxsparse matrix, a dense 2-D array or a callable.

    ``matvec`` is a ``jax.tree_util.Partial``: a pytree whose arrays (the matrix) are
    leaves and whose function is static, so a jitted solver taking it as an argument is
    compiled once per structure and reused for new values of the same shapes.
    ``dtype`` is ``None`` for a callable (its dtype is unknown until it is called).
    A ``scipy.sparse`` matrix is refused rather than converted: conversion is a host
    copy the caller should make once, outside the solver.
    """
    if isinstance(op, AbstractSparse):
        _check_square(op.shape, n, name)
        return Partial(_matmul, op), op.dtype
    from ..sharding import ShardedCSR

    if isinstance(op, ShardedCSR):
        # b is in the plan's layout: the matvec maps layout vectors to layout vectors
        laid_out = op.col_index.size
        if op.shape[0] != op.shape[1] or n != laid_out:
            raise ValueError(
                f"{name} is sharded with shape {op.shape}: it must be square and b must be "
                f"in its layout (length {laid_out}), got length {n}"
            )
        return Partial(_matmul, op), op.dtype
    if _is_scipy_sparse(op):
        raise TypeError(
            f"{name} is a scipy.sparse matrix; convert it once with "
            f"jaxsparse.CSR.from_scipy({name}) before calling the solver"
        )
    if isinstance(op, jax.Array | np.ndarray):
        dense = jnp.asarray(op)
        if dense.ndim != 2:
            raise ValueError(f"{name} must be 2-D when given as an array, got shape {dense.shape}")
        _check_square(dense.shape, n, name)
        return Partial(_matmul, dense), dense.dtype
    if callable(op):
        return Partial(op), None
    raise TypeError(
        f"{name} must be a jaxsparse matrix, a dense 2-D array or a callable matvec, "
        f"got {type(op).__name__}"
    )


def identity() -> Partial:
    """The identity operator (no preconditioner), as a static ``Partial``."""
    return Partial(_identity)


def is_callable_operator(op: Partial) -> bool:
    """Whether ``op`` wraps a user's function (rather than a matrix we multiply by)."""
    return op.func not in (_matmul, _identity)


def _matmul(a, v):
    return a @ v


def _identity(v):
    return v


def _check_square(shape: tuple[int, ...], n: int, name: str) -> None:
    if tuple(shape) != (n, n):
        raise ValueError(f"{name} must have shape (n, n) = ({n}, {n}) to match b, got {shape}")


def _is_scipy_sparse(op: Any) -> bool:
    try:
        import scipy.sparse as sps
    except ImportError:  # pragma: no cover - scipy is a dependency
        return False
    return sps.issparse(op)


def vdot(a: jax.Array, b: jax.Array) -> jax.Array:
    """``sum(conj(a) * b)``: a sum of products, never ``jnp.vdot``.

    On an Explicit mesh ``jnp.dot``/``jnp.vdot`` of two sharded vectors raise (the
    contracting dimension is sharded); an elementwise product and a sum do not.
    """
    if jnp.iscomplexobj(a):
        a = jnp.conj(a)
    return jnp.sum(a * b)


def norm(a: jax.Array) -> jax.Array:
    """Euclidean norm as a sum of products (see :func:`vdot`); real-valued."""
    if jnp.iscomplexobj(a):
        return jnp.sqrt(jnp.sum(jnp.real(a) ** 2 + jnp.imag(a) ** 2))
    return jnp.sqrt(jnp.sum(a * a))
