"""The "pallas" lowerings of the product primitives: dtype checks and kernel choice.

The kernels take floating dtypes: float32 and float64 as they are, bfloat16 and float16
loaded as they are and accumulated in float32 (the xla backend's rule). Triton has no
complex type, and nothing is gained for integers or booleans, so those, empty operands
and mixed index dtypes go to the xla lowering of the same op: a "pallas" call never
fails for an input the xla backend accepts.
"""

from __future__ import annotations

import numpy as np

from .. import _dispatch, _reference
from . import _rowwise, _sampled, _transposed

_VALUE_DTYPES = frozenset(np.dtype(t) for t in ("float16", "bfloat16", "float32", "float64"))
_INDEX_DTYPES = frozenset((np.dtype(np.int32), np.dtype(np.int64)))


def _runs_here(values, indices, dense) -> bool:
    index_dtypes = {np.dtype(a.dtype) for a in indices}
    return (
        all(np.dtype(a.dtype) in _VALUE_DTYPES for a in values)
        and len(index_dtypes) == 1 and index_dtypes <= _INDEX_DTYPES
        and not any(0 in a.shape for a in (*values, *indices, *dense))
    )


def _pallas_or_xla(op: str):
    """Register ``fn`` as ``op``'s pallas lowering; ``fn`` returns None to defer to xla."""

    def decorate(fn):
        def lowering(*args, **params):
            out = fn(*args, **params)
            return _dispatch.lookup(op, "xla")(*args, **params) if out is None else out

        _dispatch.register(op, "pallas")(lowering)
        return fn

    return decorate


@_pallas_or_xla("csr_matmul")
def _csr_matmul(data, indices, indptr, b, *, shape, transpose, b_start=0):
    b = _reference.operand_rows(b, b_start)  # a copy: Triton kernels take no offset
    n_rows, n_cols = shape
    if not _runs_here((data, b), (indices, indptr), ()) or indptr.shape[0] != n_rows + 1:
        return None
    acc = _reference.accumulation_dtype(b.dtype)
    if transpose:
        out = _transposed.csr_matmul_transposed(data, indices, indptr, b, n_rows=n_rows,
                                                n_cols=n_cols, acc=acc)
    else:
        out = _rowwise.csr_matmul(data, indices, indptr, b, n_rows=n_rows, acc=acc)
    return out.astype(b.dtype)


@_pallas_or_xla("csr_offsets_matvec")
def _csr_offsets_matvec(data, indices, indptr, offsets, b, *, shape):
    # The row-wise kernel reads the indices: there is no GPU kernel over the offsets.
    del offsets
    return _csr_matmul(data, indices, indptr, b, shape=shape, transpose=False)


def _sampled_lowering(i0, i1, p, q, *, shape, is_csr):
    n_rows, n_cols = shape
    if (not _runs_here((p, q), (i0, i1), ()) or p.shape[0] != n_rows
            or q.shape[1] != n_cols):
        return None
    acc = _reference.accumulation_dtype(p.dtype)
    return _sampled.sampled(i0, i1, p, q, is_csr=is_csr, n_rows=n_rows, n_cols=n_cols,
                            acc=acc).astype(p.dtype)


@_pallas_or_xla("csr_sampled")
def _csr_sampled(indices, indptr, p, q, *, shape):
    if indptr.shape[0] != shape[0] + 1:
        return None
    return _sampled_lowering(indptr, indices, p, q, shape=shape, is_csr=True)


@_pallas_or_xla("coo_sampled")
def _coo_sampled(row, col, p, q, *, shape):
    return _sampled_lowering(row, col, p, q, shape=shape, is_csr=False)
