"""``csc_array`` and ``csc_matrix``: compressed sparse columns."""

from __future__ import annotations

from ._base import register, sparray, spmatrix
from ._compressed import _cs_base

_DOC = """Compressed Sparse Column {kind} (SciPy's ``scipy.sparse.csc_{kind}``).

    Constructors, as SciPy::

        csc_{kind}(D)                               # dense array / list / np.matrix
        csc_{kind}(S)                               # any sparse (ours or SciPy's)
        csc_{kind}((M, N), dtype=...)               # empty
        csc_{kind}((data, (row, col)), shape=...)   # duplicates are summed
        csc_{kind}((data, indices, indptr), shape=...)

    Stricter than SciPy: the input is always validated (``indptr`` starts at 0 and
    never decreases, indices are in range, lengths agree), so a malformed matrix
    raises ``ValueError`` at construction instead of misbehaving later. Storage past
    ``indptr[-1]`` is dropped (SciPy keeps it until ``prune()``).

    The arrays (``data``, ``indices``, ``indptr``) are ``jax.Array``\\ s; the object is a
    pytree, so it can be passed to ``jax.jit``-compiled functions.
"""


class _csc_base(_cs_base):
    _format = "csc"


@register
class csc_array(_csc_base, sparray):
    __doc__ = _DOC.format(kind="array")


@register
class csc_matrix(spmatrix, _csc_base):
    __doc__ = _DOC.format(kind="matrix") + "\n    ``*`` is the matrix product.\n"
