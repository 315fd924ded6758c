"""Solver faults (non-convergence, breakdowns, indefinite and NaN input) and options that
no other test exercises, each against SciPy on the same input."""

from __future__ import annotations

import warnings

import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from solver_problems import problem

import jaxsparse as js
import jaxsparse.linalg as jl

CAPACITY = 36 * 36  # test_solvers.py's capacity: the compiled solver loops are shared


def csr(S):
    return js.CSR.fromdense(S.toarray(), nse=CAPACITY)


def rel_err(x, ref):
    return np.linalg.norm(np.asarray(x) - ref) / max(np.linalg.norm(ref), 1e-300)


def scipy_quiet(f, *args, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return f(*args, **kw)


# -- faults ---------------------------------------------------------------------------
SWAP = np.array([[0.0, 1.0], [1.0, 0.0]])  # r0 = e1: the shadow residual is orthogonal to A p


@pytest.mark.parametrize("solver", ["bicg", "bicgstab", "cgs", "qmr", "tfqmr"])
@pytest.mark.parametrize("x0", [None, [0.0, 0.5]])  # r0 = b - A x0 is along e1 again
def test_breakdown_reported_through_info_as_scipy(solver, x0):
    A, b = sps.csr_array(SWAP), np.array([1.0, 0.0])
    x0 = None if x0 is None else np.array(x0)
    x, info = getattr(jl, solver)(js.CSR.from_scipy(A), b, x0, maxiter=20)
    x_ref, info_ref = scipy_quiet(getattr(spla, solver), A, b, x0=x0, maxiter=20)
    assert info_ref < 0  # a breakdown, not a convergence or an iteration limit
    assert int(info) == info_ref
    assert np.all(np.isfinite(np.asarray(x)))  # the last good iterate, never a NaN
    np.testing.assert_allclose(np.asarray(x), x_ref, atol=1e-14)


# rho == 0 with r != 0: r0 = e1, one step gives r1 = -e3 (bicg: r~1 = 0), so
# rho = <r~, r1> is exactly zero in the second iteration, after x has moved.
ORTHO = np.array([[-1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [-1.0, -1.0, -1.0]])


def csr3(S):
    """A 3 x 3 problem with ORTHO's capacity: every 3 x 3 case shares compiled loops."""
    return js.CSR.fromdense(S.toarray(), nse=5)


@pytest.mark.parametrize("solver", ["bicg", "bicgstab", "cgs"])
@pytest.mark.parametrize("dtype", [np.float64, np.complex128])
def test_rho_breakdown_in_the_second_iteration_as_scipy(solver, dtype):
    import jax.numpy as jnp

    import jaxsparse.scipy_compat as sp
    import jaxsparse.scipy_compat.linalg as L

    A = sps.csr_array(ORTHO.astype(dtype))
    b = np.array([1.0, 0.0, 0.0], dtype) * (1j if dtype == np.complex128 else 1)
    steps = []
    x_ref, info_ref = scipy_quiet(getattr(spla, solver), A, b, maxiter=20,
                                  callback=steps.append)
    assert (info_ref, len(steps)) == (-10, 1)  # rho breakdown after one step
    assert np.linalg.norm(b - A @ x_ref) > 0.5  # not a converged residual
    x, info = getattr(jl, solver)(csr3(A), b, maxiter=20)
    assert int(info) == -10
    np.testing.assert_allclose(np.asarray(x), x_ref, atol=1e-14)
    if dtype == np.complex128:
        return
    # the drop-in, on its JAX route (a jax.Array b)
    x, info = getattr(L, solver)(sp.csr_array(A), jnp.asarray(b), maxiter=20)
    assert int(info) == -10
    np.testing.assert_allclose(np.asarray(x), x_ref, atol=1e-14)


@pytest.mark.parametrize("solver", ["bicg", "bicgstab", "cgs", "qmr"])
def test_rho_below_the_dtypes_tolerance_as_scipy(solver):
    """rho = |b|^2 at the first iteration; SciPy's tolerance is keyed by dtype (eps^2
    for bicg/bicgstab/cgs, eps for qmr): b = 1e-8 breaks down in float32 only."""
    A = sps.csr_array(np.diag([2.0, 3.0, 4.0]))
    for dtype, expected in ((np.float32, -10), (np.float64, 0)):
        S, b = A.astype(dtype), np.full(3, 1e-8, dtype)
        x_ref, info_ref = scipy_quiet(getattr(spla, solver), S, b, maxiter=20)
        x, info = getattr(jl, solver)(csr3(S), b, maxiter=20)
        assert int(info) == info_ref == expected, dtype
        assert np.asarray(x).dtype == x_ref.dtype == dtype
        np.testing.assert_allclose(np.asarray(x), x_ref, rtol=1e-6, atol=0)
        if expected:
            assert not np.asarray(x).any()  # x0, untouched


def test_qmr_rho_breakdown_after_an_exact_step_as_scipy():
    """rtol=0 never counts as converged: on 2 I, one QMR step solves exactly, the next
    Lanczos vector is zero and SciPy reports a rho breakdown with the exact x."""
    A, b = sps.csr_array(2.0 * np.eye(3)), np.array([1.0, 2.0, 3.0])
    x_ref, info_ref = scipy_quiet(spla.qmr, A, b, rtol=0.0, maxiter=20)
    x, info = jl.qmr(csr3(A), b, rtol=0.0, maxiter=20)
    assert int(info) == info_ref == -10
    np.testing.assert_array_equal(np.asarray(x), x_ref)
    np.testing.assert_array_equal(x_ref, b / 2)


def test_cg_on_an_indefinite_matrix_fails_as_scipy():
    """p^H A p == 0 on diag(1, -1): SciPy divides by zero, iterates NaN to maxiter and
    reports info == maxiter; so must we (never info == 0)."""
    A, b = sps.csr_array(np.diag([1.0, -1.0])), np.ones(2)
    x, info = jl.cg(js.CSR.from_scipy(A), b, maxiter=7)
    x_ref, info_ref = scipy_quiet(spla.cg, A, b, maxiter=7)
    assert int(info) == info_ref == 7
    assert np.isnan(x_ref).all() and np.isnan(np.asarray(x)).all()


@pytest.mark.parametrize(
    "solver", ["cg", "bicg", "bicgstab", "cgs", "gmres", "qmr", "minres", "tfqmr"]
)
def test_nan_rhs_fails_as_scipy(solver):
    """norm(b) is NaN: SciPy iterates to maxiter and returns NaN with info == maxiter. Here
    a NaN norm used to count as a zero b (``bnorm > 0`` is False): cg returned b with
    info == 0, the others b itself."""
    A = sps.csr_array(np.diag([2.0, 3.0, 4.0]))
    b = np.array([1.0, np.nan, 1.0])
    x, info = getattr(jl, solver)(js.CSR.from_scipy(A), b, maxiter=5)
    x_ref, info_ref = scipy_quiet(getattr(spla, solver), A, b, maxiter=5)
    assert int(info) == info_ref == 5
    assert np.isnan(x_ref).all() and np.isnan(np.asarray(x)).all()


@pytest.mark.parametrize("solver", ["lgmres", "gcrotmk"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_lgmres_and_gcrotmk_refuse_a_non_finite_rhs_as_scipy(solver, bad):
    A = sps.csr_array(np.diag([2.0, 3.0, 4.0]))
    b = np.array([1.0, bad, 1.0])
    with pytest.raises(ValueError, match="RHS must contain only finite numbers") as ours:
        getattr(jl, solver)(js.CSR.from_scipy(A), b)
    with pytest.raises(ValueError) as theirs:
        getattr(spla, solver)(A, b)
    assert str(ours.value) == str(theirs.value)


# -- options --------------------------------------------------------------------------
def test_minres_shift():
    p = problem("random_spd")
    x, info = jl.minres(csr(p.A), p.b, shift=0.5, rtol=1e-10)
    x_ref, info_ref = spla.minres(p.A, p.b, shift=0.5, rtol=1e-10)
    assert int(info) == info_ref == 0
    assert rel_err(x, x_ref) < 1e-7
    shifted = p.A - 0.5 * sps.eye_array(p.A.shape[0])
    assert np.linalg.norm(shifted @ np.asarray(x) - p.b) < 1e-7 * np.linalg.norm(p.b)
    assert np.linalg.norm(p.A @ np.asarray(x) - p.b) > 0.1  # the shift was not ignored


def test_lsqr_calc_var_and_conlim():
    p = problem("nonsymmetric")
    # 10 iterations: var sums every dk**2, so near Krylov exhaustion it is rounding noise
    kw = dict(atol=1e-10, btol=1e-10, iter_lim=10, calc_var=True)
    out = jl.lsqr(csr(p.A), p.b, **kw)
    ref = spla.lsqr(p.A, p.b, **kw)
    assert (int(out[1]), int(out[2])) == (ref[1], ref[2])
    assert rel_err(out[0], ref[0]) < 1e-6
    np.testing.assert_allclose(np.asarray(out[9]), ref[9], rtol=1e-6)
    assert np.all(ref[9] > 0)
    # a condition limit below cond(A) stops early with istop 3, as in SciPy
    kw = dict(atol=1e-10, btol=1e-10, iter_lim=30, conlim=2.0)
    out, ref = jl.lsqr(csr(p.A), p.b, **kw), spla.lsqr(p.A, p.b, **kw)
    assert (int(out[1]), int(out[2])) == (ref[1], ref[2])
    assert ref[1] == 3
    assert rel_err(out[0], ref[0]) < 1e-8


def test_lsmr_conlim():
    p = problem("nonsymmetric")
    kw = dict(atol=1e-10, btol=1e-10, maxiter=30, conlim=2.0)
    out, ref = jl.lsmr(csr(p.A), p.b, **kw), spla.lsmr(p.A, p.b, **kw)
    assert (int(out[1]), int(out[2])) == (ref[1], ref[2])
    assert ref[1] == 3
    assert rel_err(out[0], ref[0]) < 1e-8


N_EIG = 40
A_EIG = sps.diags_array(
    [-np.ones(N_EIG - 1), np.linspace(2, 6, N_EIG), -np.ones(N_EIG - 1)], offsets=[-1, 0, 1]
).tocsr()
M_EIG = sps.diags_array(np.linspace(1, 2, N_EIG)).tocsr()


def test_eigsh_with_minv_and_opinv():
    M_inv = sps.diags_array(1 / M_EIG.diagonal()).tocsr()
    w = jl.eigsh(js.CSR.from_scipy(A_EIG), 3, M=js.CSR.from_scipy(M_EIG),
                 Minv=js.CSR.from_scipy(M_inv), return_eigenvectors=False)
    ref = spla.eigsh(A_EIG, 3, M=M_EIG, Minv=spla.aslinearoperator(M_inv),
                     return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(np.asarray(w)), np.sort(ref), rtol=1e-8)
    # OPinv: the shift-inverted operator supplied by the caller
    lu = spla.splu((A_EIG - 3.0 * sps.eye_array(N_EIG)).tocsc())
    OPinv = spla.LinearOperator((N_EIG, N_EIG), matvec=lu.solve, dtype=float)
    w = jl.eigsh(js.CSR.from_scipy(A_EIG), 3, sigma=3.0, OPinv=OPinv, return_eigenvectors=False)
    ref = spla.eigsh(A_EIG, 3, sigma=3.0, OPinv=OPinv, return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(np.asarray(w)), np.sort(ref), rtol=1e-8)
    # a wrong OPinv is used, not ignored: the identity maps every eigenvalue to sigma + 1
    ident = spla.LinearOperator((N_EIG, N_EIG), matvec=lambda v: v, dtype=float)
    w = jl.eigsh(js.CSR.from_scipy(A_EIG), 3, sigma=3.0, OPinv=ident, return_eigenvectors=False)
    np.testing.assert_allclose(np.asarray(w), 4.0, rtol=1e-8)


@pytest.mark.parametrize("eig", ["eigsh", "eigs"])
def test_inverse_options_the_mode_would_not_use_raise_as_scipy(eig):
    A, M = js.CSR.from_scipy(A_EIG), js.CSR.from_scipy(M_EIG)
    cases = [
        (dict(OPinv=M), "OPinv should not be specified with sigma = None"),
        (dict(Minv=M), "Minv should not be specified with M = None"),
        (dict(sigma=1.0, Minv=M), "Minv should not be specified when sigma"),
    ]
    for kw, msg in cases:
        with pytest.raises(ValueError, match=msg):
            getattr(jl, eig)(A, 3, **kw)
        with pytest.raises(ValueError, match=msg.split()[0]):
            getattr(spla, eig)(A_EIG, 3, **{k: (M_EIG if k != "sigma" else v)
                                            for k, v in kw.items()})


def test_eigs_with_minv_opinv_and_oppart():
    S = (A_EIG + sps.diags_array(np.ones(N_EIG - 2), offsets=2)).tocsr()  # nonsymmetric
    A = js.CSR.from_scipy(S)
    M_inv = sps.diags_array(1 / M_EIG.diagonal()).tocsr()
    w = jl.eigs(A, 3, M=js.CSR.from_scipy(M_EIG), Minv=js.CSR.from_scipy(M_inv),
                return_eigenvectors=False)
    ref = spla.eigs(S, 3, M=M_EIG, Minv=spla.aslinearoperator(M_inv),
                    return_eigenvectors=False)
    np.testing.assert_allclose(np.sort_complex(np.asarray(w)), np.sort_complex(ref), rtol=1e-8)
    lu = spla.splu((S - 3.0 * sps.eye_array(N_EIG)).tocsc())
    # a real operator, as SciPy's real Arnoldi takes it: lu.solve refuses complex vectors
    OPinv = spla.LinearOperator((N_EIG, N_EIG), matvec=lu.solve, dtype=float)
    for OPpart in (None, "r"):  # real sigma: the real part of OP is OP itself
        w = jl.eigs(A, 3, sigma=3.0, OPinv=OPinv, OPpart=OPpart, return_eigenvectors=False)
        ref = spla.eigs(S, 3, sigma=3.0, OPinv=OPinv, OPpart=OPpart, return_eigenvectors=False)
        np.testing.assert_allclose(np.sort_complex(np.asarray(w)), np.sort_complex(ref),
                                   rtol=1e-8)
    for kw, err in ((dict(OPpart="r"), ValueError),  # no sigma: SciPy refuses it too
                    (dict(sigma=3.0, OPpart="i"), ValueError),
                    (dict(sigma=3.0, OPpart="x"), ValueError)):
        with pytest.raises(err, match="OPpart"):
            jl.eigs(A, 3, **kw)
        with pytest.raises(err, match="OPpart"):
            spla.eigs(S, 3, **kw)
    # SciPy's answer uses Re/Im of the complex operator; ours would not: refuse
    with pytest.raises(NotImplementedError, match="OPpart"):
        jl.eigs(A, 3, sigma=3.0 + 0.5j, OPpart="i")


def test_eigs_with_a_real_numpy_opinv():
    """A real problem's OPinv given as real NumPy code (SuperLU's solve, which refuses
    complex vectors and JAX tracers; a dense NumPy inverse): SciPy's real Arnoldi hands it
    real vectors only. Our complex iteration used to pass it complex ones and failed."""
    S = (A_EIG + sps.diags_array(np.ones(N_EIG - 2), offsets=2)).tocsr()  # nonsymmetric
    shifted = (S - 2.9 * sps.eye_array(N_EIG)).tocsc()
    lu = spla.splu(shifted)
    ref = spla.eigs(S, 4, sigma=2.9, return_eigenvectors=False)
    assert np.abs(ref.imag).max() > 0.03  # a complex pair: complex vectors from a real OPinv
    OPinv = spla.LinearOperator((N_EIG, N_EIG), matvec=lu.solve, dtype=float)
    ref = spla.eigs(S, 4, sigma=2.9, OPinv=OPinv, return_eigenvectors=False)
    w, v = jl.eigs(js.CSR.from_scipy(S), 4, sigma=2.9, OPinv=OPinv)
    w, v = np.asarray(w), np.asarray(v)
    np.testing.assert_allclose(by_value(w), by_value(ref), rtol=1e-8)
    assert np.linalg.norm(S @ v - v * w) < 1e-8 * np.linalg.norm(v)
    # a plain callable needs no dtype: a real problem's OPinv is taken as real (each of
    # these calls compiles the iteration afresh, ~3 s: one more case only)
    w = jl.eigs(js.CSR.from_scipy(S), 4, sigma=2.9, OPinv=lu.solve, return_eigenvectors=False)
    np.testing.assert_allclose(by_value(np.asarray(w)), by_value(ref), rtol=1e-8)


def by_value(w):
    """Eigenvalues in a rounding-proof order: a conjugate pair's real parts differ in the
    last digits, which ``np.sort_complex`` would let swap the pair."""
    return w[np.lexsort((w.imag, np.round(w.real, 6)))]


@pytest.mark.parametrize("traceA", [None, 0.0, 160.0])
def test_expm_multiply_trace_a(traceA):
    S = (-0.1 * A_EIG).tocsr()
    B = np.random.default_rng(0).standard_normal((N_EIG, 2))
    kw = {} if traceA is None else dict(traceA=traceA)
    ref = spla.expm_multiply(S, B, **kw)
    out = jl.expm_multiply(js.CSR.from_scipy(S), jnp.asarray(B), **kw)
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-10, atol=1e-12)
    op = spla.aslinearoperator(S)  # an operator: the shift is traceA / n, or 0 without it
    ref = spla.expm_multiply(op, B, traceA=float(S.trace()))
    out = jl.expm_multiply(jl.aslinearoperator(js.CSR.from_scipy(S)), jnp.asarray(B),
                           traceA=float(S.trace()))
    np.testing.assert_allclose(np.asarray(out), ref, rtol=1e-10, atol=1e-12)


def test_onenormest_itmax():
    rng = np.random.default_rng(0)
    S = sps.random_array((N_EIG, N_EIG), density=0.2, rng=rng, data_sampler=rng.standard_normal)
    exact = np.abs(S.toarray()).sum(axis=0).max()
    A = js.CSR.from_scipy(S.tocsr())
    for itmax in (2, 5):
        est = float(jl.onenormest(A, itmax=itmax))
        ref = spla.onenormest(S, itmax=itmax)
        assert 0.3 * exact <= est <= exact * (1 + 1e-12)
        assert 0.3 * exact <= ref <= exact * (1 + 1e-12)
    # t >= n: exact, whatever itmax, in SciPy and here
    assert float(jl.onenormest(A, t=N_EIG, itmax=2)) == pytest.approx(exact, rel=1e-12)
    assert spla.onenormest(S, t=N_EIG, itmax=2) == pytest.approx(exact, rel=1e-12)
    for bad in (1, 0):
        with pytest.raises(ValueError, match="two iterations"):
            jl.onenormest(A, itmax=bad)
        with pytest.raises(ValueError, match="two iterations"):
            spla.onenormest(S, itmax=bad)




@pytest.mark.parametrize("kw", [
    dict(permc_spec="NATURAL"),
    dict(permc_spec="MMD_ATA", diag_pivot_thresh=0.1),
    dict(permc_spec="COLAMD", relax=1, panel_size=4),
    dict(options=dict(SymmetricMode=True), diag_pivot_thresh=0.0),
])
def test_splu_options_forwarded_to_superlu(kw):
    S = problem("nonsymmetric").A.tocsc()
    b = problem("nonsymmetric").b
    lu, ref = jl.splu(js.CSR.from_scipy(S), **kw), spla.splu(S, **kw)
    np.testing.assert_array_equal(lu.perm_r, ref.perm_r)
    np.testing.assert_array_equal(lu.perm_c, ref.perm_c)
    assert lu.nnz == ref.nnz
    np.testing.assert_allclose(np.asarray(lu.solve(jnp.asarray(b))), ref.solve(b), rtol=1e-12)
    x = jl.spsolve(js.CSR.from_scipy(S), jnp.asarray(b),
                   permc_spec=kw.get("permc_spec"))
    x_ref = spla.spsolve(S, b, permc_spec=kw.get("permc_spec"))
    np.testing.assert_allclose(np.asarray(x), x_ref, rtol=1e-12)


@pytest.mark.parametrize("kw", [
    dict(drop_tol=1e-1, fill_factor=2),
    dict(drop_tol=1e-3, fill_factor=10, permc_spec="NATURAL"),
    dict(drop_tol=1e-2, drop_rule="basic,area", diag_pivot_thresh=0.5),
])
def test_spilu_options_forwarded_to_superlu(kw):
    S = problem("nonsymmetric").A.tocsc()
    b = problem("nonsymmetric").b
    ilu, ref = jl.spilu(js.CSR.from_scipy(S), **kw), spla.spilu(S, **kw)
    np.testing.assert_array_equal(ilu.perm_c, ref.perm_c)
    assert ilu.nnz == ref.nnz
    np.testing.assert_allclose(np.asarray(ilu.solve(jnp.asarray(b))), ref.solve(b), rtol=1e-12)
    assert ref.nnz != spla.splu(S).nnz  # the options change the factors
