"""``OdeResult``: what ``solve_ivp`` returns, with SciPy's field names."""

from __future__ import annotations

import dataclasses
from typing import Any

import jax

from .._pytree import register_pytree_dataclass
from ._dense import DenseSolution

MESSAGES = {
    "finished": "The solver successfully reached the end of the integration interval.",
    "too_small": "Required step size is less than spacing between numbers.",
    "nan_step": "The step size became NaN: fun returned a non-finite value while the "
                "first step was being chosen.",
}


def max_steps_message(max_steps: int) -> str:
    return (f"Reached max_steps={max_steps} accepted steps before the end of the "
            "integration interval; raise max_steps (the capacity of the compiled output "
            "buffers).")


@register_pytree_dataclass
@dataclasses.dataclass(frozen=True)
class OdeResult:
    """The result of :func:`solve_ivp`, with the fields of SciPy's ``OdeResult``.

    Attributes:
        t: times, ``(n_points,)``: every step (``t_eval=None``) or the ``t_eval`` times.
        y: the solution at ``t``, ``(n, n_points)``.
        sol: a :class:`DenseSolution` (``dense_output=True``), else ``None``.
        t_events, y_events: ``None`` (events are not supported).
        nfev: evaluations of ``fun``, counted as SciPy counts them.
        njev, nlu: always 0 (explicit methods).
        status: 0 (reached the end of the span) or -1 (failed).
        message: why it stopped; ``None`` under ``jit``, where the status is traced.
        success: ``status >= 0``.

    It is a pytree (``message``, ``njev``, ``nlu`` and the event fields are static), so
    it can be returned from a jitted function. ``result["t"]`` works as on SciPy's.

    SciPy equivalent: ``scipy.integrate._ivp.ivp.OdeResult``.
    """

    t: jax.Array
    y: jax.Array
    sol: DenseSolution | None
    nfev: Any
    status: Any
    success: Any
    message: str | None = dataclasses.field(default=None, metadata=dict(static=True))
    njev: int = dataclasses.field(default=0, metadata=dict(static=True))
    nlu: int = dataclasses.field(default=0, metadata=dict(static=True))
    t_events: None = dataclasses.field(default=None, metadata=dict(static=True))
    y_events: None = dataclasses.field(default=None, metadata=dict(static=True))

    def __getitem__(self, name: str):
        if name not in self.keys():
            raise KeyError(name)
        return getattr(self, name)

    def keys(self) -> list[str]:
        return [f.name for f in dataclasses.fields(self)]
