"""Every iterative solver against SciPy on the shared named problem set (``solver_problems``)."""

from __future__ import annotations

import inspect
import warnings

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from jax.sharding import AxisType
from solver_problems import LEAST_SQUARES, SQUARE, cases, problem

import jaxsparse as js
import jaxsparse.linalg as jl
import jaxsparse.sharding as jsh


def rel_err(x, ref):
    return np.linalg.norm(np.asarray(x) - ref) / max(np.linalg.norm(ref), 1e-300)


CAPACITY = 36 * 36  # one capacity for every problem: each solver compiles once per dtype


def csr(S):
    return js.CSR.fromdense(S.toarray(), nse=CAPACITY)


# -- agreement with SciPy, each solver x each problem it applies to -------------------
@pytest.mark.parametrize("solver, name", cases(SQUARE))
def test_square_solvers_match_scipy(solver, name):
    p = problem(name)
    x, info = getattr(jl, solver)(csr(p.A), p.b, rtol=1e-10)
    x_ref, info_ref = getattr(spla, solver)(p.A, p.b, rtol=1e-10)
    assert int(info) == info_ref
    assert x.dtype == x_ref.dtype
    assert rel_err(x, x_ref) < 1e-7
    if info_ref == 0:
        assert np.linalg.norm(p.A @ np.asarray(x) - p.b) <= 1e-8 * np.linalg.norm(p.b)


@pytest.mark.parametrize("solver, name", cases(LEAST_SQUARES))
def test_least_squares_solvers_match_scipy(solver, name):
    p = problem(name)
    # stop before n iterations: at n the Krylov space is exhausted, beta ~ 1e-16, and the
    # last step is rounding noise in SciPy and here alike
    kw = dict(atol=1e-10, btol=1e-10, **{"iter_lim" if solver == "lsqr" else "maxiter": 30})
    out = getattr(jl, solver)(csr(p.A), p.b, **kw)
    ref = getattr(spla, solver)(p.A, p.b, **kw)
    assert int(out[1]) == ref[1]  # istop
    # itn: on the ill-conditioned Poisson problems rounding (sums vs BLAS) can move the
    # stopping test across its threshold by one iteration
    assert abs(int(out[2]) - ref[2]) <= 1
    assert rel_err(out[0], ref[0]) < 1e-6
    assert len(out) == len(ref)
    tiny = 1e-6 * np.linalg.norm(p.b)
    np.testing.assert_allclose([float(v) for v in out[3:5]], ref[3:5], rtol=1e-3, atol=tiny)


def test_least_squares_rectangular_and_damped():
    rng = np.random.default_rng(0)
    S = sps.random_array((40, 20), density=0.3, rng=rng, format="csr")
    b = rng.standard_normal(40)
    for solver in LEAST_SQUARES:
        for kw in (dict(), dict(damp=0.5)):
            out = getattr(jl, solver)(csr(S), b, **kw)
            ref = getattr(spla, solver)(S, b, **kw)
            assert (int(out[1]), int(out[2])) == (ref[1], ref[2])
            assert rel_err(out[0], ref[0]) < 1e-6


@pytest.mark.parametrize(
    "solver",
    ["cg", "minres", "cgs", "bicg", "bicgstab", "gmres", "qmr", "tfqmr", "lgmres", "gcrotmk"],
)
def test_not_converged_same_partial_progress(solver):
    p = problem("poisson2d")
    kw = dict(rtol=1e-12, maxiter=2)
    if solver in ("gmres", "lgmres"):
        kw["restart" if solver == "gmres" else "inner_m"] = 4
    if solver == "gcrotmk":
        kw["m"] = 4
    x, info = getattr(jl, solver)(csr(p.A), p.b, **kw)
    x_ref, info_ref = getattr(spla, solver)(p.A, p.b, **kw)
    assert int(info) == info_ref == 2
    assert rel_err(x, x_ref) < 1e-10


