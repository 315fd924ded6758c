"""The compiled integration: one ``lax.while_loop`` whose iteration is one step attempt.

SciPy nests two loops (steps, and inside each the attempts until one is accepted). Here
they are flattened into one loop over attempts, carrying a ``rejected`` flag: the flag
tells an attempt whether it starts a new step (then the step size is clipped to
``[min_step, max_step]``, as at the top of SciPy's ``_step_impl``) or retries one (then
it may not grow after acceptance). The loop stops when the end is reached, a step would
be smaller than ``min_step``, or the output buffers are full.

Outputs have static sizes so that the loop compiles once: ``max_steps + 1`` step times
and states (kept when ``t_eval`` is ``None`` or a dense output is requested),
``max_steps`` interpolants (dense output), and one row per ``t_eval`` time. A rejected
attempt writes into the slot after the last accepted step; that slot is overwritten by
the next accepted step, so no attempt reads the buffers back.

Forward-mode derivatives (``jvp``, ``jacfwd``) go through the loop with the step
sizes held fixed: the controller's state ``h_abs`` is under ``stop_gradient``, so a
tangent is the derivative of the discrete solution along the step sequence taken (plus
the motion of ``t_bound``, which moves the last step's end), not the noise of the
controller's reaction to it.

Values at ``t_eval`` come from each accepted step's interpolant, as in SciPy, filled by
an inner ``while_loop`` over the times the step covers. DOP853's interpolant costs three
evaluations of ``fun``; like SciPy, we pay (and count) them only on steps that need it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import jax
import jax.numpy as jnp
from jax import lax

from ._controller import accepted_factor, min_step, rejected_factor, select_initial_step
from ._step import dense_coefficients, error_norm, interpolate, step
from ._tableau import Tableau

# Internal status codes (``solve_ivp`` maps every failure to SciPy's -1).
RUNNING = 1
FINISHED = 0
TOO_SMALL_STEP = -1
MAX_STEPS = -2
NAN_STEP = -3


class Config(NamedTuple):
    """The static part of a solve: everything that changes the compiled program."""

    tableau: Tableau
    max_steps: int
    keep_steps: bool  # record every step's time and state
    dense_output: bool  # record every step's interpolant
    n_eval: int  # len(t_eval), 0 without t_eval
    first_step_given: bool


class Outputs(NamedTuple):
    status: jax.Array  # int32 code above
    n_steps: jax.Array  # accepted steps
    nfev: jax.Array
    n_eval_done: jax.Array  # t_eval times filled
    ts: jax.Array | None  # (max_steps + 1,)
    ys: jax.Array | None  # (max_steps + 1, n)
    coefficients: jax.Array | None  # (max_steps, k, n)
    y_eval: jax.Array | None  # (n_eval, n)


class _Carry(NamedTuple):
    t: jax.Array
    y: jax.Array
    f: jax.Array
    h_abs: jax.Array
    rejected: jax.Array
    status: jax.Array
    n_steps: jax.Array
    nfev: jax.Array
    i_eval: jax.Array
    ts: jax.Array | None
    ys: jax.Array | None
    coefficients: jax.Array | None
    y_eval: jax.Array | None


def _buffer(like: jax.Array, rows: tuple[int, ...]) -> jax.Array:
    """Zeros of shape ``rows + like.shape``, sharded like ``like`` along its axis (a
    broadcast keeps the state's sharding; ``jnp.zeros`` would replicate it)."""
    return jnp.broadcast_to(jnp.zeros_like(like), rows + like.shape)


def integrate(fun: Callable, config: Config, t0, t_bound, y0, t_eval, rtol, atol,
              max_step, first_step, mask) -> Outputs:
    """Integrate ``y' = fun(t, y)`` from ``t0`` to ``t_bound`` (traced; see module doc).

    ``t0``, ``t_bound``, ``max_step``, ``first_step`` are time-dtype scalars; ``rtol``
    and ``atol`` are in the state's real dtype; ``t_eval`` is sorted in the direction of
    integration (or ``None``).
    """
    tab = config.tableau
    exponent = -1.0 / (tab.error_order + 1)
    direction = jnp.where(t_bound == t0, 1.0, jnp.sign(t_bound - t0)).astype(t0.dtype)

    f0 = fun(t0, y0)
    if config.first_step_given:
        h_abs, nfev = first_step, jnp.int32(1)
    else:
        h_abs, evaluated = select_initial_step(
            fun, t0, y0, t_bound, max_step, f0, direction, tab.error_order, rtol, atol, mask)
        nfev = 1 + evaluated.astype(jnp.int32)

    ts = ys = coefficients = y_eval = None
    if config.keep_steps:
        ts = jnp.zeros((config.max_steps + 1,), t0.dtype).at[0].set(t0)
        ys = _buffer(y0, (config.max_steps + 1,)).at[0].set(y0)
    if config.dense_output:
        coefficients = _buffer(y0, (config.max_steps, tab.n_coefficients))
    if config.n_eval:
        y_eval = _buffer(y0, (config.n_eval,))

    def body(c: _Carry) -> _Carry:
        # SciPy's ``step()``: an empty span is one zero-length step, taken without
        # calling ``_step_impl`` (so without evaluating ``fun``).
        trivial = c.t == t_bound
        smallest = min_step(c.t, direction)
        clipped = jnp.where(c.h_abs > max_step, max_step,
                            jnp.where(c.h_abs < smallest, smallest, c.h_abs))
        h_abs = jnp.where(c.rejected, c.h_abs, clipped)
        too_small = (h_abs < smallest) & ~trivial
        nan_step = jnp.isnan(h_abs) & ~trivial

        t_new = c.t + h_abs * direction
        t_new = jnp.where(direction * (t_new - t_bound) > 0, t_bound, t_new)
        h = t_new - c.t
        y_new, f_new, K = step(fun, tab, c.t, c.y, c.f, h)
        scale = atol + jnp.maximum(jnp.abs(c.y), jnp.abs(y_new)) * rtol
        err = error_norm(tab, K, h, scale, mask)

        failed = too_small | nan_step
        accept = trivial | ((err < 1) & ~failed)
        habs_step = jnp.abs(h)
        factor = jnp.where(accept, accepted_factor(err, exponent, c.rejected),
                           rejected_factor(err, exponent)).astype(habs_step.dtype)
        h_next = habs_step * factor
        y_new = jnp.where(trivial, c.y, y_new)
        f_new = jnp.where(trivial, c.f, f_new)
        nfev = c.nfev + jnp.where(trivial | failed, 0, tab.n_stages).astype(jnp.int32)

        # The step's interpolant, when someone needs it: a dense output, or t_eval
        # times inside this step. DOP853's costs three more evaluations, so build it
        # under ``cond`` and count them only when built (never for a zero-length step,
        # whose interpolant SciPy takes to be the constant ``y``).
        def eval_due(i):
            return (i < config.n_eval) & (direction * (t_eval[jnp.minimum(
                i, config.n_eval - 1)] - t_new) <= 0) if config.n_eval else False

        need = accept & (config.dense_output | eval_due(c.i_eval))
        Q = None
        if config.dense_output or config.n_eval:
            def build(_):
                return dense_coefficients(fun, tab, c.t, c.y, y_new, f_new, K, h)

            shape = jax.eval_shape(build, None)
            zeros = _buffer(c.y, (shape.shape[0],)).astype(shape.dtype)
            if tab.n_extra_stages:
                Q = lax.cond(need & ~trivial, build, lambda _: zeros, None)
                nfev = nfev + jnp.where(need & ~trivial, tab.n_extra_stages, 0).astype(
                    jnp.int32)
            else:
                Q = jnp.where(trivial, 0, build(None))

        slot = c.n_steps  # the step being attempted is number n_steps + 1
        ts, ys, coeffs, y_ev, i_eval = c.ts, c.ys, c.coefficients, c.y_eval, c.i_eval
        if config.keep_steps:
            ts = ts.at[slot + 1].set(t_new)
            ys = ys.at[slot + 1].set(y_new)
        if config.dense_output:
            coeffs = coeffs.at[slot].set(Q)
        if config.n_eval:
            def fill_cond(state):
                i, _ = state
                return accept & eval_due(i)

            def fill_body(state):
                i, buf = state
                value = interpolate(tab, c.t, h, c.y, Q, t_eval[i])
                return i + 1, buf.at[i].set(value)

            i_eval, y_ev = lax.while_loop(fill_cond, fill_body, (i_eval, y_ev))

        n_steps = c.n_steps + accept.astype(jnp.int32)
        t = jnp.where(accept, t_new, c.t)
        finished = accept & (direction * (t - t_bound) >= 0)
        status = jnp.select(
            [finished, too_small, nan_step, accept & (n_steps >= config.max_steps)],
            [FINISHED, TOO_SMALL_STEP, NAN_STEP, MAX_STEPS], RUNNING).astype(jnp.int32)
        return _Carry(
            t=t,
            y=jnp.where(accept, y_new, c.y),
            f=jnp.where(accept, f_new, c.f),
            h_abs=lax.stop_gradient(jnp.where(failed, h_abs, h_next)),
            rejected=~accept,
            status=status,
            n_steps=n_steps,
            nfev=nfev,
            i_eval=i_eval,
            ts=ts, ys=ys, coefficients=coeffs, y_eval=y_ev,
        )

    init = _Carry(
        t=t0, y=y0, f=f0, h_abs=lax.stop_gradient(h_abs.astype(t0.dtype)),
        rejected=jnp.bool_(False),
        status=jnp.int32(RUNNING), n_steps=jnp.int32(0), nfev=jnp.asarray(nfev, jnp.int32),
        i_eval=jnp.int32(0), ts=ts, ys=ys, coefficients=coefficients, y_eval=y_eval,
    )
    out = lax.while_loop(lambda c: c.status == RUNNING, body, init)
    return Outputs(status=out.status, n_steps=out.n_steps, nfev=out.nfev,
                   n_eval_done=out.i_eval, ts=out.ts, ys=out.ys,
                   coefficients=out.coefficients, y_eval=out.y_eval)
