"""``expm``, ``inv`` (host-side, through SciPy) and ``matrix_power`` (repeated spgemm).

``expm`` and ``inv`` produce dense-ish fill with data-dependent structure: they copy a
single-device matrix to the host, call SciPy, and return our sparse type.
``matrix_power`` stays on the device: binary powering with :func:`jaxsparse.ops.spgemm`
(a host-side symbolic phase per product, then the numeric phase in JAX).
"""

from __future__ import annotations

from typing import Any

from ._direct import as_core, host_sparse, wrap_core_like, wrap_like


def expm(A: Any):
    """The matrix exponential of a square sparse matrix, **host-side** (SciPy's Padé
    scaling-and-squaring on a host copy of a single-device matrix); the result is our
    sparse type (the drop-in's class for drop-in input).

    SciPy equivalent: ``scipy.sparse.linalg.expm``.
    """
    import scipy.sparse.linalg as sla

    S = host_sparse(A)
    return wrap_like(A, sla.expm(S.tocsc()))


def inv(A: Any):
    """The inverse of a square sparse matrix, **host-side** (SciPy's SuperLU solve with
    the identity, on a host copy of a single-device matrix); the result is our sparse type.
    As SciPy warns, the inverse is usually dense: prefer :func:`spsolve`/:func:`splu`.

    SciPy equivalent: ``scipy.sparse.linalg.inv``.
    """
    import scipy.sparse as sps
    import scipy.sparse.linalg as sla

    S = host_sparse(A)
    return wrap_like(A, sps.csc_array(sla.inv(S.tocsc())))


def matrix_power(A: Any, power: int):
    """``A`` to the integer power ``power >= 0`` by repeated sparse products (spgemm),
    on the device. ``power = 0`` gives the identity. The result is sparse (CSR; the
    drop-in's class for drop-in input).

    SciPy equivalent: ``scipy.sparse.linalg.matrix_power``.
    """
    import scipy.sparse as sps

    from .. import ops
    from ..formats import CSR

    core = as_core(A)
    if core is None:
        raise TypeError(f"A must be a sparse matrix, got {type(A).__name__}")
    M, N = core.shape
    if M != N:
        raise TypeError("sparse matrix is not square")
    if int(power) != power:
        raise TypeError("exponent must be an integer")
    power = int(power)
    if power < 0:
        raise ValueError("exponent must be >= 0")
    if power == 0:
        return wrap_core_like(A, CSR.from_scipy(sps.eye_array(M, dtype=core.dtype, format="csr")))
    base = core.tocsr()
    result = None
    while power:
        if power & 1:
            result = base if result is None else ops.spgemm(result, base)
        power >>= 1
        if power:
            base = ops.spgemm(base, base)
    return wrap_core_like(A, result)
