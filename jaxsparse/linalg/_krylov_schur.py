"""The restarted Krylov–Schur kernel behind ``eigsh``, ``eigs`` and ``svds``, with locking.

Why locking: with full re-orthogonalisation, the Krylov space of one start vector ``v0``
meets each eigenspace in a single direction (the projection of ``v0`` onto it), so an
exactly repeated eigenvalue is found once. ARPACK usually finds the further copies
through round-off; we look for them on purpose, in *rounds*:

- Round 0 is plain Krylov–Schur for the ``k`` wanted pairs.
- When a round's wanted pairs have converged, they are locked: the restart keeps their
  ``k`` Schur vectors, drops their (negligible) residuals, and continues from a fresh
  vector instead of the residual vector. That vector is random (for the copies, which
  ``v0`` cannot reach) plus the Ritz vectors the new round wants beyond the locked ones
  (so it does not start from scratch), made ``B``-orthogonal to the locked vectors. The
  result is again a Krylov–Schur decomposition, so the same restarts, Rayleigh–Ritz
  steps and convergence test carry on, the locked vectors among the basis.
- A later round wants the ``k`` locked pairs plus the best one of their complement (the
  best two for ``'BE'``, one at each end), so it ends only once the complement's best
  has converged: a missing copy is more wanted than the ``k``-th locked pair and takes
  its place. A round whose wanted values hold no more copies of any value than the last
  round's (values within ``sqrt(tol)`` times the largest Ritz value count as equal) ends
  the search; at most ``k + 1`` rounds, each with up to ``maxiter`` restarts. If a later
  round does not converge, the last converged round's pairs are returned.

Rounds need room beyond the wanted pairs: ``ncv >= k + 3`` (``k + 4`` for both ends with
``'BE'``); with less, there is only round 0. Everything is one ``lax.while_loop`` with a
traced round counter (a loop of loops takes XLA markedly longer to compile).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from ._operator import is_callable_operator

_WHICH_H = ("LM", "SM", "LA", "SA", "BE")
_WHICH_NH = ("LM", "SM", "LR", "SR", "LI", "SI")
_WHICH_ALL = ("LM", "SM", "LA", "SA", "BE", "LR", "SR", "LI", "SI")
_BE = _WHICH_ALL.index("BE")


def _order(theta: jax.Array, which: jax.Array, real_input: bool) -> jax.Array:
    """A permutation putting the most wanted Ritz values first. ``which`` is an index into
    ``_WHICH_ALL`` (a traced value: one compiled solver serves every ``which``)."""
    m = theta.shape[0]
    rank = jnp.argsort(jnp.argsort(theta.real)).astype(theta.real.dtype)
    # 'BE': high end first, alternating with the low end (distance from each end)
    be = jnp.minimum(2 * (m - 1 - rank), 2 * rank + 1)
    im = jnp.abs(theta.imag) if real_input else theta.imag
    keys = jnp.stack(
        [
            -jnp.abs(theta),
            jnp.abs(theta),
            -theta.real,
            theta.real,
            be,
            -theta.real,
            theta.real,
            -im,
            im,
        ]
    )
    return jnp.argsort(keys[which], stable=True)


def _random_vector(seed, n, dtype):
    """A cheap deterministic pseudo-random vector in (-1, 1) (a sine hash: compiles in
    no time, unlike ``jax.random``'s threefry, and needs no key)."""
    real = jnp.finfo(dtype).dtype
    i = jnp.arange(n, dtype=real)
    s = jnp.asarray(seed, real)

    def u(c):
        x = jnp.sin(i * 12.9898 + s * 78.233 + c) * 43758.5453
        return 2 * (x - jnp.floor(x)) - 1

    if jnp.issubdtype(dtype, jnp.complexfloating):
        return (u(0.0) + 1j * u(1.7)).astype(dtype)
    return u(0.0).astype(dtype)


def _bmat(bop, dtype, w):
    return w if bop is None else bop(w).astype(dtype)


def _copies_added(new, old, margin):
    """Whether ``new`` holds more copies of some value than ``old`` does (values within
    ``margin`` count as equal). Both hold ``k`` values, so this tells whether a round
    changed the wanted set, blind to round-off in the values found again."""
    same_new = jnp.abs(new[:, None] - new[None, :]) <= margin
    same_old = jnp.abs(new[:, None] - old[None, :]) <= margin
    return jnp.any(jnp.sum(same_new, axis=1) > jnp.sum(same_old, axis=1))


def krylov_schur(
    op,
    bop,
    v0,
    tol,
    maxiter,
    which,
    *,
    k: int,
    m: int,
    hermitian: bool,
    real_input: bool = True,
):
    """Restarted Arnoldi/Lanczos for the ``k`` most wanted eigenpairs of ``op``, repeated
    eigenvalues with all their copies (locking rounds: see the module docstring).

    ``op`` applies the operator, ``bop`` (or ``None``) the inner-product matrix ``B``;
    ``op`` must be ``B``-self-adjoint when ``hermitian``. ``maxiter`` bounds the restarts
    of each round. Returns ``(theta, X, converged, expansions)``: the ``k`` wanted Ritz
    values (most wanted first), their ``B``-normalised Ritz vectors, a convergence mask
    and the number of expansions done over all rounds.
    """
    n = v0.shape[0]
    dtype = v0.dtype
    real = jnp.finfo(dtype).dtype
    eps = jnp.finfo(dtype).eps
    eps23 = jnp.asarray(eps ** (2.0 / 3.0), real)
    eps75 = jnp.asarray(eps**0.75, real)
    tol = jnp.asarray(tol, real)
    tol = jnp.where(tol > 0, tol, eps)
    # eigenvalues closer than this (relative to the operator's norm) count as one value
    # when deciding whether a round found a new copy: round-off in converged values is
    # far smaller
    rel_margin = jnp.sqrt(tol)
    # a locking round wants the k locked pairs and the best of their complement (the two
    # best for 'BE', one at each end), and needs room to expand beyond them
    k2 = max(0, min(2, k, m - k - 2))
    rounds = k + 1 if k2 > 0 else 0  # each round but the last adds a copy: k + 1 is ample
    mrange = jnp.arange(m)

    def coeffs(V, w):  # V^H B w as a sum of products (sharding-friendly)
        bw = _bmat(bop, dtype, w)
        return jnp.sum(jnp.conj(V) * bw[:, None], axis=0)

    def bnorm(w):
        return jnp.sqrt(jnp.abs(jnp.sum(jnp.conj(w) * _bmat(bop, dtype, w))))

    def fresh(V, seed, extra=0):
        """A pseudo-random unit vector (plus ``extra``) ``B``-orthogonal to ``V``, or zero
        when ``V`` spans the whole space."""
        r = _random_vector(seed, n, dtype)
        r = r / bnorm(r) + extra
        r = r - V @ coeffs(V, r)
        r = r - V @ coeffs(V, r)
        rn = bnorm(r)
        return jnp.where(rn > jnp.sqrt(eps) * 1e-2, r / jnp.where(rn > 0, rn, 1), 0)

    def expand(V, H, start):
        def body(state):
            j, V, H = state
            w = op(V[:, j]).astype(dtype)
            wn0 = bnorm(w)
            h = coeffs(V, w)
            w = w - V @ h
            h2 = coeffs(V, w)
            w = w - V @ h2
            h = h + h2
            beta = bnorm(w)
            # an invariant subspace was found: continue from a fresh orthogonal direction
            brk = ~(beta > 64 * eps * wn0) | (beta == 0)
            vnext = lax.cond(brk, lambda: fresh(V, j + 1), lambda: w / jnp.where(beta > 0, beta, 1))
            h = h.at[j + 1].set(jnp.where(brk, 0, beta).astype(h.dtype))
            H = H.at[:, j].set(h.astype(H.dtype))
            V = V.at[:, j + 1].set(vnext.astype(dtype))
            return j + 1, V, H

        _, V, H = lax.while_loop(lambda s: s[0] < m, body, (jnp.asarray(start, jnp.int32), V, H))
        return V, H

    def ritz(H):
        Hm, r = H[:m, :m], H[m, :]
        if hermitian:
            Hm = (Hm + jnp.conj(Hm.T)) / 2
            theta, Y = jnp.linalg.eigh(Hm)
        else:
            theta, Y = jnp.linalg.eig(Hm)
        perm = _order(theta, which, real_input)
        theta, Y = theta[perm], Y[:, perm]
        res = jnp.abs(jnp.sum(r[:, None] * Y, axis=0))
        # ARPACK's test, with a floor: a dense eigensolver computes the last components of
        # Y only to ~eps * |H| / gap, so ARPACK's bare ``eps * |theta|`` is unreachable for
        # small, clustered eigenvalues (ARPACK gets it from its tridiagonal QR).
        anorm = jnp.max(jnp.abs(theta))
        conv = res <= jnp.maximum(tol * jnp.maximum(eps23, jnp.abs(theta)), eps75 * anorm)
        if hermitian:
            Q = Y.astype(dtype)
        else:
            Q = jnp.linalg.qr(Y)[0].astype(dtype)
        return theta, Y, Q, conv

    def restart(V, H, theta, Q, keep, lock, seed, nwant):
        """Keep the first ``keep`` Schur vectors (a mask: ``keep`` is traced). To lock,
        also drop their (converged, negligible) residuals and go on from a fresh vector
        instead of the residual vector: a new Krylov space in their complement. Its start
        is a random vector (for the copies) plus the Ritz vectors the new round wants
        beyond the locked ones (approximations the last round already made)."""
        kept = mrange < keep
        Qp = jnp.where(kept[None, :], Q, 0)
        if hermitian:
            S = jnp.diag(jnp.where(kept, theta, 0)).astype(H.dtype)
        else:
            S = (jnp.conj(Qp.T) @ H[:m, :m] @ Qp).astype(H.dtype)
        Vn = jnp.zeros_like(V).at[:, :m].set(V[:, :m] @ Qp)

        def start():
            nxt = jnp.where((mrange >= k) & (mrange < nwant), 1, 0).astype(Q.dtype)
            return fresh(Vn, seed, V[:, :m] @ (Q @ nxt))

        vnext = lax.cond(lock, start, lambda: V[:, m])
        rnext = jnp.where(lock, 0, H[m, :] @ Qp).astype(H.dtype)
        Vn = Vn.at[:, keep].set(vnext)
        Hn = jnp.zeros_like(H).at[:m, :m].set(S).at[keep, :].set(rnext)
        return Vn, Hn

    def body(s):
        # one expansion (from scratch the first time, else after a restart or a lock),
        # then the Rayleigh–Ritz step the next restart reuses; a round ends when its
        # wanted pairs have converged, and the next starts if it found a new copy
        it, it_r, r, lock, V, H, theta, Q, th_out, X_out, conv_out, _ = s
        first = it == 0
        nwant = jnp.where(r == 0, k, k + jnp.where(which == _BE, k2, 1))
        keep = jnp.where(lock, k, nwant + (m - nwant) // 2)
        V, H = lax.cond(
            first, lambda: (V, H), lambda: restart(V, H, theta, Q, keep, lock, 7919 + r, nwant)
        )
        V, H = expand(V, H, jnp.where(first, 0, keep))
        theta, Y, Q, conv = ritz(H)
        it_r = jnp.where(lock, 0, it_r) + 1
        done = jnp.all(conv | (mrange >= nwant))
        found = (r == 0) | _copies_added(theta[:k], th_out, rel_margin * jnp.max(jnp.abs(theta)))
        lock = done & found & (r < rounds)
        # the answer: round 0's pairs, converged or not; later, a converged round's (an
        # unconverged later round leaves the last converged answer)
        take = done | (r == 0)
        X = V[:, :m] @ Y[:, :k].astype(dtype)
        th_out = jnp.where(take, theta[:k], th_out)
        X_out = jnp.where(take, X, X_out)
        conv_out = jnp.where(take, conv[:k], conv_out)
        go = lock | (~done & (it_r < maxiter))
        return it + 1, it_r, r + lock, lock, V, H, theta, Q, th_out, X_out, conv_out, go

    theta_dtype = real if hermitian else jnp.result_type(dtype, 1j)
    V = jnp.zeros((n, m + 1), dtype).at[:, 0].set(v0 / bnorm(v0))
    zero = jnp.zeros((), jnp.int32)
    init = (
        zero,
        zero,
        zero,
        jnp.zeros((), bool),
        V,
        jnp.zeros((m + 1, m), dtype),
        jnp.zeros((m,), theta_dtype),
        jnp.zeros((m, m), dtype),
        jnp.zeros((k,), theta_dtype),
        jnp.zeros((n, k), dtype),
        jnp.zeros((k,), bool),
        jnp.ones((), bool),
    )
    out = lax.while_loop(lambda s: s[-1], body, init)
    it, th_out, X_out, conv_out = out[0], out[8], out[9], out[10]
    return th_out, X_out, conv_out, it


_krylov_schur_jit = jax.jit(krylov_schur, static_argnames=("k", "m", "hermitian", "real_input"))


def run_krylov_schur(op, bop, v0, tol, maxiter, *, user: bool | None = None, **static):
    """:func:`krylov_schur` jitted when the operators are matrices (one executable
    per shape), traced afresh when they involve a user's function or a host callback
    (``user``: default, whether ``op`` or ``bop`` wraps a function we cannot key a cache
    on)."""
    if user is None:
        user = is_callable_operator(op) or (bop is not None and is_callable_operator(bop))
    fn = krylov_schur if user else _krylov_schur_jit
    static = dict(static)
    which = jnp.asarray(_WHICH_ALL.index(static.pop("which")), jnp.int32)
    return fn(op, bop, v0, tol, maxiter, which, **static)
