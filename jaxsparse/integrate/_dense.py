"""``DenseSolution``: the continuous solution, SciPy's ``OdeSolution`` on device arrays.

Why one object over stacked arrays rather than SciPy's list of per-step interpolant
objects: evaluating at ``m`` points is then one ``searchsorted`` and one gathered
polynomial evaluation, jit-able and shardable; and the same object serves both eager
results (buffers trimmed to the steps taken) and results under ``jit`` (buffers of the
static capacity ``max_steps``, with ``n_segments`` a traced count; times past the last
step repeat it, so the search never lands in the padding).
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp

from .._pytree import register_pytree_dataclass
from ._step import interpolate
from ._tableau import tableau


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True)
class DenseSolution:
    """The interpolated solution of ``solve_ivp(..., dense_output=True)``.

    ``sol(t)`` evaluates the solution at a scalar ``t`` (shape ``(n,)``) or at a 1-D
    array of times (shape ``(n, m)``), on the interpolant of the step containing each
    time, exactly as SciPy's ``OdeSolution`` chooses it (at a step boundary, the earlier
    step; outside the span, the first or last step's polynomial, extrapolated).

    Attributes:
        ts: step boundaries, ``(n_segments + 1,)``, monotone in the direction of
            integration (SciPy's ``OdeSolution.ts``).
        y_old: the state at the start of each step, ``(n_segments, n)``.
        coefficients: each step's interpolant, ``(n_segments, k, n)``.
        n_segments: number of steps, an int32 scalar array.
        method: ``"RK23"``, ``"RK45"`` or ``"DOP853"`` (selects the interpolant formula).

    SciPy equivalent: ``scipy.integrate.OdeSolution``.
    """

    ts: jax.Array
    y_old: jax.Array
    coefficients: jax.Array
    n_segments: jax.Array
    method: str = dataclasses.field(metadata=dict(static=True))

    @property
    def t_min(self) -> jax.Array:
        return jnp.minimum(self.ts[0], self.ts[self.n_segments])

    @property
    def t_max(self) -> jax.Array:
        return jnp.maximum(self.ts[0], self.ts[self.n_segments])

    def segment(self, t: jax.Array) -> jax.Array:
        """The index of the step whose interpolant serves ``t``.

        SciPy searches the ascending times with ``side="left"`` (descending: the
        reversed times with ``side="right"``); searching ``direction * ts`` with
        ``side="left"`` picks the same step in both directions.
        """
        direction = jnp.where(self.ts[self.n_segments] >= self.ts[0], 1, -1)
        keys = direction * self.ts
        index = jnp.searchsorted(keys, direction * t, side="left") - 1
        return jnp.clip(index, 0, jnp.maximum(self.n_segments - 1, 0))

    def __call__(self, t) -> jax.Array:
        t = jnp.asarray(t, dtype=self.ts.dtype)
        if t.ndim > 1:
            raise ValueError(f"t must be a scalar or 1-D, got shape {t.shape}")
        if not isinstance(self.n_segments, jax.core.Tracer) and int(self.n_segments) == 0:
            raise ValueError("the solve failed before its first step: there is no "
                             "interpolant to evaluate")
        return _evaluate(self, t)


@jax.jit
def _evaluate(sol: DenseSolution, t: jax.Array) -> jax.Array:
    """One compiled program per (method, shapes): eagerly, the dozen small operations
    of an evaluation would each be dispatched (and compiled) on their own."""
    seg = sol.segment(t)
    t_old = sol.ts[seg]
    h = sol.ts[seg + 1] - t_old
    y = interpolate(tableau(sol.method), t_old, h, sol.y_old[seg], sol.coefficients[seg], t)
    return y if t.ndim == 0 else y.T
