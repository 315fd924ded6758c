"""Where a drop-in product runs: SciPy's kernel on the host, or JAX on the device.

- A ``jax.Array`` operand (or a traced one, under ``jit``): the device, and the result
  is a ``jax.Array`` on the device or mesh; JAX users keep everything on device.
- A NumPy operand (or a list...) and a matrix of at least :func:`device_min_nnz` stored
  entries: the device (the native kernels, a diagonal view or a sharded copy: see
  :mod:`._product_view`), and the result comes back as a writable ``np.ndarray``.
- Anything smaller: SciPy's own compiled kernel, with no JAX dispatch or compile.

The threshold was measured on a 2-core CPU machine (docs/dropin.md): below about 2e6
stored entries (a random pattern), SciPy's single-threaded product beats the device
route's fixed costs (copying the operand to the device and the result back, and JAX's
dispatch); above it the native kernels win. ``JAXSPARSE_DEVICE_MIN_NNZ`` or
:func:`set_device_min_nnz` overrides it (0: always the device; a huge value: always
SciPy).
"""

from __future__ import annotations

import os

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as ss

from . import _device

_DEFAULT_MIN_NNZ = 2_000_000
_min_nnz: int | None = None


def device_min_nnz() -> int:
    """Stored entries from which a NumPy operand's product runs on the device."""
    if _min_nnz is not None:
        return _min_nnz
    raw = os.environ.get("JAXSPARSE_DEVICE_MIN_NNZ")
    if raw is None:
        return _DEFAULT_MIN_NNZ
    if raw != _env_cache[0]:
        _env_cache[:] = [raw, _parse(raw)]
    return _env_cache[1]


_env_cache: list = [None, None]  # (raw string, parsed value): parsed once per value


def _parse(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"JAXSPARSE_DEVICE_MIN_NNZ must be an integer, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"JAXSPARSE_DEVICE_MIN_NNZ must be >= 0, got {value}")
    return value


def set_device_min_nnz(value: int | None) -> None:
    """Set the routing threshold for this process (``None``: back to the default or
    the environment variable)."""
    global _min_nnz
    if value is not None and (not isinstance(value, int | np.integer) or value < 0):
        raise ValueError(f"value must be a non-negative integer or None, got {value!r}")
    _min_nnz = None if value is None else int(value)


def stored_entries(A) -> int:
    """Stored entries of drop-in ``A``, read without handing its arrays out."""
    if A.format_name in ("csr", "csc"):
        return int(_device.stored(A, "indptr")[-1])
    return int(_device.stored(A, "data").size)


def _supported(A) -> bool:
    return A.ndim == 2 and A.dtype.kind in "fciub"


def on_device(A, other) -> bool:
    """Whether ``A @ other`` (or ``other @ A``) runs on the device."""
    if isinstance(other, np.ndarray):  # first: the hot path of small NumPy products
        if stored_entries(A) < device_min_nnz():
            return False
        return (other.dtype.kind in "fciub" and other.ndim in (1, 2) and _supported(A)
                and A.dtype.kind in "fc")
    return isinstance(other, jax.Array) and _supported(A)


def _mismatch(A_shape, x_shape, rmatmul: bool) -> ValueError:
    if rmatmul:
        return ValueError(f"matmul: dimension mismatch: operand of shape {x_shape} @ "
                          f"matrix of shape {A_shape}")
    return ValueError(f"matmul: dimension mismatch with signature (n,k={A_shape[-1]}),"
                      f"(k={x_shape[0] if x_shape else ''},?)->(n,?)")


def _result(y, other, A):
    if isinstance(other, jax.Array):
        return y
    out = np.array(y)
    return A._ascontainer(out) if isinstance(other, np.matrix) else out


def device_matmul(A, other):
    """``A @ other`` on the device (see the module docstring for the result type)."""
    x = other if isinstance(other, jax.Array) else jnp.asarray(np.asarray(other))
    if x.ndim not in (1, 2) or x.shape[0] != A.shape[1]:
        raise _mismatch(A.shape, x.shape, rmatmul=False)
    return _result(A._operator() @ x, other, A)


def device_rmatmul(A, other):
    """``other @ A`` on the device: the transposed kernel, no conversion of ``A``."""
    from ..formats._base import AbstractSparse
    from ..ops import matmul

    x = other if isinstance(other, jax.Array) else jnp.asarray(np.asarray(other))
    if x.ndim not in (1, 2) or x.shape[-1] != A.shape[0]:
        raise _mismatch(A.shape, x.shape, rmatmul=True)
    op = A._operator()
    if isinstance(op, AbstractSparse):
        y = matmul(x, op)
    else:  # sharded: x @ A = (A^T x^T)^T, the halo exchange run in reverse
        y = (op.T @ x.T).T
    return _result(y, other, A)


def is_sparse(x) -> bool:
    return ss.issparse(x)
