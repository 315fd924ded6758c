"""``bsr_array`` and ``bsr_matrix``: block sparse rows."""

from __future__ import annotations

from ._base import register, sparray, spmatrix
from ._compressed import _cs_base

_DOC = """Block Sparse Row {kind} (SciPy's ``scipy.sparse.bsr_{kind}``).

    Constructors, as SciPy::

        bsr_{kind}(D, blocksize=(R, C))             # dense (blocksize: SciPy's estimate)
        bsr_{kind}(S, blocksize=(R, C))             # any sparse (ours or SciPy's)
        bsr_{kind}((M, N), blocksize=(R, C))        # empty
        bsr_{kind}((data, (row, col)), shape=...)   # via COO
        bsr_{kind}((data, indices, indptr), shape=...)   # data: (n_blocks, R, C)

    Stricter than SciPy: the block structure is always validated (``indptr``, block
    indices in range, ``blocksize`` dividing the shape) at construction.
"""


class _bsr_base(_cs_base):
    _format = "bsr"

    @property
    def blocksize(self) -> tuple[int, int]:
        return tuple(self._core.blocksize)


@register
class bsr_array(_bsr_base, sparray):
    __doc__ = _DOC.format(kind="array")


@register
class bsr_matrix(spmatrix, _bsr_base):
    __doc__ = _DOC.format(kind="matrix") + "\n    ``*`` is the matrix product.\n"
