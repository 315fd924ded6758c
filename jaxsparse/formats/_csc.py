"""CSC: compressed sparse columns, SciPy's ``csc_array`` layout."""

from __future__ import annotations

import dataclasses

import jax

from .._pytree import register_pytree_dataclass
from ._compressed import AbstractCompressed

_static = dict(static=True)


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, repr=False, eq=False)
class CSC(AbstractCompressed):
    """Compressed sparse columns: column ``j`` holds ``data[indptr[j]:indptr[j+1]]`` at
    rows ``indices[indptr[j]:indptr[j+1]]``.

    Array for array, a CSC matrix is the CSR matrix of its transpose: its products run
    the transposed CSR kernel directly. Padding as in :class:`CSR` (row ``n_rows``).

    SciPy equivalent: ``scipy.sparse.csc_array``.
    """

    data: jax.Array
    indices: jax.Array
    indptr: jax.Array
    shape: tuple[int, int] = dataclasses.field(metadata=_static)
    has_sorted_indices: bool = dataclasses.field(default=False, metadata=_static)
    has_canonical_format: bool = dataclasses.field(default=False, metadata=_static)
    diagonal_offsets: jax.Array | None = None  # formats/_offsets.py

    format_name = "csc"
    kernel_layout = "csr"  # as the transposed CSR product
    entries_in_data = True
    _major_is_row = False

    def transpose(self):
        """A CSR view of the same arrays (no copy)."""
        from ._csr import CSR

        return CSR(self.data, self.indices, self.indptr, shape=self.shape[::-1],
                   has_sorted_indices=self.has_sorted_indices,
                   has_canonical_format=self.has_canonical_format,
                   diagonal_offsets=self.diagonal_offsets)

    def tocsc(self):
        return self

    def tocsr(self):
        from ._convert import coo_to_compressed

        return coo_to_compressed(self.tocoo(), row_major=True)
