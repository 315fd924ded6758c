"""LSQR for least squares ``min ||A x - b||^2 + damp^2 ||x||^2`` (Paige & Saunders),
SciPy's iteration, stopping tests and return tuple, as one ``lax.while_loop``. ``A`` may be
rectangular; products with ``A^H`` come from the operator (see ``as_operator``).
No implicit gradients (the problem need not be square): do not differentiate through it."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._krylov import lsq_stop_code, prepare_rectangular, real_dtype, sym_ortho
from ._vectors import norm


def lsqr(
    A: Any,
    b: jax.Array,
    damp: float = 0.0,
    atol: float = 1e-6,
    btol: float = 1e-6,
    conlim: float = 1e8,
    iter_lim: int | None = None,
    show: bool = False,
    calc_var: bool = False,
    x0: jax.Array | None = None,
):
    """Least-squares solution of ``A x = b`` (``A`` is ``m x n``) by LSQR.

    Args:
        A: a jaxsparse matrix, dense array, ``LinearOperator`` (with ``rmatvec``; NumPy
            matvecs run through ``jax.pure_callback``, a host round trip per product).
        b: ``(m,)``. damp, atol, btol, conlim, iter_lim (default ``2 n``), x0: as SciPy.
        show: print the final ``istop`` (host side). calc_var: accumulate ``var``.

    Returns:
        SciPy's tuple ``(x, istop, itn, r1norm, r2norm, anorm, acond, arnorm, xnorm,
        var)``; the scalars are 0-d arrays (so ``lsqr`` works under ``jit``).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> A = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
        >>> int(js.linalg.lsqr(A, jnp.array([1.0, 2.0, 2.0]))[1])
        1

    SciPy equivalent: ``scipy.sparse.linalg.lsqr``.
    """
    op, b, x0, dtype = prepare_rectangular("lsqr", A, b, x0)
    n = op.shape[1]
    params = dict(
        damp=jnp.asarray(damp),
        atol=jnp.asarray(atol),
        btol=jnp.asarray(btol),
        conlim=jnp.asarray(conlim),
        iter_lim=jnp.asarray(2 * n if iter_lim is None else iter_lim),
    )
    run = _lsqr if op.user_code else _lsqr_jit
    out = run(op.matvec, op.rmatvec, b, x0, params, n, bool(calc_var))
    if show and not isinstance(out[1], jax.core.Tracer):
        print(f"LSQR finished: istop = {int(out[1])}, itn = {int(out[2])}")
    return out


def _lsqr(matvec, rmatvec, b, x0, params, n, calc_var):
    dtype = b.dtype
    real = real_dtype(dtype)
    eps = jnp.finfo(real).eps
    damp = params["damp"].astype(real)
    atol, btol = params["atol"].astype(real), params["btol"].astype(real)
    conlim, iter_lim = params["conlim"].astype(real), params["iter_lim"]
    ctol = jnp.where(conlim > 0, 1 / conlim, 0)
    dampsq = damp**2
    bnorm = norm(b)
    zr = jnp.zeros((), real)
    if x0 is None:
        x = jnp.zeros((n,), dtype)
        u, beta = b, bnorm
    else:
        x = x0
        u = b - matvec(x).astype(dtype)
        beta = norm(u)
    u = jnp.where(beta > 0, u / jnp.where(beta > 0, beta, 1), u)
    v = jnp.where(beta > 0, rmatvec(u).astype(dtype), x)
    alfa = jnp.where(beta > 0, norm(v), 0)
    v = jnp.where(alfa > 0, v / jnp.where(alfa > 0, alfa, 1), v)
    arnorm0 = alfa * beta

    # state: itn, istop, x, u, v, w, alfa, rhobar, phibar, anorm, ddnorm, res2, xxnorm, z,
    #        cs2, sn2, var, r1norm, r2norm, acond, arnorm, xnorm
    def cond(s):
        return (s[0] < iter_lim) & (s[1] == 0) & (arnorm0 != 0)

    def body(s):
        (
            itn,
            istop,
            x,
            u,
            v,
            w,
            alfa,
            rhobar,
            phibar,
            anorm,
            ddnorm,
            res2,
            xxnorm,
            z,
            cs2,
            sn2,
            var,
            *_,
        ) = s
        itn = itn + 1
        u = matvec(v).astype(dtype) - alfa * u
        beta = norm(u)
        pos = beta > 0
        u = jnp.where(pos, u / jnp.where(pos, beta, 1), u)
        anorm = jnp.where(pos, jnp.sqrt(anorm**2 + alfa**2 + beta**2 + dampsq), anorm)
        v_new = rmatvec(u).astype(dtype) - beta * v
        alfa_new = norm(v_new)
        v_new = jnp.where(alfa_new > 0, v_new / jnp.where(alfa_new > 0, alfa_new, 1), v_new)
        v = jnp.where(pos, v_new, v)
        alfa = jnp.where(pos, alfa_new, alfa)
        rhobar1 = jnp.where(damp > 0, jnp.sqrt(rhobar**2 + dampsq), rhobar)
        cs1 = rhobar / jnp.where(rhobar1 == 0, 1, rhobar1)
        sn1 = damp / jnp.where(rhobar1 == 0, 1, rhobar1)
        psi = jnp.where(damp > 0, sn1 * phibar, 0)
        phibar = jnp.where(damp > 0, cs1 * phibar, phibar)
        cs, sn, rho = sym_ortho(rhobar1, beta)
        theta = sn * alfa
        rhobar = -cs * alfa
        phi = cs * phibar
        phibar = sn * phibar
        tau = sn * phi
        t1 = phi / rho
        t2 = -theta / rho
        dk = w / rho
        x = x + t1 * w
        w = v + t2 * w
        ddnorm = ddnorm + norm(dk) ** 2
        if calc_var:
            var = var + jnp.real(dk * jnp.conj(dk))
        delta = sn2 * rho
        gambar = -cs2 * rho
        rhs = phi - delta * z
        zbar = rhs / gambar
        xnorm = jnp.sqrt(xxnorm + zbar**2)
        gamma = jnp.sqrt(gambar**2 + theta**2)
        cs2 = gambar / gamma
        sn2 = theta / gamma
        z = rhs / gamma
        xxnorm = xxnorm + z**2
        acond = anorm * jnp.sqrt(ddnorm)
        res1 = phibar**2
        res2 = res2 + psi**2
        rnorm = jnp.sqrt(res1 + res2)
        arnorm = alfa * jnp.abs(tau)
        r1sq = rnorm**2 - dampsq * xxnorm
        r1norm = jnp.where(damp > 0, jnp.sign(r1sq) * jnp.sqrt(jnp.abs(r1sq)), rnorm)
        r1norm = jnp.where((damp > 0) & (r1sq == 0), 0, r1norm)
        r2norm = rnorm
        test1 = rnorm / bnorm
        test2 = arnorm / (anorm * rnorm + eps)
        test3 = 1 / (acond + eps)
        t1 = test1 / (1 + anorm * xnorm / bnorm)
        rtol = btol + atol * anorm * xnorm / bnorm
        code = lsq_stop_code(itn, iter_lim, test1, test2, test3, t1, rtol, atol, ctol)
        return (
            itn,
            code,
            x,
            u,
            v,
            w,
            alfa,
            rhobar,
            phibar,
            anorm,
            ddnorm,
            res2,
            xxnorm,
            z,
            cs2,
            sn2,
            var,
            r1norm,
            r2norm,
            acond,
            arnorm,
            xnorm,
        )

    init = (
        jnp.int32(0),
        jnp.int32(0),
        x,
        u,
        v,
        v,
        alfa,
        alfa,
        beta,
        zr,
        zr,
        zr,
        zr,
        zr,
        -jnp.ones((), real),
        zr,
        jnp.zeros((n,), real),
        beta,
        beta,
        zr,
        arnorm0,
        zr,
    )
    s = lax.while_loop(cond, body, init)
    itn, istop, x = s[0], s[1], s[2]
    var = s[16]
    r1norm, r2norm, anorm, acond, arnorm, xnorm = s[17], s[18], s[9], s[19], s[20], s[21]
    return x, istop, itn, r1norm, r2norm, anorm, acond, arnorm, xnorm, var


_lsqr_jit = jax.jit(_lsqr, static_argnums=(5, 6))
