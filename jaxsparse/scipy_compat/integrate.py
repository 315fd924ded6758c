"""``jaxsparse.scipy_compat.integrate``: ``scipy.integrate``, with ``solve_ivp``'s
explicit methods compiled on JAX.

    from jaxsparse.scipy_compat import integrate   # instead of: from scipy import integrate

``solve_ivp`` with ``method`` "RK23", "RK45" or "DOP853", no ``events``, and a ``fun``
that JAX can trace (written with ``jax.numpy``, or applying a jaxsparse matrix) runs
:func:`jaxsparse.integrate.solve_ivp`: SciPy's steps, ``nfev`` and messages, returned as
NumPy arrays in an ``OdeResult`` as SciPy's. Everything else runs in SciPy unchanged:
implicit methods and ``OdeSolver`` classes, ``events``, and a ``fun`` written with NumPy
(its tracing fails with one of JAX's tracer-conversion errors, and the call goes to
SciPy: no error, no warning, SciPy's speed). SciPy has no step limit, so when the
compiled output buffers fill up the solve is retried with larger ones, and handed to
SciPy past about 1 GiB of buffers. Other names (``quad``, ``odeint``, ``OdeSolution``...)
are SciPy's own.

The first call with a new ``fun`` compiles the loop (about a second); later calls with
the same ``fun`` object reuse it.
"""

import warnings as _warnings

import jax as _jax
import numpy as _np
import scipy.integrate as _integrate
from scipy.optimize import OptimizeResult as _OptimizeResult

from .. import integrate as _core
from ..integrate._result import max_steps_message as _max_steps_message
from ..integrate._tableau import tableau as _tableau
from ._forward import forward_module as _forward_module

globals().update(_forward_module(_integrate, __name__, skip={"solve_ivp"}))
__all__ = list(_integrate.__all__)

_UNTRACEABLE = (_jax.errors.TracerArrayConversionError, _jax.errors.ConcretizationTypeError,
                _jax.errors.TracerIntegerConversionError)
_RK_OPTIONS = ("rtol", "atol", "first_step", "max_step")
_BUFFER_LIMIT = 2**27  # elements (1 GiB of float64) before handing a long solve to SciPy


class OdeResult(_OptimizeResult):
    """SciPy's ``OdeResult``: a dict with attribute access."""


class OdeSolution:
    """The dense output of the compiled solver, returning NumPy arrays like SciPy's
    ``OdeSolution`` (``sol(t)``: shape ``(n,)`` for a scalar, ``(n, m)`` for ``m``
    times)."""

    def __init__(self, dense):
        self._dense = dense
        self.ts = _np.asarray(dense.ts)
        self.n_segments = int(dense.n_segments)
        self.t_min, self.t_max = float(self.ts.min()), float(self.ts.max())
        self.ascending = bool(self.ts[-1] >= self.ts[0])

    def __call__(self, t):
        return _np.asarray(self._dense(_np.asarray(t, dtype=float)))


def solve_ivp(fun, t_span, y0, method="RK45", t_eval=None, dense_output=False,
              events=None, vectorized=False, args=None, **options):
    """``scipy.integrate.solve_ivp``, compiled on JAX where it can be (module doc)."""

    def scipy_solve():
        return _integrate.solve_ivp(fun, t_span, y0, method=method, t_eval=t_eval,
                                    dense_output=dense_output, events=events,
                                    vectorized=vectorized, args=args, **options)

    if not (isinstance(method, str) and method in _core.METHODS) or events is not None:
        return scipy_solve()
    unused = [k for k in options if k not in _RK_OPTIONS]
    if unused:  # SciPy's warning for options an explicit method ignores
        _warnings.warn("The following arguments have no effect for a chosen solver: "
                       f"{', '.join(f'`{k}`' for k in unused)}.", stacklevel=2)
    kwargs = {k: v for k, v in options.items() if k in _RK_OPTIONS}
    n = max(1, _np.size(y0))
    rows = (_tableau(method).n_coefficients + 1 if dense_output else
            1 if t_eval is None else 0)
    capacity = _core.DEFAULT_MAX_STEPS if rows else 2**30  # no step buffer: no limit
    while True:
        try:
            res = _core.solve_ivp(fun, t_span, y0, method=method, t_eval=t_eval,
                                  dense_output=dense_output, vectorized=vectorized,
                                  args=args, max_steps=capacity, **kwargs)
        except _UNTRACEABLE:
            return scipy_solve()
        if res.message != _max_steps_message(capacity):
            break
        capacity *= 10
        if capacity * n * rows > _BUFFER_LIMIT:
            return scipy_solve()
    return OdeResult(
        t=_np.asarray(res.t), y=_np.asarray(res.y),
        sol=None if res.sol is None else OdeSolution(res.sol),
        t_events=None, y_events=None, nfev=res.nfev, njev=0, nlu=0,
        status=res.status, message=res.message, success=res.success)
