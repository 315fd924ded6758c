"""Shared argument handling for the product ops: checks, promotion, backend choice."""

from __future__ import annotations

import jax

from ..formats._base import AbstractSparse
from . import _dispatch
from ._dtypes import as_dense, result_dtype


def check_sparse(A, name: str = "A") -> None:
    if not isinstance(A, AbstractSparse):
        raise TypeError(f"{name} must be a jaxsparse matrix, got {type(A).__name__}")
    if A.ndim != 2:
        raise ValueError(f"{name} must be 2-D, got shape {A.shape}")


def kernel_name(A, op: str) -> str:
    """The dispatch name of ``A``'s kernel for ``op`` ("matmul" or "sampled")."""
    return f"{A.kernel_layout}_{op}"


def prepare(A, operands: dict[str, object], op: str, backend: str | None):
    """Promote ``A`` and the dense operands to one dtype; validate the backend.

    Returns ``(A, [arrays...], backend)``; backend None stays None (the platform's
    default, chosen when the product is lowered: ``_dispatch.choose``).
    """
    arrays = [as_dense(v, name) for name, v in operands.items()]
    dtype = result_dtype(A.dtype, *(a.dtype for a in arrays))
    if A.dtype != dtype:
        A = A.astype(dtype)
    arrays = [a.astype(dtype) if a.dtype != dtype else a for a in arrays]
    chosen = _dispatch.choose(kernel_name(A, op), backend) if hasattr(A, "_matmul") else None
    return A, arrays, chosen


def contracted_size(A, transpose: bool) -> int:
    return A.shape[0] if transpose else A.shape[1]


def check_operand_rows(b: jax.Array, expected: int, name: str, what: str) -> None:
    if b.shape[0] != expected:
        raise ValueError(
            f"{name} must have {expected} rows to match {what}, got shape {b.shape}"
        )
