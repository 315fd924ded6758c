"""What csr, csc and bsr share: ``indices``/``indptr`` attributes and index sorting."""

from __future__ import annotations

import dataclasses

import numpy as np

from ..formats._compressed import _host_order
from ._base import _spbase
from ._coerce import _indices_concrete, trim


class _cs_base(_spbase):
    """Compressed formats (csr, csc, and bsr's block rows): one ``indptr`` and one
    ``indices`` array. Setting ``A.data``/``A.indices``/``A.indptr`` re-validates."""

    @property
    def data(self):
        return self._core.data

    @data.setter
    def data(self, value):
        self._set_core(self._rebuild_from_attrs(data=value))

    @property
    def indices(self):
        return self._core.indices

    @indices.setter
    def indices(self, value):
        self._set_core(self._rebuild_from_attrs(indices=value))

    @property
    def indptr(self):
        return self._core.indptr

    @indptr.setter
    def indptr(self, value):
        self._set_core(self._rebuild_from_attrs(indptr=value))

    def _rebuild_from_attrs(self, **changes):
        """A validated core from the current arrays with ``changes`` applied."""
        core = self._core
        args = dict(data=core.data, indices=core.indices, indptr=core.indptr)
        args.update(changes)
        kw = dict(blocksize=core.blocksize) if self.format == "bsr" else {}
        if self.format == "bsr" and "data" in changes and np.ndim(args["data"]) == 3:
            kw = dict(blocksize=tuple(np.shape(args["data"])[1:]))
        out = type(core).from_arrays(args["data"], args["indices"], args["indptr"],
                                     shape=self.shape, **kw)
        return trim(out)

    def _order_flags(self) -> tuple[bool, bool]:
        core = self._core
        if core.has_canonical_format:
            return True, True
        if not _indices_concrete(core):
            return bool(core.has_sorted_indices), False
        return _host_order(np.asarray(core.indices), np.asarray(core.indptr))

    @property
    def has_sorted_indices(self) -> bool:
        """Whether every row's (column's) indices are sorted (computed, as SciPy)."""
        return bool(self._core.has_sorted_indices or self._order_flags()[0])

    @has_sorted_indices.setter
    def has_sorted_indices(self, value):
        self._set_core(dataclasses.replace(self._core, has_sorted_indices=bool(value)))

    @property
    def has_canonical_format(self) -> bool:
        """Sorted indices and no duplicates (computed, as SciPy)."""
        return bool(self._order_flags()[1])

    @has_canonical_format.setter
    def has_canonical_format(self, value):
        value = bool(value)
        self._set_core(dataclasses.replace(
            self._core, has_canonical_format=value,
            has_sorted_indices=self._core.has_sorted_indices or value))

    def sort_indices(self) -> None:
        """Sort the indices of every row (csr) / column (csc) in place."""
        if self.has_sorted_indices:
            return None
        self._mutate("sort_indices", self._core.sort_indices())
        return None

    def sorted_indices(self):
        """A copy with sorted indices."""
        out = self.copy()
        out.sort_indices()
        return out

    def prune(self) -> None:
        """Drop storage past ``nnz`` (the drop-in never keeps any: a no-op check)."""
        self._mutate("prune", trim(self._core))
        return None
