"""``jaxsparse.integrate.solve_ivp`` against ``scipy.integrate.solve_ivp``.

Every right-hand side is a module-level function, so each (function, method, options)
compiles once and is shared by the tests that use it. The problems: a damped linear
system ``y' = M y`` (3 states) and Lotka–Volterra (2 states, its parameters passed as
``args``), each written twice: with ``jax.numpy`` for us and with NumPy for SciPy.
"""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.integrate as si
import scipy.sparse as sps
from _helpers import child_env
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxsparse as js
import jaxsparse.sharding as jsh
from jaxsparse.integrate import METHODS, rk_steps, solve_ivp

# -- the problems ---------------------------------------------------------------------------
M = np.array([[-0.5, 2.0, 0.0], [-2.0, -0.5, 0.3], [0.0, -0.3, -0.1]])
LV_ARGS = (1.5, 1.0, 3.0, 1.0)


def linear(t, y):
    return jnp.asarray(M) @ y


def linear_np(t, y):
    return M @ y


def lotka(t, y, a, b, c, d):
    return jnp.stack([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])


def lotka_np(t, y, a, b, c, d):
    return np.array([a * y[0] - b * y[0] * y[1], -c * y[1] + d * y[0] * y[1]])


def rotating(t, y):  # complex: y' = (3i - 0.1) y
    return (3j - 0.1) * y


def blow_up(t, y):  # y = 1 / (1 - t): infinite at t = 1
    return y**2


PROBLEMS = {
    "linear": dict(fun=linear, fun_np=linear_np, span=(0.0, 10.0),
                   y0=np.array([1.0, 0.0, 0.5]), args=None),
    "lotka": dict(fun=lotka, fun_np=lotka_np, span=(0.0, 15.0),
                  y0=np.array([10.0, 5.0]), args=LV_ARGS),
}
T_EVAL = np.linspace(0.0, 15.0, 37)


def solve_both(problem, method, **kw):
    p = PROBLEMS[problem]
    ours = solve_ivp(p["fun"], p["span"], p["y0"], method=method, args=p["args"], **kw)
    theirs = si.solve_ivp(p["fun_np"], p["span"], p["y0"], method=method, args=p["args"],
                          **kw)
    return ours, theirs


def assert_steps_match(ours, theirs, rel=0.02):
    """Step counts and ``nfev`` within ``rel`` (we see them equal: same controller, and
    only the rounding of sums differs), and the common times close."""
    n_ours, n_theirs = len(ours.t), len(theirs.t)
    assert abs(n_ours - n_theirs) <= max(1, rel * n_theirs), (n_ours, n_theirs)
    assert abs(ours.nfev - theirs.nfev) <= max(13, rel * theirs.nfev), (ours.nfev,
                                                                       theirs.nfev)
    k = min(n_ours, n_theirs) - 1
    np.testing.assert_allclose(np.asarray(ours.t)[:k], theirs.t[:k], rtol=1e-5, atol=1e-12)


