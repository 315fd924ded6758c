"""LSMR for least squares ``min ||A x - b||^2 + damp^2 ||x||^2`` (Fong & Saunders), SciPy's
iteration, stopping tests and return tuple, as one ``lax.while_loop``. ``A`` may be
rectangular. No implicit gradients (the problem need not be square)."""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ._krylov import lsq_stop_code, prepare_rectangular, real_dtype, sym_ortho
from ._vectors import norm


def lsmr(
    A: Any,
    b: jax.Array,
    damp: float = 0.0,
    atol: float = 1e-6,
    btol: float = 1e-6,
    conlim: float = 1e8,
    maxiter: int | None = None,
    show: bool = False,
    x0: jax.Array | None = None,
):
    """Least-squares solution of ``A x = b`` (``A`` is ``m x n``) by LSMR.

    Args:
        A: as :func:`jaxsparse.linalg.lsqr`. b: ``(m,)``. damp, atol, btol, conlim,
            maxiter (default ``min(m, n)``), x0: as SciPy. show: print the final status.

    Returns:
        SciPy's tuple ``(x, istop, itn, normr, normar, normA, condA, normx)``; the scalars
        are 0-d arrays.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> A = jnp.array([[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]])
        >>> int(js.linalg.lsmr(A, jnp.array([1.0, 2.0, 2.0]))[1])
        1

    SciPy equivalent: ``scipy.sparse.linalg.lsmr``.
    """
    op, b, x0, dtype = prepare_rectangular("lsmr", A, b, x0)
    m, n = op.shape
    params = dict(
        damp=jnp.asarray(damp),
        atol=jnp.asarray(atol),
        btol=jnp.asarray(btol),
        conlim=jnp.asarray(conlim),
        maxiter=jnp.asarray(min(m, n) if maxiter is None else maxiter),
    )
    run = _lsmr if op.user_code else _lsmr_jit
    out = run(op.matvec, op.rmatvec, b, x0, params, n)
    if show and not isinstance(out[1], jax.core.Tracer):
        print(f"LSMR finished: istop = {int(out[1])}, itn = {int(out[2])}")
    return out