@pytest.mark.parametrize("solver", ["bicgstab", "gmres", "minres", "tfqmr"])
def test_x0_and_zero_rhs(solver):
    p = problem("random_spd")
    x0 = np.random.default_rng(3).standard_normal(p.b.shape)
    x, info = getattr(jl, solver)(csr(p.A), p.b, x0, rtol=1e-10)
    x_ref, info_ref = getattr(spla, solver)(p.A, p.b, x0=x0.copy(), rtol=1e-10)
    assert int(info) == info_ref == 0
    assert rel_err(x, x_ref) < 1e-7
    x, info = getattr(jl, solver)(csr(p.A), np.zeros_like(p.b), np.ones_like(p.b))
    assert int(info) == 0 and not np.any(np.asarray(x))


@pytest.mark.parametrize("solver", ["bicgstab", "gmres", "bicg", "cgs"])
def test_preconditioner_as_linear_operator(solver):
    p = problem("nonsymmetric")
    d_inv = 1.0 / p.A.diagonal()
    M = jl.LinearOperator(p.A.shape, matvec=lambda v: jnp.asarray(d_inv) * v, dtype=np.float64)
    x, info = getattr(jl, solver)(csr(p.A), p.b, rtol=1e-12, maxiter=3, M=M)
    x_ref, info_ref = getattr(spla, solver)(
        p.A, p.b, rtol=1e-12, maxiter=3, M=sps.diags_array(d_inv)
    )
    assert int(info) == info_ref
    assert rel_err(x, x_ref) < 1e-10


def test_qmr_split_preconditioners():
    p = problem("nonsymmetric")
    d = p.A.diagonal()
    M1, M2 = sps.diags_array(1 / np.sqrt(d)), sps.diags_array(1 / np.sqrt(d))
    x, info = jl.qmr(csr(p.A), p.b, rtol=1e-12, maxiter=4, M1=csr(M1.tocsr()), M2=csr(M2.tocsr()))
    x_ref, info_ref = spla.qmr(
        p.A, p.b, rtol=1e-12, maxiter=4, M1=spla.aslinearoperator(M1), M2=spla.aslinearoperator(M2)
    )
    assert int(info) == info_ref
    assert rel_err(x, x_ref) < 1e-10


# -- callbacks --------------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["cg", "bicg", "bicgstab", "qmr", "tfqmr", "minres", "gcrotmk"])
def test_callback_sees_scipys_iterates(solver):
    p = problem("poisson1d")
    ours, ref = [], []
    import jaxsparse.scipy_compat.linalg as L

    kw = dict(rtol=1e-12, maxiter=5)
    getattr(L, solver)(csr(p.A), p.b, callback=lambda x: ours.append(np.array(x)), **kw)
    getattr(spla, solver)(p.A, p.b, callback=lambda x: ref.append(np.array(x)), **kw)
    assert len(ours) == len(ref) > 0
    np.testing.assert_allclose(np.stack(ours), np.stack(ref), rtol=1e-8, atol=1e-12)


@pytest.mark.parametrize("callback_type", ["x", "pr_norm", "legacy"])
def test_gmres_callback_types(callback_type):
    p = problem("nonsymmetric")
    ours, ref = [], []
    kw = dict(rtol=1e-12, restart=5, maxiter=3, callback_type=callback_type)
    x, info = jl.gmres(csr(p.A), p.b, callback=lambda v: ours.append(np.array(v)), **kw)
    x_ref, info_ref = spla.gmres(p.A, p.b, callback=lambda v: ref.append(np.array(v)), **kw)
    assert int(info) == info_ref
    assert len(ours) == len(ref) > 0
    np.testing.assert_allclose(np.stack(ours), np.stack(ref), rtol=1e-8, atol=1e-12)
    assert rel_err(x, x_ref) < 1e-10


def test_gmres_callback_without_type_warns_like_scipy():
    p = problem("poisson1d")
    with pytest.warns(DeprecationWarning, match="callback_type"):
        jl.gmres(csr(p.A), p.b, callback=lambda r: None, maxiter=1)
    with pytest.raises(ValueError, match="callback_type"):
        jl.gmres(csr(p.A), p.b, callback_type="nope")


