"""``js.linalg.cg`` against ``scipy.sparse.linalg.cg`` on SciPy's named problem set."""

from __future__ import annotations

import functools

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla

import jaxsparse as js


# -- the problem set (SciPy's iterative-solver tests use the same names) ------------------
def poisson1d(n=32):
    return sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n), format="csr")


def poisson2d(k=8):
    t = poisson1d(k)
    eye = sps.eye_array(k)
    return (sps.kron(t, eye) + sps.kron(eye, t)).tocsr()


def random_spd(n=32, seed=0):
    rng = np.random.default_rng(seed)
    R = sps.random_array((n, n), density=0.15, rng=rng, format="csr")
    return (R @ R.T + n**0.5 * sps.eye_array(n)).tocsr()


def random_hpd(n=32, seed=1):
    rng = np.random.default_rng(seed)
    R = sps.random_array((n, n), density=0.15, rng=rng, format="csr")
    R = R + 1j * sps.random_array((n, n), density=0.15, rng=rng, format="csr")
    return (R @ R.conj().T + n**0.5 * sps.eye_array(n)).tocsr()


PROBLEMS = {
    "poisson1d": poisson1d,
    "poisson2d": poisson2d,
    "random_spd": random_spd,
    "random_hpd": random_hpd,
}


@functools.cache
def problem(name):
    S = PROBLEMS[name]()
    rng = np.random.default_rng(42)
    b = rng.standard_normal(S.shape[0])
    if np.iscomplexobj(S.data):
        b = b + 1j * rng.standard_normal(S.shape[0])
    return S, b


def rel_err(x, ref):
    return np.linalg.norm(np.asarray(x) - ref) / np.linalg.norm(ref)


# -- agreement with SciPy -------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(PROBLEMS))
def test_matches_scipy(name):
    S, b = problem(name)
    x, info = js.linalg.cg(js.CSR.from_scipy(S), b, rtol=1e-10)
    x_ref, info_ref = spla.cg(S, b, rtol=1e-10)
    assert int(info) == info_ref == 0
    assert x.dtype == x_ref.dtype
    assert rel_err(x, x_ref) < 1e-8
    assert np.linalg.norm(b - S @ np.asarray(x)) < 1e-10 * np.linalg.norm(b)


@pytest.mark.parametrize(
    "fmt", ["csc", "coo", "dense", "callable", "numpy_callable", "linear_operator"]
)
def test_operator_kinds(fmt):
    S, b = problem("poisson2d")
    if fmt == "dense":
        A = jnp.asarray(S.toarray())
    elif fmt == "callable":
        A_csr = js.CSR.from_scipy(S)
        A = lambda v: A_csr @ v
    elif fmt == "numpy_callable":  # NumPy code: through jax.pure_callback, as every solver
        A = lambda v: S @ np.asarray(v)
    elif fmt == "linear_operator":
        A = js.linalg.aslinearoperator(js.CSR.from_scipy(S))
    else:
        A = getattr(js, fmt.upper()).from_scipy(S)
    x, info = js.linalg.cg(A, b, rtol=1e-10)
    x_ref, _ = spla.cg(S, b, rtol=1e-10)
    assert int(info) == 0
    assert rel_err(x, x_ref) < 1e-8


def test_float32():
    S, b = problem("poisson2d")
    A = js.CSR.from_scipy(S.astype(np.float32))
    x, info = js.linalg.cg(A, b.astype(np.float32), rtol=1e-5)
    x_ref, info_ref = spla.cg(S, b, rtol=1e-5)
    assert x.dtype == np.float32
    assert int(info) == info_ref == 0
    assert rel_err(x, x_ref) < 1e-4


def test_x0():
    S, b = problem("random_spd")
    x0 = np.random.default_rng(3).standard_normal(b.shape)
    x, info = js.linalg.cg(js.CSR.from_scipy(S), b, x0, rtol=1e-10)
    x_ref, info_ref = spla.cg(S, b, x0=x0.copy(), rtol=1e-10)
    assert int(info) == info_ref == 0
    assert rel_err(x, x_ref) < 1e-8
    # A starting guess that is the answer returns it without iterating.
    x_same, info_same = js.linalg.cg(js.CSR.from_scipy(S), b, x_ref, rtol=1e-6)
    assert int(info_same) == 0
    np.testing.assert_allclose(np.asarray(x_same), x_ref, rtol=0, atol=0)


