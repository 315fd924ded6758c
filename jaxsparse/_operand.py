"""How the core takes matrices that live outside it: the ``__jaxsparse_matrix__``
protocol.

The drop-in's classes (``jaxsparse.scipy_compat``) are SciPy objects holding a device
copy of their host arrays. ``jaxsparse.linalg`` multiplies by such an object through
three methods, and never through its private attributes or by importing its module:

``__jaxsparse_matrix__()``
    Its entries as a core format (an ``AbstractSparse``), built once and cached.
``__jaxsparse_operator__()``
    What to multiply by: the core format, a view of it, or a ``ShardedCSR``.
``__jaxsparse_wrap__(core)``
    A core result (``inv(A)``, ``expm(A)``...) returned in the object's own type.

Any other library can implement the same three methods to pass its matrices to
``jaxsparse.linalg``.
"""

from __future__ import annotations

from typing import Any


def implements(x: Any) -> bool:
    """Whether ``x`` implements the protocol (a drop-in matrix, traced or not)."""
    return hasattr(type(x), "__jaxsparse_matrix__")


def core_of(x: Any):
    """``x``'s entries as a core format, or ``None`` when ``x`` is no such object."""
    return x.__jaxsparse_matrix__() if implements(x) else None


def operator_of(x: Any):
    """What ``x`` multiplies by (its core when it names nothing else)."""
    fn = getattr(type(x), "__jaxsparse_operator__", None)
    return fn(x) if fn is not None else x.__jaxsparse_matrix__()


def wrap_as(x: Any, core: Any):
    """``core`` in ``x``'s own type (``core`` itself when ``x`` names no wrapper)."""
    fn = getattr(type(x), "__jaxsparse_wrap__", None)
    return fn(x, core) if fn is not None else core