# -- operators whose matvec is NumPy code --------------------------------------------
@pytest.mark.parametrize("solver", SQUARE + LEAST_SQUARES)
def test_numpy_matvec_falls_back_to_pure_callback(solver):
    p = problem("poisson1d")
    S = p.A
    calls = []

    def matvec(v):
        calls.append(1)
        return S @ np.asarray(v)  # np.asarray on a tracer raises: not traceable

    A = jl.LinearOperator(
        S.shape, matvec=matvec, rmatvec=lambda v: S.T @ np.asarray(v), dtype=np.float64
    )
    kw = {"iter_lim" if solver == "lsqr" else "maxiter": 30} if solver in LEAST_SQUARES else {}
    out = getattr(jl, solver)(A, p.b, **kw)
    ref = getattr(spla, solver)(S, p.b, **kw)
    assert int(out[1]) == int(ref[1])
    assert rel_err(out[0], ref[0]) < 1e-7
    assert calls  # the NumPy matvec ran, on the host


def test_plain_numpy_callable_and_scipy_linear_operator():
    p = problem("nonsymmetric")
    S = p.A
    x_ref, _ = spla.gmres(S, p.b, rtol=1e-10)
    x, info = jl.gmres(lambda v: S @ np.asarray(v), p.b, rtol=1e-10)
    assert int(info) == 0 and rel_err(x, x_ref) < 1e-8
    x, info = jl.bicg(spla.aslinearoperator(S), p.b, rtol=1e-10)
    assert int(info) == 0 and rel_err(x, x_ref) < 1e-8


# -- transformations ------------------------------------------------------------------
def _all_eqns(jaxpr):
    for eqn in jaxpr.eqns:
        yield eqn
        for v in eqn.params.values():
            for sub in v if isinstance(v, tuple | list) else (v,):
                if isinstance(sub, jax.extend.core.ClosedJaxpr):
                    yield from _all_eqns(sub.jaxpr)
                elif isinstance(sub, jax.extend.core.Jaxpr):
                    yield from _all_eqns(sub)


@pytest.mark.parametrize("solver", ["gmres", "bicgstab"])
def test_one_compiled_loop_without_host_calls(solver):
    p = problem("nonsymmetric")
    A = csr(p.A)
    f = jax.jit(lambda A, b: getattr(jl, solver)(A, b, rtol=1e-10))
    x, info = f(A, p.b)
    assert int(info) == 0
    names = [e.primitive.name for e in _all_eqns(jax.make_jaxpr(f)(A, p.b).jaxpr)]
    assert "custom_linear_solve" in names and "while" in names
    assert not any("callback" in n for n in names)


@pytest.mark.parametrize("solver", ["bicgstab", "gmres", "qmr", "gcrotmk"])
def test_grad_nonsymmetric(solver):
    p = problem("nonsymmetric")
    A = csr(p.A)
    w = np.random.default_rng(7).standard_normal(p.b.shape)

    def loss(data, b):
        x, _ = getattr(jl, solver)(A.with_data(data), b, rtol=1e-13, atol=0.0)
        return jnp.sum(w * x)

    g_data, g_b = jax.grad(loss, argnums=(0, 1))(A.data, jnp.asarray(p.b))
    D = p.A.toarray()
    gb_ref = np.linalg.solve(D.T, w)
    assert rel_err(g_b, gb_ref) < 1e-7
    x = np.linalg.solve(D, p.b)
    coo = A.tocoo()
    row, col = np.asarray(coo.row)[: p.A.nnz], np.asarray(coo.col)[: p.A.nnz]
    assert rel_err(np.asarray(g_data)[: p.A.nnz], -(gb_ref[row] * x[col])) < 1e-7