def _lsmr(matvec, rmatvec, b, x0, params, n):
    dtype = b.dtype
    real = real_dtype(dtype)
    damp = params["damp"].astype(real)
    atol, btol = params["atol"].astype(real), params["btol"].astype(real)
    conlim, maxiter = params["conlim"].astype(real), params["maxiter"]
    ctol = jnp.where(conlim > 0, 1 / conlim, 0)
    normb = norm(b)
    zr, one = jnp.zeros((), real), jnp.ones((), real)
    if x0 is None:
        x = jnp.zeros((n,), dtype)
        u, beta = b, normb
    else:
        x = x0
        u = b - matvec(x).astype(dtype)
        beta = norm(u)
    u = jnp.where(beta > 0, u / jnp.where(beta > 0, beta, 1), u)
    v = jnp.where(beta > 0, rmatvec(u).astype(dtype), jnp.zeros((n,), dtype))
    alpha = jnp.where(beta > 0, norm(v), 0)
    v = jnp.where(alpha > 0, v / jnp.where(alpha > 0, alpha, 1), v)
    normar0 = alpha * beta

    def cond(s):
        return (s[0] < maxiter) & (s[1] == 0) & (normar0 != 0) & (normb != 0)

    def body(s):
        (
            itn,
            istop,
            x,
            u,
            v,
            h,
            hbar,
            alpha,
            alphabar,
            rho,
            rhobar,
            cbar,
            sbar,
            betadd,
            betad,
            rhodold,
            tautildeold,
            thetatilde,
            zeta,
            zetabar,
            d,
            normA2,
            maxrbar,
            minrbar,
            *_,
        ) = s
        itn = itn + 1
        u = matvec(v).astype(dtype) - alpha * u
        beta = norm(u)
        pos = beta > 0
        u = jnp.where(pos, u / jnp.where(pos, beta, 1), u)
        v_new = rmatvec(u).astype(dtype) - beta * v
        alpha_new = norm(v_new)
        v_new = jnp.where(alpha_new > 0, v_new / jnp.where(alpha_new > 0, alpha_new, 1), v_new)
        v = jnp.where(pos, v_new, v)
        alpha = jnp.where(pos, alpha_new, alpha)
        chat, shat, alphahat = sym_ortho(alphabar, damp)
        rhoold = rho
        c, s_, rho = sym_ortho(alphahat, beta)
        thetanew = s_ * alpha
        alphabar = c * alpha
        rhobarold = rhobar
        zetaold = zeta
        thetabar = sbar * rho
        rhotemp = cbar * rho
        cbar, sbar, rhobar = sym_ortho(cbar * rho, thetanew)
        zeta = cbar * zetabar
        zetabar = -sbar * zetabar
        hbar = h - (thetabar * rho / (rhoold * rhobarold)) * hbar
        x = x + (zeta / (rho * rhobar)) * hbar
        h = v - (thetanew / rho) * h
        betaacute = chat * betadd
        betacheck = -shat * betadd
        betahat = c * betaacute
        betadd = -s_ * betaacute
        thetatildeold = thetatilde
        ctildeold, stildeold, rhotildeold = sym_ortho(rhodold, thetabar)
        thetatilde = stildeold * rhobar
        rhodold = ctildeold * rhobar
        betad = -stildeold * betad + ctildeold * betahat
        tautildeold = (zetaold - thetatildeold * tautildeold) / rhotildeold
        taud = (zeta - thetatilde * tautildeold) / rhodold
        d = d + betacheck * betacheck
        normr = jnp.sqrt(d + (betad - taud) ** 2 + betadd * betadd)
        normA2 = normA2 + beta * beta
        normA = jnp.sqrt(normA2)
        normA2 = normA2 + alpha * alpha
        maxrbar = jnp.maximum(maxrbar, rhobarold)
        minrbar = jnp.where(itn > 1, jnp.minimum(minrbar, rhobarold), minrbar)
        condA = jnp.maximum(maxrbar, rhotemp) / jnp.minimum(minrbar, rhotemp)
        normar = jnp.abs(zetabar)
        normx = norm(x)
        test1 = normr / normb
        test2 = jnp.where(
            normA * normr != 0, normar / jnp.where(normA * normr != 0, normA * normr, 1), jnp.inf
        )
        test3 = 1 / condA
        t1 = test1 / (1 + normA * normx / normb)
        rtol = btol + atol * normA * normx / normb
        code = lsq_stop_code(itn, maxiter, test1, test2, test3, t1, rtol, atol, ctol)
        return (
            itn,
            code,
            x,
            u,
            v,
            h,
            hbar,
            alpha,
            alphabar,
            rho,
            rhobar,
            cbar,
            sbar,
            betadd,
            betad,
            rhodold,
            tautildeold,
            thetatilde,
            zeta,
            zetabar,
            d,
            normA2,
            maxrbar,
            minrbar,
            normr,
            normar,
            normA,
            condA,
            normx,
        )

    init = (
        jnp.int32(0),
        jnp.int32(0),
        x,
        u,
        v,
        v,
        jnp.zeros((n,), dtype),
        alpha,
        alpha,
        one,
        one,
        one,
        zr,
        beta,
        zr,
        one,
        zr,
        zr,
        zr,
        normar0,
        zr,
        alpha * alpha,
        zr,
        jnp.asarray(1e100, real),
        beta,
        normar0,
        alpha,
        one,
        zr,
    )
    s = lax.while_loop(cond, body, init)
    itn, istop, x = s[0], s[1], s[2]
    x = jnp.where(normb == 0, jnp.zeros_like(x), x)
    normr, normar, normA, condA, normx = s[24:29]
    return x, istop, itn, normr, normar, normA, condA, normx


_lsmr_jit = jax.jit(_lsmr, static_argnums=(5,))
