"""``rk_steps``: a fixed number of Runge–Kutta steps, for reverse-mode gradients.

Why a separate function: ``solve_ivp``'s loop has a data-dependent trip count
(``lax.while_loop``), which ``jax.grad`` cannot reverse. With the step size and the
number of steps fixed, the loop is a ``lax.scan``, which ``grad``, ``jvp``, ``vmap``
and ``jit`` all go through. The step is the same code as ``solve_ivp``'s (same tables,
same stage arithmetic), without the error estimate. A typical use: run ``solve_ivp``
once to learn a step size that meets the tolerance, then differentiate ``rk_steps``.
"""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
from jax import lax
from jax.typing import ArrayLike

from . import _validate
from ._solve_ivp import _right_hand_side
from ._step import step
from ._tableau import tableau


def rk_steps(
    fun: Callable,
    t0: ArrayLike,
    y0: ArrayLike,
    h: ArrayLike,
    n_steps: int,
    method: str = "RK45",
    args: tuple | None = None,
) -> tuple[jax.Array, jax.Array]:
    """Take ``n_steps`` steps of size ``h`` of an explicit Runge–Kutta method.

    Args:
        fun: the right-hand side ``fun(t, y, *args)`` (traced, as in :func:`solve_ivp`).
        t0: the initial time.
        y0: the initial state, 1-D, real or complex; may be sharded.
        h: the step size (negative integrates backwards); may be traced.
        n_steps: the number of steps (a static int).
        method: ``"RK23"``, ``"RK45"`` (default) or ``"DOP853"`` (the higher-order
            formula of the pair, as ``solve_ivp`` uses it).
        args: extra positional arguments for ``fun``; gradients flow to them.

    Returns:
        ``(t, y)``: the times ``t0 + k h``, shape ``(n_steps + 1,)``, and the states,
        shape ``(n, n_steps + 1)`` (``solve_ivp``'s layout). ``fun`` is evaluated
        ``1 + n_steps * n_stages`` times.

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jaxsparse.integrate import rk_steps
        >>> def final(k):  # y' = -k y, y(0) = 1, read at t = 1
        ...     t, y = rk_steps(lambda t, y, k: -k * y, 0.0, jnp.ones(1), 0.1, 10,
        ...                     args=(k,))
        ...     return y[0, -1]
        >>> bool(jnp.isclose(jax.grad(final)(2.0), -jnp.exp(-2.0), rtol=1e-5))
        True

    SciPy equivalent: none (SciPy's solvers always adapt the step).
    """
    tab = tableau(_validate.method(method))
    tdtype = jnp.result_type(float)
    y = _validate.y0(y0, tdtype)
    if isinstance(n_steps, bool) or not isinstance(n_steps, int) or n_steps < 0:
        raise ValueError(f"n_steps must be a non-negative int, got {n_steps!r}")
    h = jnp.asarray(h)
    if h.ndim != 0 or jnp.iscomplexobj(h):
        raise ValueError(f"h must be a real scalar, got {h!r}")
    h = h.astype(tdtype)
    t0 = jnp.asarray(t0, tdtype)
    rhs = _right_hand_side(fun, _validate.args(args), False)

    def one(carry, k):
        y, f = carry
        t = t0 + k * h
        y_new, f_new, _ = step(rhs, tab, t, y, f, h)
        return (y_new, f_new), y_new

    _, ys = lax.scan(one, (y, rhs(t0, y)), jnp.arange(n_steps, dtype=tdtype))
    t = t0 + jnp.arange(n_steps + 1, dtype=tdtype) * h
    return t, jnp.concatenate([y[None], ys]).T
