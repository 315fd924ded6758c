"""``@`` between any mix of sparse and dense operands: one dispatch point."""

from __future__ import annotations

from ..formats._base import AbstractSparse
from ._dtypes import as_dense
from ._spmm import dense_matmul_sparse, spmm
from ._spmv import spmv


def matmul(a, b, *, backend: str | None = None):
    """``a @ b``: sparse @ dense (spmv/spmm), dense @ sparse, or sparse @ sparse (spgemm)."""
    a_sparse, b_sparse = isinstance(a, AbstractSparse), isinstance(b, AbstractSparse)
    if a_sparse and b_sparse:
        from ._spgemm import spgemm

        return spgemm(a, b, backend=backend)
    if a_sparse:
        ndim = getattr(b, "ndim", None)
        if ndim is None:  # a list or scalar (np.ndim of a ragged list raises, unnamed)
            b = as_dense(b, "b")
            ndim = b.ndim
        if ndim == 1:
            return spmv(a, b, backend=backend)
        return spmm(a, b, backend=backend)
    return dense_matmul_sparse(a, b, backend=backend)
