"""Which implementation a ``scipy_compat.linalg`` call runs: SciPy's or jaxsparse's.

- Any ``jax.Array`` or jaxsparse object among the arguments (a core format, a sharded
  matrix, a traced drop-in matrix, a jaxsparse ``LinearOperator``), or a sparse matrix
  of at least ``solver_min_nnz()`` stored entries: jaxsparse's JAX implementation (one
  compiled loop; sharded over the default mesh when large). Dense results come back as
  NumPy arrays unless an argument was a ``jax.Array``.
- Otherwise (small matrices, NumPy vectors, NumPy ``LinearOperator``\\ s): SciPy's own
  function on the host, called exactly as SciPy would be (a user's matvec runs exactly
  as often as under SciPy), with no JAX compile.
"""

from __future__ import annotations

import functools

import jax
import numpy as np
import scipy.sparse as ss
import scipy.sparse.linalg as ssl

from .. import _registry
from .._device import writable
from .._route import stored_entries
from .._thresholds import solver_min_nnz


def _jaxy(x) -> bool:
    from ...linalg._linear_operator import _CustomLinearOperator

    if isinstance(x, jax.Array):
        return True
    if isinstance(x, _CustomLinearOperator):  # a user's matvec: NumPy code, as likely
        return False
    if _registry.is_ours(x) or isinstance(x, np.ndarray) or ss.issparse(x):
        return False
    return type(x).__module__.startswith("jaxsparse.")


def _large(x) -> bool:
    if _registry.is_ours(x) and hasattr(x, "_operator"):
        return stored_entries(x) >= solver_min_nnz()
    return ss.issparse(x) and x.nnz >= solver_min_nnz()


def on_device(args, kwargs) -> bool:
    values = [*args, *kwargs.values()]
    return any(_jaxy(v) or _large(v) for v in values)


def to_numpy(x):
    """JAX results as writable NumPy arrays, through tuples and lists."""
    if isinstance(x, tuple) and not hasattr(x, "_fields"):
        return tuple(to_numpy(v) for v in x)
    if isinstance(x, tuple):  # a named tuple (lsqr's, lobpcg's)
        return type(x)(*(to_numpy(v) for v in x))
    if isinstance(x, list):
        return [to_numpy(v) for v in x]
    if isinstance(x, jax.Array) and not isinstance(x, jax.core.Tracer):
        return writable(x)
    return x


def _user_operator(x) -> bool:
    """A user's operator or function, whose code may be NumPy-only (untraceable)."""
    from ...linalg._linear_operator import _CustomLinearOperator

    return isinstance(x, _CustomLinearOperator | ssl.LinearOperator) or (
        callable(x) and not isinstance(x, jax.Array | np.ndarray) and not ss.issparse(x)
        and not _jaxy(x))


def _host_args(values):
    return [np.asarray(v) if isinstance(v, jax.Array) else v for v in values]


def _plain(x):
    """A drop-in matrix as a plain SciPy array sharing its arrays; anything else as is."""
    return x._plain() if _registry.is_ours(x) and hasattr(x, "_plain") else x


def routed(ours, theirs, module: str, *, plain_operands: bool = False):
    """``theirs``'s signature; runs ``ours`` on the device or ``theirs`` on the host.

    On the device path, a user's operator that cannot be traced (NumPy code: it fails
    on the tracer it is first called with) sends the call to the host path, where it
    runs as SciPy would run it; that costs the one failed call.

    ``plain_operands``: on the host path, drop-in matrices are handed to ``theirs`` as
    plain SciPy arrays sharing their arrays. An iterative solver multiplies by them once
    or twice per iteration, and each drop-in product pays its routing and result
    wrapping (9 us per ``cg`` iteration at n = 1000, half of SciPy's whole iteration).
    The solvers only read their operands and return NumPy arrays, so nothing else
    changes.
    """

    @functools.wraps(theirs)
    def call(*args, **kwargs):
        if on_device(args, kwargs):
            try:
                out = ours(*args, **kwargs)
            except Exception:
                if not any(_user_operator(v) for v in (*args, *kwargs.values())):
                    raise
                host_args = _host_args(args)
                host_kwargs = dict(zip(kwargs, _host_args(kwargs.values()), strict=True))
                return _registry.rewrap_all(theirs(*host_args, **host_kwargs))
            if any(isinstance(v, jax.Array) for v in (*args, *kwargs.values())):
                return out
            return to_numpy(out)
        if plain_operands:
            args = [_plain(v) for v in args]
            kwargs = {k: _plain(v) for k, v in kwargs.items()}
        return _registry.rewrap_all(theirs(*args, **kwargs))

    call.__module__ = module
    call.__doc__ = (f"SciPy's ``{theirs.__name__}`` on the host for small NumPy problems; "
                    f"jaxsparse's JAX implementation for large or JAX ones (see "
                    f"``jaxsparse.scipy_compat.linalg``).\n\n" + (ours.__doc__ or ""))
    return call
