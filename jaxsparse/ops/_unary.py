"""Zero-preserving unary functions, applied to the stored values only.

Every function here has ``f(0) == 0``, so implicit zeros and padding stay zero and the
result keeps A's format and pattern (as SciPy's ``A.sin()`` etc.). Nonlinear functions
sum duplicates first (SciPy's ``_deduped_data``); linear ones (``conj``, ``real``,
``imag``, ``deg2rad``, ``rad2deg``) do not need to. Padding gets value 0 and gradient 0
even where ``f`` has an infinite derivative at 0 (``sqrt``).

Dtypes follow NumPy: ``sin`` of an integer matrix is float64, ``floor`` of an integer
matrix keeps its dtype, ``real``/``imag`` of complex are real.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ..formats._base import AbstractSparse
from ._pattern import apply_to_data, canonical

_INT_KEEPS = ("floor", "ceil", "trunc", "sign")  # integer in, integer out
_LINEAR = ("deg2rad", "rad2deg")


def _output_dtype(name: str, dtype) -> np.dtype:
    import jax

    dtype = np.dtype(dtype)
    if name in _INT_KEEPS and dtype.kind in "iu":
        return dtype
    out = getattr(np, name)(np.zeros(1, dtype)).dtype
    return np.dtype(jax.dtypes.canonicalize_dtype(out))


def _check(A, name: str) -> None:
    if not isinstance(A, AbstractSparse):
        raise TypeError(f"{name} needs a jaxsparse array, got {type(A).__name__}")


def _make(name: str):
    fn = getattr(jnp, name)
    linear = name in _LINEAR

    def op(A):
        _check(A, name)
        if np.dtype(A.dtype).kind == "c" and name in ("floor", "ceil", "trunc"):
            raise TypeError(f"{name} is not defined for complex input ({A.dtype})")
        dtype = _output_dtype(name, A.dtype)
        if not linear:
            A = canonical(A)
        if name in _INT_KEEPS and dtype.kind in "iu":
            return A if name != "sign" else apply_to_data(A, fn)
        return apply_to_data(A, fn, dtype=dtype)

    op.__name__ = op.__qualname__ = name
    op.__doc__ = (
        f"Elementwise ``{name}`` of the stored values (``{name}(0) == 0``), in A's format.\n\n"
        f"    SciPy equivalent: ``A.{name}()``.\n"
    )
    return op


sin = _make("sin")
tan = _make("tan")
arcsin = _make("arcsin")
arctan = _make("arctan")
sinh = _make("sinh")
tanh = _make("tanh")
arcsinh = _make("arcsinh")
arctanh = _make("arctanh")
sqrt = _make("sqrt")
expm1 = _make("expm1")
log1p = _make("log1p")
floor = _make("floor")
ceil = _make("ceil")
trunc = _make("trunc")
rint = _make("rint")
sign = _make("sign")
deg2rad = _make("deg2rad")
rad2deg = _make("rad2deg")


def conj(A):
    """Complex conjugate of the values (a no-op for real dtypes).

    SciPy equivalent: ``A.conj()``.
    """
    _check(A, "conj")
    if np.dtype(A.dtype).kind != "c":
        return A
    return A.with_data(jnp.conj(A.data))


def real(A):
    """The real part, in A's format (real dtype). SciPy equivalent: ``A.real``."""
    _check(A, "real")
    if np.dtype(A.dtype).kind != "c":
        return A
    return A.with_data(jnp.real(A.data))


def imag(A):
    """The imaginary part, in A's format (zeros for real input). SciPy: ``A.imag``."""
    _check(A, "imag")
    return A.with_data(jnp.imag(A.data) if np.dtype(A.dtype).kind == "c"
                       else jnp.zeros_like(A.data))


UNARY_NAMES = ("sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh",
               "sqrt", "expm1", "log1p", "floor", "ceil", "trunc", "rint", "sign",
               "deg2rad", "rad2deg")
