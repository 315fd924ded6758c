"""Sampled dense-dense matrix multiplication."""

from __future__ import annotations

from ._operands import check_sparse, prepare


def sddmm(A, B, C, *, backend: str | None = None):
    """``A * (B @ C)`` on A's pattern, never forming ``B @ C``.

    The result has A's format and pattern, with values ``A.data[k] * (B @ C)[i_k, j_k]``
    (padding slots stay 0). Differentiable with respect to ``A.data``, ``B`` and ``C``.

    Args:
        A: 2-D jaxsparse matrix of shape ``(n, m)`` (CSR, CSC or COO).
        B: dense ``(n, k)``.
        C: dense ``(k, m)``.
        backend: ``"xla"``, ``"pallas"``, ``"native"`` or ``None`` (auto).

    SciPy equivalent: ``A.multiply(B @ C)`` (which forms ``B @ C``).
    """
    check_sparse(A)
    if not hasattr(A, "_sampled"):
        raise TypeError(f"sddmm supports CSR, CSC and COO, got {A.format.upper()}")
    A, (B, C), backend = prepare(A, {"B": B, "C": C}, "sampled", backend)
    n, m = A.shape
    if B.ndim != 2 or C.ndim != 2:
        raise ValueError(f"B and C must be 2-D, got shapes {B.shape} and {C.shape}")
    if B.shape[0] != n or C.shape[1] != m or B.shape[1] != C.shape[0]:
        raise ValueError(
            f"sddmm needs B (n, k) and C (k, m) with (n, m) = {A.shape}, "
            f"got B {B.shape} and C {C.shape}"
        )
    return A.with_data(A.data * A._sampled(B, C, backend=backend))
