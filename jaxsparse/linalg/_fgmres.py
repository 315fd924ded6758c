"""The flexible GMRES cycle that ``lgmres`` and ``gcrotmk`` share (SciPy's ``_fgmres``),
with fixed-size buffers so that it runs inside a ``lax.while_loop``.

Differences from SciPy: the Hessenberg least-squares problem is solved with Givens
rotations rather than ``qr_insert`` + ``lstsq`` (the same solution in exact arithmetic;
the residual estimate ``|Q[0, -1]|`` is the last rotated right-hand side).
"""

from __future__ import annotations

import jax.numpy as jnp
from jax import lax

from ._krylov import basis, lartg, real_dtype
from ._vectors import norm, vdot


def fgmres(
    A,
    lpsolve,
    rpsolve,
    v0,
    steps,
    size,
    atol,
    *,
    C=None,
    ccount=0,
    outer=None,
    ocount=0,
    prepend=False,
):
    """One FGMRES cycle of at most ``steps`` (traced, ``<= size`` static) columns.

    ``C`` (``(kc, n)``, first ``ccount`` rows live) are directions to project out (GCROT);
    ``outer = (Z, W)`` are LGMRES's augmentation vectors (first ``ocount`` live; ``W``
    holds ``lpsolve(A z)``).

    Returns ``(V, Z, H, B, y, res, j, ok)``: the basis ``V`` (``size + 1`` rows), the
    directions ``Z``, the unrotated Hessenberg ``H`` (``(size + 1, size)``), the
    projections ``B`` (``(kc, size)``), the solution ``y`` of the small problem (zero past
    column ``j``), the residual estimate and the last column ``j``; ``ok`` is False where
    SciPy raises ``LinAlgError`` (a non-finite ``R[j, j]``).
    """
    dtype = v0.dtype
    real = real_dtype(dtype)
    eps = jnp.finfo(real).eps
    V = basis(v0, size + 1).at[0].set(v0)
    Z = basis(v0, size)
    H = jnp.zeros((size + 1, size), dtype)
    R = jnp.zeros((size + 1, size), dtype)
    kc = 0 if C is None else C.shape[0]
    B = jnp.zeros((kc, size), dtype)
    g = jnp.zeros((size + 1,), dtype).at[0].set(1)
    cs = jnp.zeros((size,), real)
    sn = jnp.zeros((size,), dtype)

    def cond(s):
        j, stop = s[0], s[1]
        return (j < steps) & ~stop

    def body(s):
        j, _, V, Z, H, R, B, g, cs, sn, _ = s
        if outer is not None:
            Zo, Wo = outer
            if prepend:
                is_outer = j < ocount
                oi = jnp.minimum(j, Zo.shape[0] - 1)
                vi = jnp.where(j == ocount, 0, j)
            else:
                is_outer = j >= steps - ocount
                oi = jnp.clip(j - (steps - ocount), 0, Zo.shape[0] - 1)
                vi = j
            z_new = rpsolve(V[vi]).astype(dtype)
            z = jnp.where(is_outer, Zo[oi], z_new)
            w = lax.cond(
                is_outer, lambda: Wo[oi], lambda: lpsolve(A(z).astype(dtype)).astype(dtype)
            )
        else:
            z = rpsolve(V[j]).astype(dtype)
            w = lpsolve(A(z).astype(dtype)).astype(dtype)
        w_norm = norm(w)
        if kc:

            def proj(i, carry):
                w, B = carry
                alpha = vdot(C[i], w)
                alpha = jnp.where(i < ccount, alpha, 0)
                return w - alpha * C[i], B.at[i, j].set(alpha)

            w, B = lax.fori_loop(0, kc, proj, (w, B))

        def gs(i, carry):
            w, h = carry
            t = vdot(V[i], w)
            return w - t * V[i], h.at[i].set(t)

        w, h = lax.fori_loop(0, j + 1, gs, (w, jnp.zeros((size + 1,), dtype)))
        hn = norm(w)
        h = h.at[j + 1].set(hn.astype(dtype))
        inv = 1 / hn
        w = jnp.where(jnp.isfinite(inv), w * inv, w)
        breakdown = ~(hn > eps * w_norm)
        V = V.at[j + 1].set(w)
        Z = Z.at[j].set(z)
        H = H.at[:, j].set(h)

        def rot(k, h):
            c, s_ = cs[k], sn[k]
            n0, n1 = h[k], h[k + 1]
            return h.at[k].set(c * n0 + s_ * n1).at[k + 1].set(-jnp.conj(s_) * n0 + c * n1)

        h = lax.fori_loop(0, j, rot, h)
        c, s_, mag = lartg(h[j], h[j + 1])
        cs, sn = cs.at[j].set(c), sn.at[j].set(s_)
        R = R.at[:, j].set(h.at[j].set(mag).at[j + 1].set(0))
        g = g.at[j + 1].set(-jnp.conj(s_) * g[j]).at[j].set(c * g[j])
        res = jnp.abs(g[j + 1])
        stop = (res < atol) | breakdown
        return j + 1, stop, V, Z, H, R, B, g, cs, sn, res

    init = (jnp.int32(0), jnp.bool_(False), V, Z, H, R, B, g, cs, sn, jnp.asarray(jnp.nan, real))
    nj, _, V, Z, H, R, B, g, _, _, res = lax.while_loop(cond, body, init)
    j = nj - 1
    ok = jnp.isfinite(R[j, j])
    idx = jnp.arange(size)

    def back(i, y):
        k = j - i
        yk = y[k] / R[k, k]
        y = y.at[k].set(yk)
        return jnp.where(idx < k, y - yk * R[:size, k], y)

    y = lax.fori_loop(0, j + 1, back, jnp.where(idx <= j, g[:size], 0))
    return V, Z, H, B, y, res, j, ok


def hessenberg_apply(H, y):
    """``H @ y`` for the small ``(size + 1, size)`` Hessenberg matrix (replicated)."""
    return jnp.sum(H * y[None, :], axis=1)


def stacked_pairs(pairs, optional: int):
    """SciPy's in/out list of vector pairs as two ``(p, n)`` stacks and a mask: member
    ``optional`` (0 or 1) may be ``None`` (zeros stand in; the mask says where it is
    given). Returns ``(firsts, seconds, given)``."""
    required = [jnp.asarray(p[1 - optional]) for p in pairs]
    other = [
        jnp.zeros_like(v) if p[optional] is None else jnp.asarray(p[optional])
        for p, v in zip(pairs, required, strict=True)
    ]
    given = jnp.array([p[optional] is not None for p in pairs])
    stacks = (jnp.stack(required), jnp.stack(other))
    return (*(stacks if optional == 1 else stacks[::-1]), given)


def recycle(Z, count, new, append, limit):
    """SciPy's list of kept vectors after ``if append: vs.append(new)`` and then
    ``del vs[0]`` while ``len(vs) > limit``, on a fixed ``(cap, n)`` buffer whose first
    ``count`` rows are the list, oldest first. Returns ``(Z, count)``."""
    cap = Z.shape[0]
    total = count + jnp.asarray(append, jnp.int32)
    keep = jnp.minimum(total, limit).astype(jnp.int32)
    rows = jnp.concatenate([Z, jnp.zeros_like(Z[:1])]).at[count].set(new)
    at = jnp.arange(cap)
    taken = jnp.take(rows, at + (total - keep), axis=0, mode="clip")
    return jnp.where((at < keep)[:, None], taken, 0), keep
