"""MINRES for Hermitian (possibly indefinite) systems: SciPy's iteration and stopping
tests in one ``lax.while_loop``, sums of products, implicit gradients (the transposed
solve is MINRES on ``conj(A)``, Hermitian too)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._krylov import emit, real_dtype, solve_square
from ._vectors import norm, vdot


def minres(
    A: Any,
    b: jax.Array,
    x0: jax.Array | None = None,
    *,
    rtol: float = 1e-5,
    shift: float = 0.0,
    maxiter: int | None = None,
    M: Any = None,
    callback: Callable | None = None,
    show: bool = False,
    check: bool = False,
) -> tuple[jax.Array, jax.Array]:
    """Solve ``(A - shift I) x = b`` for Hermitian ``A`` by MINRES.

    Args:
        A: Hermitian ``(n, n)`` operator (kinds as :func:`jaxsparse.linalg.bicg`).
        b, x0: right-hand side and starting guess.
        rtol: SciPy's relative tolerance (its tests on ``rnorm / (Anorm ynorm)`` and
            ``Arnorm / Anorm``). shift: solve with ``A - shift I``.
        maxiter: default ``5 * n``. M: Hermitian positive definite preconditioner.
        callback: ``callback(xk)`` per iteration via ordered ``jax.debug.callback``.
        show: print the final status (host side).
        check: run SciPy's symmetry tests of ``A`` and ``M`` first (three products on
            the starting residual) and raise ``ValueError`` as SciPy does, which also
            catches an indefinite preconditioner. The verdict is a host decision, so
            under ``jit`` ``check=True`` raises ``TypeError``: check outside, then solve.

    Returns:
        ``(x, info)``: ``info`` ``0`` on any of SciPy's successful stops, ``maxiter``
        when the iteration limit was reached. Without ``check``, an indefinite
        preconditioner (SciPy raises ``ValueError``) gives NaNs, as raising is
        impossible inside ``jit``.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> x, info = js.linalg.minres(jnp.array([[2.0, 1.0], [1.0, -3.0]]), jnp.ones(2))
        >>> int(info)
        0

    SciPy equivalent: ``scipy.sparse.linalg.minres``.
    """
    params = dict(rtol=rtol, shift=shift, maxiter=-1 if maxiter is None else maxiter)
    if check:
        _check_symmetric(A, b, x0, M, params)
    x, info = solve_square("minres", _loop, A, b, x0, (M,), params=params, callback=callback)
    if show and not isinstance(info, jax.core.Tracer):
        print(f"Exit  minres.   info = {int(info)}")
    return x, info


def _check_symmetric(A, b, x0, M, params):
    """SciPy's ``check=True`` tests, on the host, before the solve."""
    _, (beta1, sym_a, sym_m) = solve_square(
        "minres", _symmetry_probe, A, b, x0, (M,), params=params, implicit=False
    )
    if any(isinstance(v, jax.core.Tracer) for v in (beta1, sym_a, sym_m)):
        raise TypeError(
            "minres(check=True) decides on the host whether A and M are symmetric, which "
            "is impossible under jit: run the check outside jit, or pass check=False"
        )
    if float(beta1) < 0:
        raise ValueError("indefinite preconditioner")
    if float(beta1) > 0 and not bool(sym_a):
        raise ValueError("non-symmetric matrix")
    if float(beta1) > 0 and not bool(sym_m):
        raise ValueError("non-symmetric preconditioner")


def _symmetry_probe(A, Ms, b, x0, params, static, callback):
    """SciPy's checks on ``y = M r1``: ``|<A y, A y> - <y, A A y>|`` and
    ``|<y, y> - <r1, M y>|`` each within ``(s + eps) eps**(1/3)`` of ``s``.
    Returns ``((x0, 0), (beta1, A symmetric, M symmetric))``."""
    (M,) = Ms
    dtype = b.dtype
    eps = jnp.finfo(real_dtype(dtype)).eps
    x = jnp.zeros_like(b) if x0 is None else x0
    r1 = b if x0 is None else b - A.matvec(x0).astype(dtype)
    y = M.matvec(r1).astype(dtype)
    beta1 = jnp.real(vdot(r1, y))

    def close(s, t):
        return jnp.abs(s - t) <= (s + eps) * eps ** (1.0 / 3.0)

    w = A.matvec(y).astype(dtype)
    sym_a = close(jnp.real(vdot(w, w)), jnp.real(vdot(y, A.matvec(w).astype(dtype))))
    sym_m = close(jnp.real(vdot(y, y)), jnp.real(vdot(r1, M.matvec(y).astype(dtype))))
    return (x, jnp.int32(0)), (beta1, sym_a, sym_m)