@pytest.mark.parametrize("maxiter", [1, 5])
def test_maxiter_not_converged(maxiter):
    S, b = problem("poisson2d")
    x, info = js.linalg.cg(js.CSR.from_scipy(S), b, rtol=1e-12, maxiter=maxiter)
    x_ref, info_ref = spla.cg(S, b, rtol=1e-12, maxiter=maxiter)
    assert int(info) == info_ref == maxiter
    assert rel_err(x, x_ref) < 1e-12  # the same partial progress


def test_atol_and_zero_rhs():
    S, b = problem("poisson1d")
    A = js.CSR.from_scipy(S)
    x, info = js.linalg.cg(A, b, rtol=0.0, atol=1e-3)
    x_ref, info_ref = spla.cg(S, b, rtol=0.0, atol=1e-3)
    assert int(info) == info_ref == 0
    assert rel_err(x, x_ref) < 1e-10
    x, info = js.linalg.cg(A, np.zeros(S.shape[0]), np.ones(S.shape[0]))
    assert int(info) == 0
    assert not np.any(np.asarray(x))  # SciPy returns b itself when norm(b) == 0


@pytest.mark.parametrize("kind", ["sparse", "callable"])
def test_jacobi_preconditioner(kind):
    S, b = problem("random_spd")
    S = (S + sps.diags_array(np.linspace(1.0, 100.0, S.shape[0]))).tocsr()  # uneven diagonal
    d_inv = 1.0 / S.diagonal()
    if kind == "sparse":
        M = js.CSR.from_scipy(sps.diags_array(d_inv, format="csr"))
    else:
        M = lambda v: jnp.asarray(d_inv) * v
    x, info = js.linalg.cg(js.CSR.from_scipy(S), b, rtol=1e-10, M=M)
    x_ref, info_ref = spla.cg(S, b, rtol=1e-10, M=sps.diags_array(d_inv))
    assert int(info) == info_ref == 0
    assert rel_err(x, x_ref) < 1e-8
    # The preconditioner changes the iteration: with maxiter the partial results agree too.
    x, info = js.linalg.cg(js.CSR.from_scipy(S), b, rtol=1e-12, M=M, maxiter=4)
    x_ref, info_ref = spla.cg(S, b, rtol=1e-12, M=sps.diags_array(d_inv), maxiter=4)
    assert int(info) == info_ref == 4
    assert rel_err(x, x_ref) < 1e-12


# -- transformations ------------------------------------------------------------------
def test_jit_matches_eager_and_loop_is_one_while():
    S, b = problem("poisson2d")
    A = js.CSR.from_scipy(S)
    solve = jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=1e-10))
    x, info = solve(A, b)
    x_eager, info_eager = js.linalg.cg(A, b, rtol=1e-10)
    assert int(info) == int(info_eager) == 0
    np.testing.assert_allclose(np.asarray(x), np.asarray(x_eager), rtol=1e-12, atol=1e-14)
    assert rel_err(x, spla.cg(S, b, rtol=1e-10)[0]) < 1e-8  # and both are SciPy's answer
    # One custom_linear_solve whose solve is one while_loop, with no host callback.
    jaxpr = jax.make_jaxpr(lambda A, b: js.linalg.cg(A, b))(A, b)
    (solve_eqn,) = [e for e in _all_eqns(jaxpr.jaxpr) if e.primitive.name == "custom_linear_solve"]
    solve_jaxpr = solve_eqn.params["jaxprs"].solve.jaxpr
    names = [e.primitive.name for e in _all_eqns(solve_jaxpr)]
    assert names.count("while") == 1
    assert not any("callback" in name for name in names)


def _all_eqns(jaxpr):
    """Every equation of ``jaxpr``, nested ones (pjit, while bodies, ...) included."""
    for eqn in jaxpr.eqns:
        yield eqn
        for sub in _sub_jaxprs(list(eqn.params.values())):
            yield from _all_eqns(sub)


