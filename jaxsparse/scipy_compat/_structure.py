"""Structure changes: ``reshape``, ``resize``, ``setdiag``, ``nonzero``.

Each works on the COO view of the core and converts back. The new pattern depends on
the indices, so these run eagerly (the mutating ones are refused under ``jit`` anyway).
"""

from __future__ import annotations

import operator

import jax.numpy as jnp
import numpy as np

from ..formats import COO
from ._coerce import convert, trim


def _shape_arg(args):
    if len(args) == 1 and not isinstance(args[0], (int, np.integer)):
        args = tuple(args[0])
    return tuple(operator.index(a) for a in args)


def _coo(self) -> COO:
    return convert(self._core, "coo")


def _host_coords(coo):
    return tuple(np.asarray(c).astype(np.int64) for c in coo.coords)


def reshaped(self, args, order="C", copy=False):
    shape = _shape_arg(args)
    size = int(np.prod(self.shape))
    if shape.count(-1) > 1:
        raise ValueError("can only specify one unknown dimension")
    if -1 in shape:
        known = int(np.prod([s for s in shape if s != -1]))
        if known == 0 or size % known:
            raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
        shape = tuple(size // known if s == -1 else s for s in shape)
    if int(np.prod(shape)) != size:
        raise ValueError(f"cannot reshape array of size {size} into shape {shape}")
    if self._is_matrix and len(shape) != 2:
        raise ValueError("matrices must be 2-D")
    if shape == self.shape:
        return self.copy() if copy else self
    if order not in ("C", "F"):
        raise ValueError("order must be 'C' or 'F'")
    coo = _coo(self)
    coords = [c.astype(jnp.int64) for c in coo.coords]
    old, new = self.shape, shape
    if order == "F":
        old, new, coords = old[::-1], new[::-1], coords[::-1]
    flat = coords[0]
    for c, n in zip(coords[1:], old[1:], strict=True):
        flat = flat * n + c
    out = []
    for n in reversed(new):
        out.append(flat % n)
        flat = flat // n
    out = out[::-1]
    if order == "F":
        out = out[::-1]
    from ..formats._index import index_dtype

    idx = index_dtype(*shape, coo.capacity)
    core = COO(coo.data, tuple(c.astype(idx) for c in out), shape=shape,
               has_canonical_format=False)
    return self._wrap(core, fmt="coo")


def resized(self, shape):
    shape = _shape_arg(shape)
    if self._is_matrix and len(shape) != 2:
        raise ValueError("matrices must be 2-D")
    if len(shape) != self.ndim:
        raise ValueError(f"resize needs a {self.ndim}-D shape for this array, got {shape}")
    coo = trim(_coo(self))
    coords = _host_coords(coo)
    keep = np.ones(coords[0].shape, bool)
    for c, n in zip(coords, shape, strict=True):
        keep &= c < n
    where = jnp.asarray(np.flatnonzero(keep))
    new = COO.from_arrays(coo.data[where], tuple(c[keep] for c in coords), shape=shape)
    if self.format == "bsr":
        return convert(new, "bsr", self.blocksize)
    return convert(new, self.format)


def with_diagonal(self, values, k=0):
    if self.ndim != 2:
        raise ValueError("setdiag requires a 2-D array")
    n, m = self.shape
    k = operator.index(k)
    if k <= -n or k >= m:
        raise ValueError("k exceeds array dimensions")
    length = min(n + min(k, 0), m - max(k, 0))
    values = np.asarray(values)
    if values.ndim == 0:
        count = length
        vals = np.full(count, values)
    else:
        count = min(length, values.shape[0])
        vals = values[:count]
    i = np.arange(count)
    rows, cols = (i, i + k) if k >= 0 else (i - k, i)
    coo = trim(_coo(self))
    r, c = _host_coords(coo)
    along = r if k >= 0 else c  # position along the diagonal
    on = (c - r == k) & (along < count)
    keep = np.flatnonzero(~on)
    dtype = _setdiag_dtype(self, values, count, count - np.unique(along[on]).size)
    data = jnp.concatenate([coo.data[jnp.asarray(keep)].astype(dtype),
                            jnp.asarray(vals).astype(dtype)])
    new = COO.from_arrays(data, (np.concatenate([r[keep], rows]),
                                 np.concatenate([c[keep], cols])), shape=self.shape)
    if self.format == "bsr":
        return convert(new, "bsr", self.blocksize)
    if self.format == "coo":
        return new
    return convert(new, self.format)


def _setdiag_dtype(self, values, count, new_entries):
    """SciPy's dtype after ``setdiag``: COO concatenates the values (promoting to an array's
    dtype); CSR/CSC do too, but only when at least 0.1% of nnz new entries send them
    through COO; DIA/BSR and scalars keep the dtype."""
    if values.ndim == 0 or count == 0 or self.format not in ("coo", "csr", "csc"):
        return self.dtype
    if self.format != "coo" and (new_entries == 0 or new_entries < 0.001 * self.nnz):
        return self.dtype
    return np.result_type(self.dtype, values.dtype)


def nonzero(self):
    coo = trim(_coo(self))
    mask = np.asarray(coo.data != 0)
    coords = [np.asarray(c)[mask] for c in coo.coords]
    if self.format == "csc":  # SciPy's csc.nonzero sorts row-major
        order = np.lexsort((coords[1], coords[0]))
        coords = [c[order] for c in coords]
    return tuple(jnp.asarray(c) for c in coords)
