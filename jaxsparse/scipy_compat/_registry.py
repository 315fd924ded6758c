"""The drop-in's class table, and turning SciPy's results into drop-in objects.

A leaf module: the class modules fill ``CLASSES`` and everything else reads it, so no
module of the drop-in needs to import another one's classes.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as ss

# (format, is_matrix) -> drop-in class; filled by ``_classes``.
CLASSES: dict[tuple[str, bool], type] = {}


def is_ours(x) -> bool:
    return type(x) in _OURS


_OURS: set[type] = set()


def register(cls: type) -> type:
    CLASSES[(cls.format_name, issubclass(cls, ss.spmatrix))] = cls
    _OURS.add(cls)
    return cls


def rewrap(x):
    """``x`` as a drop-in object when it is one of SciPy's sparse arrays or matrices
    (sharing its arrays: nothing is copied); anything else unchanged."""
    if not ss.issparse(x) or is_ours(x):
        return x
    cls = CLASSES.get((x.format, isinstance(x, ss.spmatrix)))
    if cls is None:
        return x
    return cls._adopt(x)


def rewrap_all(x):
    """:func:`rewrap` through tuples and lists (SciPy functions return both)."""
    if type(x) is np.ndarray:  # the common dense result: nothing to do
        return x
    if isinstance(x, tuple):
        return tuple(rewrap_all(v) for v in x)
    if isinstance(x, list):
        return [rewrap_all(v) for v in x]
    return rewrap(x)


def host(x):
    """A NumPy view of a ``jax.Array`` operand, anything else unchanged (for SciPy)."""
    if type(x) is np.ndarray:  # first: small NumPy products pass here on every call
        return x
    import jax

    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        return np.asarray(x)
    return x