def _sub_jaxprs(values):
    for v in values:
        if isinstance(v, jax.extend.core.ClosedJaxpr):
            yield v.jaxpr
        elif isinstance(v, jax.extend.core.Jaxpr):
            yield v
        elif isinstance(v, tuple | list):
            yield from _sub_jaxprs(v)


def test_vmap_over_rhs():
    S, _ = problem("poisson1d")
    B = np.random.default_rng(5).standard_normal((3, S.shape[0]))
    A = js.CSR.from_scipy(S)
    X, info = jax.vmap(lambda b: js.linalg.cg(A, b, rtol=1e-10))(B)
    assert np.all(np.asarray(info) == 0)
    for x, b in zip(np.asarray(X), B, strict=True):
        assert rel_err(x, spla.cg(S, b, rtol=1e-10)[0]) < 1e-8


def _dense_solve_grads(S, b, weights):
    """Gradients of ``sum(real(w * x))`` for ``x = solve(S, b)`` by dense JAX autodiff."""
    loss = lambda D, b: jnp.sum(jnp.real(weights * jnp.linalg.solve(D, b)))
    return jax.grad(loss, argnums=(0, 1))(jnp.asarray(S.toarray()), jnp.asarray(b))


@pytest.mark.parametrize("name", ["random_spd", "random_hpd"])
def test_grad_wrt_b_and_data(name):
    S, b = problem(name)
    A = js.CSR.from_scipy(S)
    w = np.random.default_rng(7).standard_normal(b.shape)

    def loss(data, b):
        x, _ = js.linalg.cg(A.with_data(data), b, rtol=1e-12)
        return jnp.sum(jnp.real(w * x))

    g_data, g_b = jax.jit(jax.grad(loss, argnums=(0, 1)))(A.data, jnp.asarray(b))
    gD_ref, gb_ref = _dense_solve_grads(S, b, w)
    assert rel_err(g_b, np.asarray(gb_ref)) < 1e-8
    coo = A.tocoo()
    nnz = S.nnz
    row, col = np.asarray(coo.row)[:nnz], np.asarray(coo.col)[:nnz]
    assert rel_err(np.asarray(g_data)[:nnz], np.asarray(gD_ref)[row, col]) < 1e-8


def test_grad_wrt_b_finite_differences():
    S, b = problem("poisson1d")
    A = js.CSR.from_scipy(S)
    f = lambda b: jnp.sum(js.linalg.cg(A, b, rtol=1e-13)[0] ** 2)
    g = np.asarray(jax.grad(f)(jnp.asarray(b)))
    e = np.zeros_like(b)
    for i in (0, 7, 31):
        e[:] = 0
        e[i] = 1e-6
        fd = (f(b + e) - f(b - e)) / 2e-6
        assert abs(fd - g[i]) < 1e-5 * max(1.0, abs(g[i]))


def test_jvp_wrt_b():
    S, b = problem("poisson2d")
    A = js.CSR.from_scipy(S)
    t = np.random.default_rng(9).standard_normal(b.shape)
    _, x_dot = jax.jvp(lambda b: js.linalg.cg(A, b, rtol=1e-12)[0], (b,), (t,))
    assert rel_err(x_dot, np.linalg.solve(S.toarray(), t)) < 1e-9


# -- errors ---------------------------------------------------------------------------
def test_errors():
    S, b = problem("poisson1d")
    with pytest.raises(TypeError, match="from_scipy"):
        js.linalg.cg(S, b)
    with pytest.raises(ValueError, match="shape"):
        js.linalg.cg(js.CSR.from_scipy(S), b[:-1])
    with pytest.raises(ValueError, match="1-D"):
        js.linalg.cg(js.CSR.from_scipy(S), b[:, None])
    with pytest.raises(ValueError, match="x0"):
        js.linalg.cg(js.CSR.from_scipy(S), b, x0=b[:-1])
    with pytest.raises(TypeError, match="callable"):
        js.linalg.cg("not a matrix", b)
