"""SciPy's step-size control: error norms, the first step, the accept/reject factor.

Each function is the traced twin of a piece of ``scipy.integrate._ivp`` (``common.norm``,
``common.select_initial_step``, ``RungeKutta._step_impl``), rewritten so that
(1) every operation on a state vector is elementwise or a full reduction, so a state
sharded over a mesh stays sharded, and (2) Python's ``min``/``max`` semantics survive
where SciPy relies on them with NaN (``max(0.2, nan)`` is 0.2 in Python but
``jnp.maximum(0.2, nan)`` is NaN).

``mask`` (``None`` or a boolean array like the state) restricts the norms to the real
entries of a padded layout vector, so that a sharded run takes the same steps as the
unsharded one.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

SAFETY = 0.9
MIN_FACTOR = 0.2  # the most a rejected step shrinks
MAX_FACTOR = 10.0  # the most an accepted step grows


def squared_sum(x: jax.Array, mask: jax.Array | None) -> jax.Array:
    """``sum(|x|**2)`` over the real entries, as a real scalar."""
    sq = jnp.real(x) ** 2 + jnp.imag(x) ** 2 if jnp.iscomplexobj(x) else x * x
    if mask is not None:
        sq = jnp.where(mask, sq, 0)
    return jnp.sum(sq)


def count(x: jax.Array, mask: jax.Array | None) -> jax.Array | int:
    """How many entries the RMS norm divides by (``x.size`` in SciPy)."""
    return x.size if mask is None else jnp.sum(mask, dtype=jnp.int32)


def rms(x: jax.Array, mask: jax.Array | None) -> jax.Array:
    """SciPy's ``norm``: ``np.linalg.norm(x) / sqrt(x.size)``."""
    return jnp.sqrt(squared_sum(x, mask) / count(x, mask))


def python_min(a, b):
    """``min(a, b)`` as Python computes it: ``a`` unless ``b < a`` (so NaN ``a`` stays)."""
    return jnp.where(b < a, b, a)


def python_max(a, b):
    """``max(a, b)`` as Python computes it: ``a`` unless ``b > a`` (so NaN ``b`` loses)."""
    return jnp.where(b > a, b, a)


def min_step(t: jax.Array, direction: jax.Array) -> jax.Array:
    """SciPy's smallest step from ``t``: ten times the spacing of floats at ``t``.

    A property of the float format, not of the solution: no derivative flows through it
    (``nextafter`` has no differentiation rule)."""
    t = jax.lax.stop_gradient(t)
    return 10 * jnp.abs(jnp.nextafter(t, direction * jnp.inf) - t)


def select_initial_step(fun, t0, y0, t_bound, max_step, f0, direction, order, rtol, atol,
                        mask):
    """SciPy's ``select_initial_step`` (Hairer, Nørsett & Wanner, II.4).

    Returns ``(h_abs, evaluated)``: the first step, and whether ``fun`` was evaluated
    (SciPy skips the evaluation, and so does not count it in ``nfev``, when the span is
    empty).
    """
    real = jnp.abs(y0).dtype
    interval_length = jnp.abs(t_bound - t0)
    scale = atol + jnp.abs(y0) * rtol
    d0 = rms(y0 / scale, mask)
    d1 = rms(f0 / scale, mask)
    h0 = jnp.where((d0 < 1e-5) | (d1 < 1e-5), 1e-6, 0.01 * d0 / d1)
    h0 = python_min(h0.astype(interval_length.dtype), interval_length)
    y1 = y0 + (h0 * direction).astype(real) * f0
    f1 = fun(t0 + h0 * direction, y1)
    d2 = rms((f1 - f0) / scale, mask) / h0.astype(real)
    d_max = python_max(d1, d2)
    h1 = jnp.where((d1 <= 1e-15) & (d2 <= 1e-15),
                   python_max(1e-6, h0 * 1e-3),
                   (0.01 / d_max).astype(h0.dtype) ** (1 / (order + 1)))
    h = python_min(python_min(python_min(100 * h0, h1), interval_length), max_step)
    empty = interval_length == 0
    return jnp.where(empty, 0.0, h).astype(interval_length.dtype), ~empty


def accepted_factor(error_norm, exponent, rejected_before):
    """How much an accepted step grows: ``min(10, 0.9 * err**exponent)``, 10 at zero
    error, and at most 1 right after a rejection (SciPy does not grow a step it just
    had to shrink)."""
    grown = python_min(MAX_FACTOR, SAFETY * error_norm ** exponent)
    factor = jnp.where(error_norm == 0, MAX_FACTOR, grown)
    return jnp.where(rejected_before, python_min(1.0, factor), factor)


def rejected_factor(error_norm, exponent):
    """How much a rejected step shrinks: ``max(0.2, 0.9 * err**exponent)``; a NaN
    error shrinks it by 0.2, as in SciPy."""
    return python_max(MIN_FACTOR, SAFETY * error_norm ** exponent)
