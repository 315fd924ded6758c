"""``coo_array`` (1-D or 2-D) and ``coo_matrix``: coordinate format."""

from __future__ import annotations

import dataclasses

from ..formats import COO
from ._base import _spbase, register, sparray, spmatrix
from ._coerce import trim

_DOC = """COOrdinate {kind} (SciPy's ``scipy.sparse.coo_{kind}``).

    Constructors, as SciPy::

        coo_{kind}(D)                               # dense array / list / np.matrix
        coo_{kind}(S)                               # any sparse (ours or SciPy's)
        coo_{kind}((M, N), dtype=...)               # empty
        coo_{kind}((data, (row, col)), shape=...)   # duplicates kept (summed on use)
{extra}
    Stricter than SciPy: indices are always checked to be in range and lengths to
    agree, raising ``ValueError`` at construction. The arrays are ``jax.Array``\\ s and
    the object is a pytree (usable as a ``jax.jit`` argument).
"""


class _coo_base(_spbase):
    _format = "coo"

    @property
    def data(self):
        return self._core.data

    @data.setter
    def data(self, value):
        self._set_core(self._rebuild_from_attrs(data=value))

    @property
    def coords(self):
        return tuple(self._core.coords)

    @coords.setter
    def coords(self, value):
        self._set_core(self._rebuild_from_attrs(coords=tuple(value)))

    @property
    def row(self):
        if self.ndim != 2:
            raise AttributeError("row is defined for 2-D coo arrays only")
        return self._core.coords[0]

    @row.setter
    def row(self, value):
        self._set_core(self._rebuild_from_attrs(coords=(value, self._core.coords[1])))

    @property
    def col(self):
        return self._core.coords[-1]

    @col.setter
    def col(self, value):
        coords = tuple(self._core.coords[:-1]) + (value,)
        self._set_core(self._rebuild_from_attrs(coords=coords))

    @property
    def has_canonical_format(self) -> bool:
        return bool(self._core.has_canonical_format)

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        self._set_core(dataclasses.replace(self._core, has_canonical_format=bool(value)))

    def _rebuild_from_attrs(self, **changes):
        args = dict(data=self._core.data, coords=self._core.coords)
        args.update(changes)
        out = COO.from_arrays(args["data"], tuple(args["coords"]), shape=self.shape)
        if "data" in changes:
            out = dataclasses.replace(out, has_canonical_format=self.has_canonical_format)
        return trim(out)

    def sum_duplicates(self) -> None:
        """Sort row-major and sum duplicates in place (SciPy semantics)."""
        if self._core.has_canonical_format:
            return None
        self._mutate("sum_duplicates", self._core.sum_duplicates())
        return None

    def eliminate_zeros(self) -> None:
        self._mutate("eliminate_zeros", self._core.eliminate_zeros())
        return None


@register
class coo_array(_coo_base, sparray):
    __doc__ = _DOC.format(kind="array", extra=(
        "        coo_array((data, (idx,)), shape=(n,))       # 1-D\n"))


@register
class coo_matrix(spmatrix, _coo_base):
    __doc__ = _DOC.format(kind="matrix", extra="") + "\n    ``*`` is the matrix product.\n"