def _loop(A, Ms, b, x0, params, static, callback):
    (M,) = Ms
    dtype = b.dtype
    real = real_dtype(dtype)
    n = b.shape[0]
    maxiter = jnp.where(params["maxiter"] < 0, 5 * n, params["maxiter"])
    rtol = params["rtol"].astype(real)
    shift = params["shift"].astype(dtype)
    eps = jnp.finfo(real).eps
    x = jnp.zeros_like(b) if x0 is None else x0
    r1 = b if x0 is None else b - A.matvec(x0).astype(dtype)
    y = M.matvec(r1).astype(dtype)
    beta1 = jnp.real(vdot(r1, y))
    bnorm = norm(b)
    stop_now = (beta1 == 0) | (bnorm == 0)
    beta1 = jnp.sqrt(beta1)
    zr = jnp.zeros((), real)

    # istop: 0 running, 1..4 success codes, 6 iteration limit, -1 beta2 = 0
    def cond(s):
        return (s[1] == 0) & ~stop_now

    def body(s):
        (
            itn,
            istop,
            x,
            r1,
            r2,
            y,
            w,
            w2,
            oldb,
            beta,
            dbar,
            epsln,
            phibar,
            rhs1,
            rhs2,
            tnorm2,
            gmax,
            gmin,
            cs,
            sn,
        ) = s
        itn = itn + 1
        v = y / beta
        y = A.matvec(v).astype(dtype) - shift * v
        y = jnp.where(itn >= 2, y - (beta / oldb) * r1, y)
        alfa = jnp.real(vdot(v, y))
        y = y - (alfa / beta) * r2
        r1 = r2
        r2 = y
        y = M.matvec(r2).astype(dtype)
        oldb = beta
        beta = jnp.sqrt(jnp.real(vdot(r2, y)))
        tnorm2 = tnorm2 + alfa**2 + oldb**2 + beta**2
        istop = jnp.where((itn == 1) & (beta / beta1 <= 10 * eps), -1, istop)
        oldeps = epsln
        delta = cs * dbar + sn * alfa
        gbar = sn * dbar - cs * alfa
        epsln = sn * beta
        dbar = -cs * beta
        root = jnp.hypot(gbar, dbar)
        gamma = jnp.maximum(jnp.hypot(gbar, beta), eps)
        cs = gbar / gamma
        sn = beta / gamma
        phi = cs * phibar
        phibar = sn * phibar
        w1, w2 = w2, w
        w = (v - oldeps * w1 - delta * w2) / gamma
        x = x + phi * w
        gmax = jnp.maximum(gmax, gamma)
        gmin = jnp.minimum(gmin, gamma)
        z = rhs1 / gamma
        rhs1 = rhs2 - delta * z
        rhs2 = -epsln * z
        Anorm = jnp.sqrt(tnorm2)
        ynorm = norm(x)
        epsx = Anorm * ynorm * eps
        rnorm = phibar
        test1 = jnp.where((ynorm == 0) | (Anorm == 0), jnp.inf, rnorm / (Anorm * ynorm))
        test2 = jnp.where(Anorm == 0, jnp.inf, root / Anorm)
        Acond = gmax / gmin
        code = jnp.int32(0)
        code = jnp.where(1 + test2 <= 1, 2, code)
        code = jnp.where(1 + test1 <= 1, 1, code)
        code = jnp.where(itn >= maxiter, 6, code)
        code = jnp.where(Acond >= 0.1 / eps, 4, code)
        code = jnp.where(epsx >= beta1, 3, code)
        code = jnp.where(test2 <= rtol, 2, code)
        code = jnp.where(test1 <= rtol, 1, code)
        istop = jnp.where(istop == 0, code, istop).astype(jnp.int32)
        emit(callback, x)
        return (
            itn,
            istop,
            x,
            r1,
            r2,
            y,
            w,
            w2,
            oldb,
            beta,
            dbar,
            epsln,
            phibar,
            rhs1,
            rhs2,
            tnorm2,
            gmax,
            gmin,
            cs,
            sn,
        )

    zeros = jnp.zeros_like(b)
    init = (
        jnp.int32(0),
        jnp.int32(0),
        x,
        r1,
        r1,
        y,
        zeros,
        zeros,
        zr,
        beta1,
        zr,
        zr,
        beta1,
        beta1,
        zr,
        zr,
        zr,
        jnp.asarray(jnp.finfo(real).max, real),
        -jnp.ones((), real),
        zr,
    )
    # maxiter <= 0: SciPy's loop never runs and returns info 0
    init = (init[0], jnp.where(maxiter <= 0, jnp.int32(7), init[1]), *init[2:])
    itn, istop, x, *_ = lax.while_loop(cond, body, init)
    x = jnp.where(bnorm != 0, x, b)
    info = jnp.where(istop == 6, maxiter, 0).astype(jnp.int32)
    return x, info
