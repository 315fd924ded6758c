"""Checks on ``solve_ivp``'s arguments, on the host, each error naming its argument.

A check needs a concrete value; under ``jit`` a traced argument is passed through
unchecked (the shape checks still run, since shapes are static).
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ._tableau import METHODS


def concrete(x) -> bool:
    """Whether ``x`` (a number, NumPy array or jax.Array) has a value on the host side."""
    return not any(isinstance(leaf, jax.core.Tracer) for leaf in jax.tree.leaves(x))


def holds(fn, *arrays) -> bool:
    """``bool(fn(*arrays))`` for concrete arrays, computed where they live (a sharded
    state is reduced on its devices, not copied to the host), even while an outer
    ``jit`` is tracing (where ``jnp`` operations would otherwise be staged)."""
    with jax.ensure_compile_time_eval():
        return bool(fn(*arrays))


def method(name) -> str:
    if not isinstance(name, str) or name not in METHODS:
        raise ValueError(
            f"method must be one of {', '.join(repr(m) for m in METHODS)}, got {name!r} "
            "(implicit methods are not implemented here; "
            "jaxsparse.scipy_compat.integrate.solve_ivp runs them in SciPy)")
    return name


def t_span(span, tdtype):
    try:
        items = list(span)
    except TypeError:
        raise ValueError(f"t_span must be a pair of numbers (t0, tf), got {span!r}") from None
    if len(items) != 2:
        raise ValueError(f"t_span must be a pair of numbers (t0, tf), got {len(items)} values")
    t0, tf = (jnp.asarray(v) for v in items)
    for name, v in (("t0", t0), ("tf", tf)):
        if v.ndim != 0 or not (jnp.issubdtype(v.dtype, jnp.number) or v.dtype == bool) \
                or jnp.iscomplexobj(v):
            raise ValueError(f"t_span must be a pair of real numbers, got {name} = {v!r}")
        if concrete(v) and not np.isfinite(np.asarray(v)):
            raise ValueError(f"t_span must be finite, got {name} = {v}")
    return t0.astype(tdtype), tf.astype(tdtype)


def y0(y, tdtype):
    y = jnp.asarray(y)
    if y.ndim != 1:
        raise ValueError(f"y0 must be 1-dimensional, got shape {y.shape}")
    if y.size == 0:
        raise ValueError("y0 must have at least one component")
    if not (jnp.issubdtype(y.dtype, jnp.inexact)):
        y = y.astype(tdtype)
    if concrete(y) and not holds(lambda v: jnp.all(jnp.isfinite(v)), y):
        raise ValueError("y0 must be finite: all components of the initial state must be "
                         "finite")
    return y


def tolerances(rtol, atol, n: int, real):
    eps = float(np.finfo(real).eps)
    rtol = jnp.asarray(rtol)
    atol = jnp.asarray(atol)
    for name, v in (("rtol", rtol), ("atol", atol)):
        if v.ndim > 0 and v.shape != (n,):
            raise ValueError(f"{name} must be a scalar or have shape ({n},) like y0, "
                             f"got shape {v.shape}")
        if jnp.iscomplexobj(v):
            raise ValueError(f"{name} must be real, got {v.dtype}")
        if concrete(v) and holds(lambda v: jnp.any(v < 0), v):
            raise ValueError(f"{name} must be non-negative, got {np.asarray(v)}")
    if concrete(rtol) and holds(lambda v: jnp.any(v < 100 * eps), rtol):
        # SciPy's behaviour: warn and raise rtol to 100 * eps.
        warnings.warn(f"At least one element of rtol is too small. Setting "
                      f"rtol = maximum(rtol, {100 * eps}).", stacklevel=3)
        with jax.ensure_compile_time_eval():
            rtol = jnp.maximum(rtol, 100 * eps)
    return rtol.astype(real), atol.astype(real)


def _positive_scalar(value, name):
    """``value`` as a scalar array, refused when it is not a scalar or (when concrete)
    not positive, naming the argument."""
    value = jnp.asarray(value)
    if value.ndim != 0:
        raise ValueError(f"{name} must be a scalar, got shape {value.shape}")
    if concrete(value) and not float(value) > 0:
        raise ValueError(f"{name} must be positive, got {float(value)}")
    return value


def max_step(value, tdtype):
    return _positive_scalar(value, "max_step").astype(tdtype)


def first_step(value, t0, tf, tdtype):
    if value is None:
        return None
    value = _positive_scalar(value, "first_step")
    if concrete(value) and concrete((t0, tf)) and float(value) > abs(float(tf) - float(t0)):
        raise ValueError(f"first_step = {float(value)} exceeds the length of t_span "
                         f"({abs(float(tf) - float(t0))})")
    return value.astype(tdtype)


def max_steps(value) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"max_steps must be a positive int, got {value!r}")
    return int(value)


def t_eval(values, t0, tf, tdtype):
    if values is None:
        return None
    values = jnp.asarray(values)
    if values.ndim != 1:
        raise ValueError(f"t_eval must be 1-dimensional, got shape {values.shape}")
    values = values.astype(tdtype)
    if concrete((values, t0, tf)) and values.size:
        v, a, b = np.asarray(values), float(t0), float(tf)
        if np.any(v < min(a, b)) or np.any(v > max(a, b)):
            raise ValueError(f"t_eval must lie within t_span = ({a}, {b}); got values in "
                             f"[{v.min()}, {v.max()}]")
        d = np.diff(v)
        if (b > a and np.any(d <= 0)) or (b < a and np.any(d >= 0)):
            order = "increasing" if b >= a else "decreasing"
            raise ValueError(f"t_eval must be strictly {order} (sorted in the direction "
                             "of integration)")
    return values


def args(value):
    if value is None:
        return ()
    try:
        return tuple(value)
    except TypeError:
        raise TypeError(f"args must be a tuple of extra arguments for fun (e.g. "
                        f"args=({value!r},)), got {type(value).__name__}") from None


def mask(value, y):
    if value is None:
        return None
    value = jnp.asarray(value)
    if value.shape != y.shape or value.dtype != bool:
        raise ValueError(f"mask must be a boolean array of shape {y.shape} like y0, got "
                         f"{value.dtype} of shape {value.shape}")
    return value