def test_grad_minres_and_jvp_gmres():
    p = problem("random_spd")
    A = csr(p.A)
    g = jax.grad(lambda b: jnp.sum(jl.minres(A, b, rtol=1e-13)[0] ** 2))(jnp.asarray(p.b))
    x = np.linalg.solve(p.A.toarray(), p.b)
    assert rel_err(g, 2 * np.linalg.solve(p.A.toarray(), x)) < 1e-6
    t = np.random.default_rng(9).standard_normal(p.b.shape)
    _, x_dot = jax.jvp(lambda b: jl.gmres(A, b, rtol=1e-13)[0], (p.b,), (t,))
    assert rel_err(x_dot, np.linalg.solve(p.A.toarray(), t)) < 1e-8


def test_vmap_over_rhs():
    p = problem("nonsymmetric")
    B = np.random.default_rng(5).standard_normal((3, p.b.size))
    X, info = jax.vmap(lambda b: jl.bicgstab(csr(p.A), b, rtol=1e-10))(B)
    assert np.all(np.asarray(info) == 0)
    for x, b in zip(np.asarray(X), B, strict=True):
        assert rel_err(x, spla.bicgstab(p.A, b, rtol=1e-10)[0]) < 1e-7


# -- sharded matrices -------------------------------------------------------------------
@pytest.mark.parametrize("solver", ["gmres", "bicgstab"])
def test_sharded_matrix_on_four_devices(solver):
    p = problem("nonsymmetric")
    mesh = jax.make_mesh((4,), ("x",), axis_types=(AxisType.Explicit,), devices=jax.devices()[:4])
    As = jsh.shard(p.A, mesh, "x")
    bs = As.shard_vector(p.b)
    x_ref, info_ref = getattr(spla, solver)(p.A, p.b, rtol=1e-10)
    with jax.set_mesh(mesh):
        xs, info = jax.jit(lambda A, b: getattr(jl, solver)(A, b, rtol=1e-10))(As, bs)
    assert xs.sharding == bs.sharding
    assert int(info) == info_ref == 0
    assert rel_err(As.unshard_vector(xs), x_ref) < 1e-7
    x_plain, info = getattr(jl, solver)(As, p.b, rtol=1e-10)  # global b, laid out inside
    assert int(info) == 0 and rel_err(x_plain, x_ref) < 1e-7


# -- the drop-in's signatures and conventions ------------------------------------------
@pytest.mark.parametrize("solver", ("cg",) + SQUARE[1:] + LEAST_SQUARES)
def test_scipy_compat_signatures(solver):
    import jaxsparse.scipy_compat.linalg as L

    ours = inspect.signature(getattr(L, solver))
    theirs = inspect.signature(getattr(spla, solver))
    assert [(q.name, q.kind, q.default) for q in ours.parameters.values()] == [
        (q.name, q.kind, q.default) for q in theirs.parameters.values()
    ]


def test_scipy_compat_accepts_scipy_and_dropin_matrices():
    import jaxsparse.scipy_compat as sp
    import jaxsparse.scipy_compat.linalg as L

    p = problem("nonsymmetric")
    x_ref, _ = spla.bicgstab(p.A, p.b, rtol=1e-10)
    for A in (p.A, sp.csr_array(p.A)):
        x, info = L.bicgstab(A, p.b, rtol=1e-10)
        assert info == 0 and isinstance(info, int)
        assert rel_err(x, x_ref) < 1e-8
    q = problem("poisson1d")
    x, info = L.cg(sp.csr_array(q.A), q.b, rtol=1e-10)
    assert info == 0
    assert rel_err(x, spla.cg(q.A, q.b, rtol=1e-10)[0]) < 1e-8


def test_errors():
    p = problem("poisson1d")
    with pytest.raises(ValueError, match="1-D"):
        jl.bicgstab(csr(p.A), p.b[:, None])
    with pytest.raises(ValueError, match="shape"):
        jl.gmres(csr(p.A), p.b[:-1])
    with pytest.raises(ValueError, match="x0"):
        jl.qmr(csr(p.A), p.b, x0=p.b[:-1])
    with pytest.raises(ValueError, match="truncate"):
        jl.gcrotmk(csr(p.A), p.b, truncate="nope")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TypeError):
            jl.cgs("not a matrix", p.b)