# -- against SciPy ----------------------------------------------------------------------------
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("problem", sorted(PROBLEMS))
def test_steps_and_solution_match_scipy(problem, method):
    ours, theirs = solve_both(problem, method)
    assert_steps_match(ours, theirs)
    assert ours.status == theirs.status == 0 and ours.success
    assert ours.message == theirs.message
    assert (ours.njev, ours.nlu, ours.t_events, ours.sol) == (0, 0, None, None)
    assert ours.y.shape == (len(PROBLEMS[problem]["y0"]), len(ours.t))
    assert float(ours.t[-1]) == theirs.t[-1] == PROBLEMS[problem]["span"][1]
    # Both end at tf; the solutions agree far below the tolerance (rtol = 1e-3).
    np.testing.assert_allclose(ours.y[:, -1], theirs.y[:, -1], rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", ["RK45", "DOP853"])
def test_t_eval_values_come_from_the_interpolant(method):
    ours, theirs = solve_both("lotka", method, t_eval=T_EVAL)
    np.testing.assert_array_equal(np.asarray(ours.t), T_EVAL)
    assert ours.y.shape == (2, T_EVAL.size)
    # DOP853 pays 3 evaluations for each step that holds t_eval times, as SciPy does.
    assert ours.nfev == theirs.nfev
    np.testing.assert_allclose(ours.y, theirs.y, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_dense_output_matches_scipys_sol(method):
    ours, theirs = solve_both("lotka", method, dense_output=True)
    assert ours.nfev == theirs.nfev
    np.testing.assert_allclose(np.asarray(ours.sol.ts), theirs.sol.ts, rtol=1e-5)
    q = np.random.default_rng(0).uniform(0.0, 15.0, 40)
    np.testing.assert_allclose(ours.sol(q), theirs.sol(q), rtol=1e-6, atol=1e-9)
    assert ours.sol(7.5).shape == (2,)
    np.testing.assert_allclose(ours.sol(7.5), theirs.sol(7.5), rtol=1e-6, atol=1e-9)
    # At the step times the interpolant returns the steps' states.
    np.testing.assert_allclose(ours.sol(ours.t), ours.y, rtol=1e-10, atol=1e-12)


def test_backward_integration_with_t_eval_and_dense_output():
    p = PROBLEMS["lotka"]
    back = T_EVAL[::-1]
    ours = solve_ivp(lotka, (15.0, 0.0), p["y0"], t_eval=back, dense_output=True,
                     args=LV_ARGS)
    theirs = si.solve_ivp(lotka_np, (15.0, 0.0), p["y0"], t_eval=back, dense_output=True,
                          args=LV_ARGS)
    assert ours.status == 0 and ours.nfev == theirs.nfev
    np.testing.assert_array_equal(np.asarray(ours.t), back)
    np.testing.assert_allclose(ours.y, theirs.y, rtol=1e-6, atol=1e-9)
    assert np.all(np.diff(np.asarray(ours.sol.ts)) < 0)
    np.testing.assert_allclose(ours.sol(T_EVAL[1:-1]), theirs.sol(T_EVAL[1:-1]), rtol=1e-6)


def test_complex_state():
    y0 = np.array([1.0 + 0.0j, 0.5j])
    ours = solve_ivp(rotating, (0.0, 5.0), y0, rtol=1e-8, atol=1e-10)
    theirs = si.solve_ivp(rotating, (0.0, 5.0), y0, rtol=1e-8, atol=1e-10)
    assert ours.y.dtype == jnp.complex128
    assert_steps_match(ours, theirs)
    exact = np.exp((3j - 0.1) * 5.0) * y0
    np.testing.assert_allclose(ours.y[:, -1], exact, rtol=1e-6)
    np.testing.assert_allclose(ours.y[:, -1], theirs.y[:, -1], rtol=1e-10)


@pytest.mark.parametrize("method", METHODS)
def test_blow_up_fails_like_scipy(method):
    ours = solve_ivp(blow_up, (0.0, 2.0), np.array([1.0]), method=method)
    theirs = si.solve_ivp(blow_up, (0.0, 2.0), np.array([1.0]), method=method)
    assert theirs.status == -1
    assert ours.status == -1 and not ours.success
    assert ours.message == theirs.message == (
        "Required step size is less than spacing between numbers.")
    assert_steps_match(ours, theirs)
    np.testing.assert_allclose(float(ours.t[-1]), theirs.t[-1], rtol=1e-9)
    assert 0.99 < float(ours.t[-1]) < 1.01  # stuck near the singularity at t = 1


def not_a_number(t, y):
    return y * jnp.nan


def test_nan_right_hand_side_fails_instead_of_hanging():
    # SciPy loops forever here: its first step size is NaN, and a NaN never compares
    # smaller than the minimum step.
    res = solve_ivp(not_a_number, (0.0, 1.0), np.ones(2), max_steps=5)
    assert res.status == -1 and "NaN" in res.message and len(res.t) == 1


def test_empty_span_is_one_zero_length_step():
    ours = solve_ivp(linear, (3.0, 3.0), PROBLEMS["linear"]["y0"])
    theirs = si.solve_ivp(linear_np, (3.0, 3.0), PROBLEMS["linear"]["y0"])
    np.testing.assert_array_equal(np.asarray(ours.t), theirs.t)  # [3, 3]
    np.testing.assert_array_equal(np.asarray(ours.y), theirs.y)
    assert ours.nfev == theirs.nfev == 1 and ours.status == 0


def test_max_steps_exceeded_is_a_failure_not_a_truncation():
    p = PROBLEMS["lotka"]
    ours = solve_ivp(lotka, p["span"], p["y0"], args=LV_ARGS, max_steps=10)
    assert ours.status == -1 and not ours.success
    assert "max_steps=10" in ours.message
    assert len(ours.t) == 11 and float(ours.t[-1]) < p["span"][1]
    theirs = si.solve_ivp(lotka_np, p["span"], p["y0"], args=LV_ARGS)
    np.testing.assert_allclose(np.asarray(ours.t), theirs.t[:11], rtol=1e-9)


# -- transformations ---------------------------------------------------------------------------
def decay(t, y, k):
    return -k * y


T_JIT = jnp.linspace(0.0, 1.0, 5)


@jax.jit
def decay_at_t_jit(y0, k):
    return solve_ivp(decay, (0.0, 1.0), y0, t_eval=T_JIT, args=(k,), rtol=1e-8, atol=1e-10,
                     dense_output=True, max_steps=500)


def test_under_jit_t_eval_gives_fixed_shapes_and_traced_status():
    res = decay_at_t_jit(jnp.array([1.0, 2.0]), 2.0)  # the OdeResult pytree itself
    exact = np.array([1.0, 2.0])[:, None] * np.exp(-2.0 * np.asarray(T_JIT))
    np.testing.assert_allclose(res.y, exact, rtol=1e-7)
    assert int(res.status) == 0 and bool(res.success) and res.message is None
    eager = solve_ivp(decay, (0.0, 1.0), jnp.array([1.0, 2.0]), t_eval=T_JIT, args=(2.0,),
                      rtol=1e-8, atol=1e-10, dense_output=True, max_steps=500)
    np.testing.assert_allclose(res.y, eager.y, rtol=1e-12)
    assert int(res.nfev) == eager.nfev
    # The traced dense output holds buffers of capacity max_steps and a traced count;
    # it evaluates like the trimmed eager one.
    assert res.sol.ts.shape == (501,) and int(res.sol.n_segments) == len(eager.sol.ts) - 1
    q = np.linspace(0.05, 0.95, 7)
    np.testing.assert_allclose(res.sol(q), eager.sol(q), rtol=1e-12)
    # New values of the traced argument reuse the compiled program.
    res3 = decay_at_t_jit(jnp.array([1.0, 2.0]), 3.0)
    np.testing.assert_allclose(res3.y, exact * np.exp(-np.asarray(T_JIT)), rtol=1e-7)


def test_forward_mode_goes_through_the_loop_and_reverse_mode_says_why_not():
    def final(k):
        res = solve_ivp(decay, (0.0, 1.0), jnp.ones(1), t_eval=T_JIT, args=(k,),
                        rtol=1e-8, atol=1e-10)
        return res.y[0, -1]

    value, tangent = jax.jvp(final, (2.0,), (1.0,))
    np.testing.assert_allclose(value, np.exp(-2.0), rtol=1e-7)
    np.testing.assert_allclose(tangent, -np.exp(-2.0), rtol=1e-6)  # d/dk exp(-k)
    with pytest.raises(ValueError, match="Reverse-mode differentiation does not work"):
        jax.grad(final)(2.0)


def test_under_jit_without_t_eval_raises():
    with pytest.raises(ValueError, match="pass t_eval"):
        jax.jit(lambda y0: solve_ivp(linear, (0.0, 1.0), y0).y)(jnp.ones(3))


def test_grad_through_fixed_steps_matches_finite_differences():
    y0 = jnp.array([10.0, 5.0])

    @jax.jit
    def prey_at_end(a):
        _, y = rk_steps(lotka, 0.0, y0, 0.01, 100, method="RK45", args=(a, 1.0, 3.0, 1.0))
        return y[0, -1]

    g = jax.grad(prey_at_end)(1.5)
    eps = 1e-5
    fd = (prey_at_end(1.5 + eps) - prey_at_end(1.5 - eps)) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-6)
    # The fixed-step path takes the same step as the adaptive one: with h = 0.1 and one
    # step it reproduces solve_ivp given first_step = 0.1 (whose first step is accepted).
    t, y = rk_steps(linear, 0.0, PROBLEMS["linear"]["y0"], 0.1, 1)
    adaptive = solve_ivp(linear, (0.0, 0.1), PROBLEMS["linear"]["y0"], first_step=0.1)
    np.testing.assert_allclose(np.asarray(t), [0.0, 0.1])
    assert len(adaptive.t) == 2
    np.testing.assert_allclose(y[:, -1], adaptive.y[:, -1], rtol=1e-14)


def test_sharded_state_on_two_devices_equals_the_unsharded_solve():
    n = 33  # odd: the layout vector has a padding slot, which mask= keeps out of the norm
    S = 10.0 * sps.diags_array([np.ones(n - 1), -2 * np.ones(n), np.ones(n - 1)],
                               offsets=[-1, 0, 1], format="csr")
    mesh = jax.make_mesh((2,), ("x",), axis_types=(AxisType.Explicit,),
                         devices=jax.devices()[:2])
    As = jsh.shard(S, mesh, "x")
    A = js.CSR.from_scipy(S)
    y0 = np.sin(np.linspace(0.0, np.pi, n)) + 0.1
    ys0 = As.shard_vector(y0)
    assert ys0.shape[0] > n
    t_eval = np.linspace(0.0, 0.5, 4)
    plain = solve_ivp(lambda t, y: A @ y, (0.0, 0.5), y0, t_eval=t_eval)
    sharded = solve_ivp(lambda t, y: As @ y, (0.0, 0.5), ys0, t_eval=t_eval, mask=As.mask)
    assert sharded.y.sharding == NamedSharding(mesh, P("x", None))
    assert sharded.nfev == plain.nfev
    np.testing.assert_allclose(As.unshard_vector(sharded.y), plain.y, rtol=1e-12,
                               atol=1e-14)
    theirs = si.solve_ivp(lambda t, y: S @ y, (0.0, 0.5), y0, t_eval=t_eval)
    assert plain.nfev == theirs.nfev
    np.testing.assert_allclose(plain.y, theirs.y, rtol=1e-9, atol=1e-12)


# -- the drop-in ---------------------------------------------------------------------------------
def oscillator(t, y):
    return jnp.stack([y[1], -y[0]])


def oscillator_np(t, y):
    return np.array([y[1], -y[0]])


def test_dropin_solve_ivp_returns_scipys_result_in_numpy():
    from jaxsparse.scipy_compat import integrate

    ours = integrate.solve_ivp(oscillator, (0, 10), [1.0, 0.0], dense_output=True)
    theirs = si.solve_ivp(oscillator_np, (0, 10), [1.0, 0.0], dense_output=True)
    assert isinstance(ours.y, np.ndarray) and isinstance(ours.t, np.ndarray)
    assert ours["nfev"] == ours.nfev == theirs.nfev and ours.status == theirs.status
    assert ours.message == theirs.message and ours.success is True
    np.testing.assert_allclose(ours.t, theirs.t, rtol=1e-12)
    np.testing.assert_allclose(ours.y, theirs.y, rtol=1e-9, atol=1e-12)
    q = np.linspace(0.5, 9.5, 7)
    assert isinstance(ours.sol(q), np.ndarray)
    np.testing.assert_allclose(ours.sol(q), theirs.sol(q), rtol=1e-9, atol=1e-12)
    assert integrate.quad is not None  # the rest of scipy.integrate is SciPy's


def test_dropin_runs_numpy_functions_and_implicit_methods_in_scipy():
    from jaxsparse.scipy_compat import integrate

    for method in ("RK45", "Radau"):
        ours = integrate.solve_ivp(oscillator_np, (0, 10), [1.0, 0.0], method=method)
        theirs = si.solve_ivp(oscillator_np, (0, 10), [1.0, 0.0], method=method)
        assert type(ours) is type(theirs)  # SciPy's own result: it ran in SciPy
        np.testing.assert_array_equal(ours.y, theirs.y)


def test_dropin_grows_its_buffers_instead_of_failing(monkeypatch):
    from jaxsparse.scipy_compat import integrate

    monkeypatch.setattr(js.integrate, "DEFAULT_MAX_STEPS", 10)  # 86 steps are needed
    ours = integrate.solve_ivp(oscillator, (0, 10), [1.0, 0.0])
    theirs = si.solve_ivp(oscillator_np, (0, 10), [1.0, 0.0])
    assert ours.status == 0 and len(ours.t) == len(theirs.t)


# -- bad input -------------------------------------------------------------------------------
def wrong_shape(t, y):
    return y[:2]


GOOD = dict(fun=linear, t_span=(0.0, 1.0), y0=np.ones(3))


@pytest.mark.parametrize("change, error, match", [
    (dict(method="Radau"), ValueError, "method must be one of"),
    (dict(t_span=(0.0, 1.0, 2.0)), ValueError, "t_span must be a pair"),
    (dict(t_span=1.0), ValueError, "t_span must be a pair"),
    (dict(rtol=-1e-3), ValueError, "rtol must be non-negative"),
    (dict(atol=-1.0), ValueError, "atol must be non-negative"),
    (dict(atol=np.ones(2)), ValueError, "atol must be a scalar or have shape"),
    (dict(y0=np.ones((3, 1))), ValueError, "y0 must be 1-dimensional"),
    (dict(y0=np.array([1.0, np.nan, 0.0])), ValueError, "y0 must be finite"),
    (dict(fun=wrong_shape), ValueError, r"fun\(t, y\) must return an array of shape"),
    (dict(first_step=0.0), ValueError, "first_step must be positive"),
    (dict(first_step=2.0), ValueError, "first_step = 2.0 exceeds"),
    (dict(max_step=0.0), ValueError, "max_step must be positive"),
    (dict(max_steps=0), ValueError, "max_steps must be a positive int"),
    (dict(t_eval=[0.5, 2.0]), ValueError, "t_eval must lie within t_span"),
    (dict(t_eval=[0.5, 0.2]), ValueError, "t_eval must be strictly increasing"),
    (dict(t_eval=[[0.5]]), ValueError, "t_eval must be 1-dimensional"),
    (dict(events=[lambda t, y: y[0]]), NotImplementedError, "events are not supported"),
    (dict(args=2.0), TypeError, "args must be a tuple"),
    (dict(mask=np.ones(2, bool)), ValueError, "mask must be a boolean array"),
])
def test_bad_input_names_the_argument(change, error, match):
    kw = {**GOOD, **change}
    with pytest.raises(error, match=match):
        solve_ivp(kw.pop("fun"), kw.pop("t_span"), kw.pop("y0"), **kw)


def test_complex_values_for_a_real_state_raise():
    with pytest.raises(ValueError, match="pass a complex y0"):
        solve_ivp(rotating, (0.0, 1.0), np.ones(2))


def test_tiny_rtol_is_raised_with_scipys_warning():
    with pytest.warns(UserWarning, match="rtol is too small"):
        res = solve_ivp(decay, (0.0, 0.1), np.ones(1), args=(1.0,), rtol=1e-20)
    assert res.status == 0


def test_importing_jaxsparse_leaves_scipy_integrate_until_a_method_is_used():
    """The tableaus are read from scipy.integrate at first use: importing it costs a
    third of ``import jaxsparse`` (0.35 s), in every process."""
    code = ("import sys, jaxsparse; assert 'scipy.integrate' not in sys.modules; "
            "from jaxsparse.integrate._tableau import tableau; "
            "assert tableau('DOP853').n_stages == 12 and 'scipy.integrate' in sys.modules")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120, env=child_env())
    assert result.returncode == 0, result.stderr[-2000:]
