"""Sparse matrix times dense matrix, and dense matrix times sparse matrix."""

from __future__ import annotations

import jax

from ._operands import check_operand_rows, check_sparse, contracted_size, prepare


def spmm(A, B, *, transpose: bool = False, backend: str | None = None) -> jax.Array:
    """``A @ B`` (or ``A.T @ B``) for a 2-D dense ``B``.

    Args:
        A: a 2-D jaxsparse matrix of any format.
        B: dense ``(A.shape[1], k)`` array (``(A.shape[0], k)`` when transposed).
        transpose: multiply by ``A.T`` using the same arrays (no conversion).
        backend: ``"xla"``, ``"pallas"``, ``"native"`` or ``None`` (auto).

    Returns:
        Dense ``(A.shape[0], k)`` array (``(A.shape[1], k)`` when transposed).

    SciPy equivalent: ``A @ B``.
    """
    check_sparse(A)
    A, (B,), backend = prepare(A, {"B": B}, "matmul", backend)
    if B.ndim != 2:
        raise ValueError(f"B must be 2-D for spmm, got shape {B.shape}; use spmv for vectors")
    what = "A.shape[0] (transposed product)" if transpose else "A.shape[1]"
    check_operand_rows(B, contracted_size(A, transpose), "B", what)
    return A._matmul(B, transpose=transpose, backend=backend)


def dense_matmul_sparse(X, A, *, backend: str | None = None) -> jax.Array:
    """``X @ A`` for dense ``X`` (1-D or 2-D), as ``(A.T @ X.T).T`` on A's own arrays.

    SciPy equivalent: ``X @ A``.
    """
    check_sparse(A)
    A, (X,), backend = prepare(A, {"X": X}, "matmul", backend)
    if X.ndim not in (1, 2):
        raise ValueError(f"X must be 1-D or 2-D, got shape {X.shape}")
    if X.shape[-1] != A.shape[0]:
        raise ValueError(
            f"X must have {A.shape[0]} columns to match A.shape[0], got shape {X.shape}"
        )
    return A._matmul(X.T, transpose=True, backend=backend).T
