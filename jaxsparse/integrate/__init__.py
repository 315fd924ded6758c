"""Explicit Runge–Kutta integration of ``y' = f(t, y)``, compiled, taking SciPy's steps.

:func:`solve_ivp` is ``scipy.integrate.solve_ivp`` for the explicit methods ("RK23",
"RK45", "DOP853") as one ``lax.while_loop``: no host round trip per step, jit-able,
and sharded when the state is (a right-hand side ``lambda t, y: A @ y`` with ``A`` a
``ShardedCSR``). :func:`rk_steps` takes a fixed number of steps on ``lax.scan``, for
reverse-mode gradients.

Why not diffrax. Diffrax is the mature JAX ODE library, but (1) its controllers are not
SciPy's: its PID controller, initial-step heuristic and error norm differ in the
details that decide the step sequence (SciPy's "no growth right after a rejection",
DOP853's combined 3rd/5th-order norm, the ``10 * spacing`` minimum step and its failure
message), so matching SciPy's ``t``, ``nfev`` and ``status`` would mean rewriting the
controller anyway; (2) ``scipy_compat`` promises SciPy's results, and the step sequence
*is* the result when ``t_eval`` is ``None``; (3) it would add a dependency (and
Equinox) for about 400 lines of code whose tables we read from SciPy's classes. The
price: no implicit methods, no events, and reverse-mode gradients only through the
fixed-step :func:`rk_steps` (diffrax offers adjoints).

Layout: ``_tableau`` (the Butcher tables, from SciPy), ``_controller`` (norms, first
step, step factors), ``_step`` (one step, its error, its interpolant), ``_loop`` (the
compiled loop), ``_dense`` (``DenseSolution``), ``_result`` (``OdeResult``),
``_validate`` (argument checks), ``_solve_ivp`` (the public function and its jit
contract), ``_fixed`` (``rk_steps``).

SciPy equivalent: ``scipy.integrate.solve_ivp``, ``scipy.integrate.OdeSolution``.
"""

from ._dense import DenseSolution as DenseSolution
from ._fixed import rk_steps as rk_steps
from ._result import OdeResult as OdeResult
from ._solve_ivp import DEFAULT_MAX_STEPS as DEFAULT_MAX_STEPS
from ._solve_ivp import solve_ivp as solve_ivp
from ._tableau import METHODS as METHODS
