"""One Runge–Kutta step: the stages, the new state, its error norm, its interpolant.

The stages are kept as a Python list of state-shaped arrays rather than one stacked
``(n_stages + 1, n)`` array: every combination ``sum_j a_j K_j`` is then a chain of
elementwise multiply-adds (zero coefficients skipped), which keeps a sharded state
sharded and needs no matrix product over the stage axis. The loop over stages is a
Python loop, unrolled at trace time (at most 16 stages).
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from ._controller import rms, squared_sum
from ._tableau import Tableau


def combine(coefficients, K: list[jax.Array]) -> jax.Array:
    """``sum_j coefficients[j] * K[j]`` over the nonzero coefficients."""
    total = None
    for c, k in zip(coefficients, K, strict=False):
        if c == 0.0:
            continue
        term = float(c) * k
        total = term if total is None else total + term
    return jnp.zeros_like(K[0]) if total is None else total


def step(fun: Callable, tab: Tableau, t, y, f, h) -> tuple[jax.Array, jax.Array, list]:
    """SciPy's ``rk_step``: ``(y_new, f_new, K)`` with ``K[-1] == f_new``.

    ``h`` is the signed step in the time dtype; it enters the state arithmetic in the
    state's real dtype.
    """
    hy = h.astype(jnp.abs(y).dtype)
    K = [f]
    for s in range(1, tab.n_stages):
        dy = combine(tab.A[s, :s], K) * hy
        K.append(fun(t + tab.C[s] * h, y + dy))
    y_new = y + hy * combine(tab.B, K)
    f_new = fun(t + h, y_new)
    K.append(f_new)
    return y_new, f_new, K


def error_norm(tab: Tableau, K: list, h, scale, mask) -> jax.Array:
    """The scaled RMS error of the step (SciPy's ``_estimate_error_norm``).

    RK23/RK45: ``norm(h * K.T @ E / scale)``. DOP853 combines its 5th- and 3rd-order
    estimates as Hairer's code does: ``|h| e5² / sqrt((e5² + 0.01 e3²) n)``.
    """
    real = scale.dtype
    habs = jnp.abs(h).astype(real)
    if tab.E is not None:
        return rms(combine(tab.E, K) * habs / scale, mask)
    e5 = squared_sum(combine(tab.E5, K) / scale, mask)
    e3 = squared_sum(combine(tab.E3, K) / scale, mask)
    n = scale.size if mask is None else jnp.sum(mask, dtype=jnp.int32)
    denom = e5 + 0.01 * e3
    both_zero = (e5 == 0) & (e3 == 0)
    safe = jnp.where(both_zero, 1, denom * n)
    return jnp.where(both_zero, 0.0, habs * e5 / jnp.sqrt(safe)).astype(real)


def dense_coefficients(fun: Callable, tab: Tableau, t_old, y_old, y_new, f_new, K, h):
    """The interpolant of the step ``t_old -> t_old + h`` as a ``(k, n)`` stack.

    RK23/RK45: rows of SciPy's ``Q.T = (K.T @ P).T``. DOP853: SciPy's ``F``, which
    costs three more evaluations of ``fun`` (``tab.n_extra_stages``).
    """
    if tab.interpolant == "poly":
        return jnp.stack([combine(tab.P[:, j], K) for j in range(tab.P.shape[1])])
    hy = h.astype(jnp.abs(y_old).dtype)
    K = list(K)
    for a, c in zip(tab.A_extra, tab.C_extra, strict=True):
        s = len(K)
        dy = combine(a[:s], K) * hy
        K.append(fun(t_old + c * h, y_old + dy))
    f_old = K[0]
    delta_y = y_new - y_old
    rows = [delta_y, hy * f_old - delta_y, 2 * delta_y - hy * (f_new + f_old)]
    rows += [hy * combine(d, K) for d in tab.D]
    return jnp.stack(rows)


def interpolate(tab: Tableau, t_old, h, y_old, Q, t) -> jax.Array:
    """The step's interpolant at ``t``: ``y_old`` plus SciPy's polynomial in
    ``x = (t - t_old) / h``. A zero-length step (empty span) gives ``y_old``."""
    real = jnp.abs(y_old).dtype
    x = jnp.where(h == 0, 0.0, (t - t_old) / jnp.where(h == 0, 1.0, h)).astype(real)
    x = x[..., None]  # broadcast against the state axis
    if tab.interpolant == "poly":
        y = jnp.zeros_like(y_old)
        p = jnp.ones_like(x)
        for j in range(Q.shape[-2]):
            p = p * x
            y = y + Q[..., j, :] * p
        return y_old + h.astype(real)[..., None] * y
    y = jnp.zeros_like(y_old)
    for i, j in enumerate(reversed(range(Q.shape[-2]))):
        y = (y + Q[..., j, :]) * (x if i % 2 == 0 else 1 - x)
    return y + y_old
