"""``dia_array`` and ``dia_matrix``: diagonal storage."""

from __future__ import annotations

from ..formats import DIA
from ._base import _spbase, register, sparray, spmatrix

_DOC = """DIAgonal {kind} (SciPy's ``scipy.sparse.dia_{kind}``).

    Constructors, as SciPy::

        dia_{kind}(D)                               # dense array / list / np.matrix
        dia_{kind}(S)                               # any sparse (ours or SciPy's)
        dia_{kind}((M, N), dtype=...)               # empty
        dia_{kind}((data, offsets), shape=(M, N))   # data[k, j] is A[j - offsets[k], j]

    Stricter than SciPy: ``data`` must be 2-D with one row per offset and the offsets
    unique, checked at construction. ``A.data`` has SciPy's shape (its width is the
    one given, or the last used column + 1 after a conversion).
"""


class _dia_base(_spbase):
    _format = "dia"

    @property
    def data(self):
        core = self._core
        return core.data[:, : core._width]

    @data.setter
    def data(self, value):
        self._set_core(self._rebuild_from_attrs(data=value))

    @property
    def offsets(self):
        return self._core.offsets

    @offsets.setter
    def offsets(self, value):
        self._set_core(self._rebuild_from_attrs(offsets=value))

    def _rebuild_from_attrs(self, **changes):
        args = dict(data=self.data, offsets=self._core.offsets)
        args.update(changes)
        return DIA.from_arrays(args["data"], args["offsets"], shape=self.shape)


@register
class dia_array(_dia_base, sparray):
    __doc__ = _DOC.format(kind="array")


@register
class dia_matrix(spmatrix, _dia_base):
    __doc__ = _DOC.format(kind="matrix") + "\n    ``*`` is the matrix product.\n"
