"""Hypothesis strategies for sparse matrices.

Shapes are small and capacities are rounded up to powers of two, so the number of
distinct compiled programs stays bounded (a compile costs ~0.1 s here).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps
from hypothesis import strategies as st

import jaxsparse as js


def _bucket(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


@st.composite
def scipy_coo(draw, max_dim: int = 8, min_dim: int = 0, dtype=np.float64):
    """Random COO with duplicates, empty rows, sometimes one dense row; 0x0 and 1x1."""
    n = draw(st.integers(min_dim, max_dim))
    m = draw(st.integers(min_dim, max_dim))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    nnz = draw(st.integers(0, 2 * n * m)) if n and m else 0
    row = rng.integers(0, n, nnz) if nnz else np.zeros(0, np.int64)
    col = rng.integers(0, m, nnz) if nnz else np.zeros(0, np.int64)
    if n and m and draw(st.booleans()):  # one dense row
        r = rng.integers(0, n)
        row = np.concatenate([row, np.full(m, r)])
        col = np.concatenate([col, np.arange(m)])
    values = rng.standard_normal(row.size)
    if np.dtype(dtype).kind == "c":
        values = values + 1j * rng.standard_normal(row.size)
    return sps.coo_array((values.astype(dtype), (row, col)), shape=(n, m))


def unsummed_csr(S: sps.coo_array) -> sps.csr_array:
    """The CSR of ``S`` that keeps its duplicate entries (SciPy's ``tocsr`` sums them)."""
    order = np.argsort(S.row, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(S.row, minlength=S.shape[0]))])
    return sps.csr_array((S.data[order], S.col[order], indptr), shape=S.shape)


def padded_csr(S: sps.csr_array) -> js.CSR:
    """A jaxsparse CSR of SciPy matrix ``S`` with capacity rounded up to a power of two.

    The extra slots are deliberately filled with garbage: the constructor must turn
    them into padding (value 0, sentinel column) so they can never contribute.
    """
    nnz = S.nnz
    cap = _bucket(nnz)
    data = np.concatenate([S.data, np.full(cap - nnz, 7.0, S.dtype)])
    indices = np.concatenate([S.indices, np.zeros(cap - nnz, S.indices.dtype)])
    return js.CSR.from_arrays(data, indices, S.indptr, shape=S.shape)
