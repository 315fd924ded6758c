"""``csr_array`` and ``csr_matrix``: compressed sparse rows."""

from __future__ import annotations

from ._base import register, sparray, spmatrix
from ._compressed import _cs_base

_DOC = """Compressed Sparse Row {kind} (SciPy's ``scipy.sparse.csr_{kind}``).

    Constructors, as SciPy::

        csr_{kind}(D)                               # dense array / list / np.matrix
        csr_{kind}(S)                               # any sparse (ours or SciPy's)
        csr_{kind}((M, N), dtype=...)               # empty
        csr_{kind}((data, (row, col)), shape=...)   # duplicates are summed
        csr_{kind}((data, indices, indptr), shape=...)

    Stricter than SciPy: the input is always validated (``indptr`` starts at 0 and
    never decreases, indices are in range, lengths agree), so a malformed matrix
    raises ``ValueError`` at construction instead of misbehaving later. Storage past
    ``indptr[-1]`` is dropped (SciPy keeps it until ``prune()``).

    The arrays (``data``, ``indices``, ``indptr``) are ``jax.Array``\\ s; the object is a
    pytree, so it can be passed to ``jax.jit``-compiled functions.
"""


class _csr_base(_cs_base):
    _format = "csr"


@register
class csr_array(_csr_base, sparray):
    __doc__ = _DOC.format(kind="array")


@register
class csr_matrix(spmatrix, _csr_base):
    __doc__ = _DOC.format(kind="matrix") + "\n    ``*`` is the matrix product.\n"
