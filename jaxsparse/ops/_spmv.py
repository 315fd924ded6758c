"""Sparse matrix times dense vector."""

from __future__ import annotations

import jax

from ._operands import check_operand_rows, check_sparse, contracted_size, prepare


def spmv(A, x, *, transpose: bool = False, backend: str | None = None) -> jax.Array:
    """``A @ x`` (or ``A.T @ x`` with ``transpose=True``) for a 1-D dense ``x``.

    Args:
        A: a 2-D jaxsparse matrix of any format.
        x: dense vector of length ``A.shape[1]`` (``A.shape[0]`` when transposed).
        transpose: multiply by ``A.T`` using the same arrays (no conversion).
        backend: ``"xla"`` (reference), ``"pallas"``, ``"native"`` or ``None`` (auto).

    Returns:
        A dense vector whose dtype follows NumPy promotion of ``A.dtype`` and ``x.dtype``.

    Example:
        >>> y = js.ops.spmv(A, jnp.ones(A.shape[1]))

    SciPy equivalent: ``A @ x``.
    """
    check_sparse(A)
    A, (x,), backend = prepare(A, {"x": x}, "matmul", backend)
    if x.ndim != 1:
        raise ValueError(f"x must be 1-D for spmv, got shape {x.shape}; use spmm")
    what = "A.shape[0] (transposed product)" if transpose else "A.shape[1]"
    check_operand_rows(x, contracted_size(A, transpose), "x", what)
    return A._matmul(x, transpose=transpose, backend=backend)
