"""``solve_ivp``: SciPy's explicit Runge–Kutta integration as one compiled loop."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.typing import ArrayLike

from . import _validate
from ._dense import DenseSolution
from ._loop import FINISHED, MAX_STEPS, NAN_STEP, Config, integrate
from ._result import MESSAGES, OdeResult, max_steps_message
from ._tableau import tableau

DEFAULT_MAX_STEPS = 10_000


class _ById:
    """A static jit argument that hashes by identity: the compiled loop is cached per
    ``fun`` object, whether or not ``fun`` is hashable (a bound method of an unhashable
    object, a class instance with ``__eq__``)."""

    __slots__ = ("fn",)

    def __init__(self, fn):
        self.fn = fn

    def __hash__(self):
        return id(self.fn)

    def __eq__(self, other):
        return isinstance(other, _ById) and other.fn is self.fn


def _right_hand_side(fun: Callable, args: tuple, vectorized: bool) -> Callable:
    """``fun`` with ``args`` appended, its output checked and cast like SciPy's
    ``fun_wrapped`` (a ``vectorized`` fun is called on one column, as SciPy's RK
    solvers do)."""

    def rhs(t, y):
        out = jnp.asarray(fun(t, y[:, None] if vectorized else y, *args))
        if vectorized and out.shape == (y.shape[0], 1):
            out = out[:, 0]
        if out.shape != y.shape:
            raise ValueError(f"fun(t, y) must return an array of shape {y.shape} like "
                             f"y0, got shape {out.shape}")
        if jnp.iscomplexobj(out) and not jnp.iscomplexobj(y):
            raise ValueError("fun(t, y) returned complex values for a real y0; pass a "
                             "complex y0 to integrate in the complex domain")
        return out.astype(y.dtype)

    return rhs


def _core(fun: _ById, config: Config, vectorized: bool, t0, tf, y0, t_eval, rtol, atol,
          max_step, first_step, args, mask):
    rhs = _right_hand_side(fun.fn, args, vectorized)
    return integrate(rhs, config, t0, tf, y0, t_eval, rtol, atol, max_step, first_step,
                     mask)


_run = jax.jit(_core, static_argnames=("fun", "config", "vectorized"))


def solve_ivp(
    fun: Callable,
    t_span: tuple[ArrayLike, ArrayLike],
    y0: ArrayLike,
    method: str = "RK45",
    t_eval: ArrayLike | None = None,
    dense_output: bool = False,
    events: None = None,
    vectorized: bool = False,
    args: tuple | None = None,
    *,
    rtol: ArrayLike = 1e-3,
    atol: ArrayLike = 1e-6,
    first_step: ArrayLike | None = None,
    max_step: ArrayLike = np.inf,
    max_steps: int = DEFAULT_MAX_STEPS,
    mask: ArrayLike | None = None,
) -> OdeResult:
    """Solve the initial value problem ``y' = fun(t, y)``, ``y(t0) = y0``, taking the
    steps SciPy takes, in one compiled ``lax.while_loop``.

    Args:
        fun: the right-hand side ``fun(t, y, *args)``, written with ``jax.numpy`` (it is
            traced); ``y`` has ``y0``'s shape and the result must too. It may apply a
            jaxsparse matrix (``A @ y``), including a ``ShardedCSR`` to a sharded ``y``.
        t_span: ``(t0, tf)``; ``tf < t0`` integrates backwards.
        y0: the initial state, 1-D, real or complex (integers become floats). A layout
            vector of a ``ShardedCSR`` (``A.shard_vector(y)``) stays sharded.
        method: ``"RK23"``, ``"RK45"`` (default) or ``"DOP853"``.
        t_eval: times at which to report the solution, sorted in the direction of
            integration and within ``t_span``; values come from each step's
            interpolant, as in SciPy. ``None``: report every step. Required under jit.
        dense_output: also return ``sol``, the continuous solution.
        events: not supported (``None`` only).
        vectorized: ``fun`` takes ``(n, k)`` columns (it is called with ``k = 1``).
        args: extra positional arguments for ``fun``; traced, so new values do not
            recompile.
        rtol, atol: relative and absolute tolerances (scalars or ``(n,)`` arrays).
        first_step: the first step size; ``None`` chooses it as SciPy does.
        max_step: the largest step size allowed.
        max_steps: capacity of the compiled output buffers, in accepted steps (default
            10 000). The buffers are allocated whole: ``t_eval=None`` keeps
            ``(max_steps + 1, n)`` states and ``dense_output`` keeps ``(max_steps, k, n)``
            interpolant coefficients (``k`` = 3, 4, 7 for RK23, RK45, DOP853); with
            ``t_eval`` and no dense output only ``(len(t_eval), n)``. Running out ends
            the solve with ``status = -1`` and a message saying so, never a silent
            truncation.
        mask: jaxsparse extension: a boolean array like ``y0``; only ``True`` entries
            enter the error norms. Pass ``A.mask`` when ``y0`` is a ``ShardedCSR`` layout
            vector with padding slots, so that the steps match the unsharded solve.

    Returns:
        An :class:`OdeResult` with SciPy's fields (``t``, ``y`` of shape
        ``(n, n_points)``, ``sol``, ``success``, ``status``, ``message``, ``nfev``,
        ``njev``, ``nlu``, ``t_events``, ``y_events``), holding ``jax.Array``s.

    Under ``jit``/``vmap`` (when the solve is traced: any input, or a value ``fun``
    closes over, is a tracer) the number of steps is not known when the program is
    built, so ``t_eval`` is required (a ``ValueError`` says so otherwise). Then ``t`` is
    ``t_eval``, ``y`` is ``(n, len(t_eval))`` with NaN at times not reached if the solve
    failed, ``status``/``success``/``nfev`` are traced scalars and ``message`` is
    ``None``; ``sol`` (with ``dense_output``) holds the buffers of capacity
    ``max_steps`` and a traced ``n_segments``.

    Differentiation: ``jax.jvp``/``jacfwd`` go through the loop; they differentiate
    the discrete solution along the steps taken (step sizes are held fixed, under
    ``stop_gradient``). Reverse mode (``grad``) cannot cross a ``while_loop`` of
    unknown length (JAX raises a ``ValueError`` saying so): use :func:`rk_steps`, a
    fixed number of steps on ``lax.scan``.

    Example:
        >>> import jax.numpy as jnp
        >>> from jaxsparse.integrate import solve_ivp
        >>> res = solve_ivp(lambda t, y: -0.5 * y, (0.0, 10.0), jnp.array([2.0, 4.0]))
        >>> int(res.status), res.y.shape[0]
        (0, 2)

    SciPy equivalent: ``scipy.integrate.solve_ivp`` (explicit methods; same steps, same
    ``nfev`` and message on the problems in ``tests/test_integrate.py``).
    """
    name = _validate.method(method)
    if events is not None:
        raise NotImplementedError(
            "events are not supported by jaxsparse.integrate.solve_ivp; "
            "jaxsparse.scipy_compat.integrate.solve_ivp runs them in SciPy")
    tdtype = jnp.result_type(float)
    t0, tf = _validate.t_span(t_span, tdtype)
    y = _validate.y0(y0, tdtype)
    real = jnp.abs(y).dtype
    rtol, atol = _validate.tolerances(rtol, atol, y.shape[0], real)
    max_step = _validate.max_step(max_step, tdtype)
    first = _validate.first_step(first_step, t0, tf, tdtype)
    times = _validate.t_eval(t_eval, t0, tf, tdtype)
    capacity = _validate.max_steps(max_steps)
    extra = _validate.args(args)
    mask = _validate.mask(mask, y)
    if not callable(fun):
        raise TypeError(f"fun must be callable, got {type(fun).__name__}")

    config = Config(
        tableau=tableau(name), max_steps=capacity,
        keep_steps=times is None or bool(dense_output), dense_output=bool(dense_output),
        n_eval=0 if times is None else int(times.shape[0]),
        first_step_given=first is not None,
    )
    out = _run(_ById(fun), config, bool(vectorized), t0, tf, y, times, rtol, atol,
               max_step, first, extra, mask)

    if _validate.concrete(out.status):
        return _eager_result(out, config, name, times, y.shape[0])
    if times is None:
        raise ValueError(
            "solve_ivp is being traced (under jit, vmap, or with fun closing over traced "
            "values), so the number of steps is unknown when the program is built: pass "
            "t_eval to get the solution at fixed times")
    return _traced_result(out, config, name, times, y.shape[0])


def _dense(out, name, n_steps) -> DenseSolution:
    return DenseSolution(ts=out.ts[:n_steps + 1], y_old=out.ys[:n_steps],
                         coefficients=out.coefficients[:n_steps],
                         n_segments=jnp.int32(n_steps), method=name)


def _eager_result(out, config: Config, name: str, times, n: int) -> OdeResult:
    """Outside ``jit``: read the counts back once and trim the buffers to them."""
    code = int(out.status)
    n_steps = int(out.n_steps)
    if times is None:
        t, y = out.ts[:n_steps + 1], out.ys[:n_steps + 1].T
    elif config.n_eval == 0:
        t, y = times, jnp.zeros((n, 0), times.dtype)
    else:
        done = int(out.n_eval_done)
        t, y = times[:done], out.y_eval[:done].T
    messages = {FINISHED: MESSAGES["finished"], NAN_STEP: MESSAGES["nan_step"],
                MAX_STEPS: max_steps_message(config.max_steps)}
    status = 0 if code == FINISHED else -1
    return OdeResult(
        t=t, y=y, sol=_dense(out, name, n_steps) if config.dense_output else None,
        nfev=int(out.nfev), status=status, success=status == 0,
        message=messages.get(code, MESSAGES["too_small"]))


def _traced_result(out, config: Config, name: str, times, n: int) -> OdeResult:
    """Under ``jit``: values at ``t_eval`` (NaN where not reached), traced counts."""
    reached = jnp.arange(config.n_eval) < out.n_eval_done
    if out.y_eval is None:  # an empty t_eval
        y = jnp.zeros((n, 0), times.dtype)
    else:
        y = jnp.where(reached[:, None], out.y_eval, jnp.nan).T
    sol = None
    if config.dense_output:
        steps = jnp.arange(config.max_steps + 1)
        ts = jnp.where(steps <= out.n_steps, out.ts, out.ts[out.n_steps])
        sol = DenseSolution(ts=ts, y_old=out.ys[:-1], coefficients=out.coefficients,
                            n_segments=out.n_steps, method=name)
    status = jnp.where(out.status == FINISHED, 0, -1).astype(jnp.int32)
    return OdeResult(t=times, y=y, sol=sol, nfev=out.nfev, status=status,
                     success=status == 0, message=None)
