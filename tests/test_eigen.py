"""eigsh / eigs / svds / lobpcg against SciPy (ARPACK) on the shared problem set.

Compile budget: the Krylov–Schur kernel compiles once per (operator structure, dtype, k,
ncv); ``which`` is a traced value, so every ``which`` shares one executable.
"""

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as sla
from solver_problems import complex_nonsymmetric, nonsymmetric, poisson1d, poisson2d, random_spd

import jaxsparse as js
from jaxsparse.linalg import ArpackNoConvergence, eigs, eigsh, lobpcg, svds

K = 4


def _v0(n):
    """A fixed start for SciPy's reference runs. ARPACK finds the further copies of a
    repeated eigenvalue through round-off: from its own random start it misses one on
    poisson2d in about 5% of runs (which makes an unseeded reference flaky)."""
    return np.random.default_rng(0).standard_normal(n)


def _residual(S, lam, X):
    X, lam = np.asarray(X), np.asarray(lam)
    return np.linalg.norm(S @ X - X * lam, axis=0).max() / max(1.0, np.abs(lam).max())


@pytest.fixture(scope="module")
def hermitian_problems():
    # poisson2d's square grid has double eigenvalues: ARPACK returns every copy, so must we
    return {"poisson1d": poisson1d(), "poisson2d": poisson2d(), "random_spd": random_spd()}


@pytest.mark.parametrize("which", ["LM", "SM", "LA", "SA", "BE"])
@pytest.mark.parametrize("name", ["poisson1d", "poisson2d", "random_spd"])
def test_eigsh_which(hermitian_problems, name, which):
    S = hermitian_problems[name]
    A = jnp.asarray(S.toarray())  # dense operator: one compile serves all problems
    lam, X = eigsh(A, K, which=which)
    ref = sla.eigsh(S, K, which=which, v0=_v0(S.shape[0]))[0]
    np.testing.assert_allclose(np.asarray(lam), ref, rtol=1e-10, atol=1e-10)
    assert _residual(S, lam, X) < 1e-8
    # SciPy's order without eigenvectors too
    np.testing.assert_allclose(
        np.asarray(eigsh(A, K, which=which, return_eigenvectors=False)),
        sla.eigsh(S, K, which=which, v0=_v0(S.shape[0]), return_eigenvectors=False),
        rtol=1e-10,
        atol=1e-10,
    )


def _check_subspace(S, lam, X, ref_vectors):
    """Residuals, orthonormal vectors (distinct copies) and the invariant subspace of
    ``ref_vectors`` (SciPy's or the exact eigenvectors)."""
    X = np.asarray(X)
    assert _residual(S, lam, X) < 1e-8
    np.testing.assert_allclose(X.T @ X, np.eye(X.shape[1]), atol=1e-8)
    R = np.asarray(ref_vectors)
    assert np.linalg.norm(X @ X.T - R @ R.T, 2) < 1e-6


@pytest.mark.parametrize("which", ["LM", "SA"])
def test_eigsh_repeated_eigenvalues_poisson2d(which):
    S = poisson2d(10)  # 10 x 10 grid: most eigenvalues are double
    lam, X = eigsh(jnp.asarray(S.toarray()), 6, which=which)
    ref, V = sla.eigsh(S, 6, which=which, v0=_v0(100))
    assert len(np.unique(np.round(ref, 8))) < 6  # SciPy returns copies ...
    np.testing.assert_allclose(np.asarray(lam), ref, rtol=1e-8)  # ... and so do we
    exact = np.linalg.eigvalsh(S.toarray())
    np.testing.assert_allclose(np.asarray(lam), exact[-6:] if which == "LM" else exact[:6])
    _check_subspace(S, lam, X, V)


def test_eigsh_triple_eigenvalue_and_jit():
    d = np.arange(1.0, 101.0)
    d[:3], d[-3:] = 1.0, 100.0
    A = jnp.diag(jnp.asarray(d))  # the same executable as the poisson2d test above
    for which, ref in (("SA", [1, 1, 1, 4, 5, 6]), ("LM", [95, 96, 97, 100, 100, 100])):
        lam, X = eigsh(A, 6, which=which)
        np.testing.assert_allclose(np.asarray(lam), ref, rtol=1e-10)
        ref_scipy = sla.eigsh(np.diag(d), 6, which=which, v0=_v0(100))[0]
        np.testing.assert_allclose(np.asarray(lam), ref_scipy, rtol=1e-10)
        exact = np.eye(100)[:, np.argsort(d)[:6] if which == "SA" else np.argsort(d)[-6:]]
        _check_subspace(np.diag(d), lam, X, exact)
    f = jax.jit(lambda A: eigsh(A, 6, which="SA", return_eigenvectors=False))
    np.testing.assert_allclose(np.sort(np.asarray(f(A))), [1, 1, 1, 4, 5, 6], rtol=1e-10)


def test_eigsh_sparse_inputs_and_jit():
    S = poisson1d()
    ref = sla.eigsh(S, K, which="LA")[0]
    for A in (js.CSR.from_scipy(S), S):  # core format, SciPy matrix (copied)
        np.testing.assert_allclose(np.asarray(eigsh(A, K, which="LA")[0]), ref, rtol=1e-10)
    f = jax.jit(lambda A: eigsh(A, K, which="LA", return_eigenvectors=False))
    np.testing.assert_allclose(np.sort(np.asarray(f(js.CSR.from_scipy(S)))), ref, rtol=1e-10)


def test_eigsh_complex_hermitian():
    rng = np.random.default_rng(3)
    R = rng.standard_normal((36, 36)) + 1j * rng.standard_normal((36, 36))
    H = R + R.conj().T
    lam, X = eigsh(jnp.asarray(H), K, which="LA")
    # SciPy's complex path (znaupd) returns these in descending order: compare sorted
    np.testing.assert_allclose(np.asarray(lam), np.sort(sla.eigsh(H, K, which="LA")[0]), rtol=1e-10)
    assert _residual(H, lam, X) < 1e-8


@pytest.mark.parametrize("mode", ["normal", "buckling", "cayley"])
def test_eigsh_shift_invert(mode):
    S = poisson2d().tocsc()
    lam, X = eigsh(js.CSR.from_scipy(S), 3, sigma=0.5, mode=mode)
    ref = sla.eigsh(S, 3, sigma=0.5, mode=mode)[0]
    np.testing.assert_allclose(np.asarray(lam), ref, rtol=1e-9)
    assert _residual(S, lam, X) < 1e-8


def test_eigsh_generalized():
    S = poisson2d()
    Ms = sps.diags_array(np.linspace(1, 2, 36)).tocsr()
    A, M = js.CSR.from_scipy(S), js.CSR.from_scipy(Ms)
    np.testing.assert_allclose(
        np.asarray(eigsh(A, 3, M=M, which="LA")[0]), sla.eigsh(S, 3, M=Ms, which="LA")[0], rtol=1e-9
    )
    lam, X = eigsh(A, 3, M=M, sigma=0.3)
    np.testing.assert_allclose(np.asarray(lam), sla.eigsh(S, 3, M=Ms, sigma=0.3)[0], rtol=1e-9)
    X = np.asarray(X)
    np.testing.assert_allclose(S @ X, (Ms @ X) * np.asarray(lam), atol=1e-8)


def test_eigsh_no_convergence_carries_partial_results():
    S = poisson1d(200)
    with pytest.raises(ArpackNoConvergence) as e:
        eigsh(js.CSR.from_scipy(S), 4, which="SM", maxiter=2, ncv=9)
    err = e.value
    assert isinstance(err, sla.ArpackNoConvergence)  # SciPy's except clauses catch it
    assert err.eigenvalues.shape[0] == err.eigenvectors.shape[1] < 4


def test_eigsh_errors():
    A = jnp.eye(10)
    with pytest.raises(ValueError):
        eigsh(A, 0)
    with pytest.raises(ValueError):
        eigsh(A, 3, which="LR")
    with pytest.raises(TypeError):
        eigsh(js.CSR.from_scipy(sps.eye_array(10, format="csr")), 10)


def _match_conj_insensitive(lam, ref):
    a = np.sort_complex(np.asarray(lam).real + 1j * np.abs(np.asarray(lam).imag))
    b = np.sort_complex(ref.real + 1j * np.abs(ref.imag))
    np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-8)


@pytest.mark.parametrize("which", ["LM", "SM", "LR", "SR", "LI", "SI"])
def test_eigs_complex(which):
    S = complex_nonsymmetric()
    lam, X = eigs(jnp.asarray(S.toarray()), K, which=which)
    ref = sla.eigs(S, K, which=which)[0]
    np.testing.assert_allclose(np.sort_complex(np.asarray(lam)), np.sort_complex(ref), rtol=1e-8)
    assert _residual(S, lam, X) < 1e-8


@pytest.mark.parametrize("which", ["LM", "SM", "LR", "SR"])
def test_eigs_real_nonsymmetric(which):
    S = nonsymmetric()
    lam, X = eigs(jnp.asarray(S.toarray()), K, which=which)
    # a conjugate pair may be split at the k-th value: compare up to conjugation
    _match_conj_insensitive(lam, sla.eigs(S, K, which=which)[0])
    assert _residual(S, lam, X) < 1e-8


def test_eigs_shift_invert_and_sparse():
    S = nonsymmetric()
    A = js.CSR.from_scipy(S)
    lam, X = eigs(A, 3, sigma=1.0)
    _match_conj_insensitive(lam, sla.eigs(S, 3, sigma=1.0)[0])
    assert _residual(S, lam, X) < 1e-8


@pytest.mark.parametrize("which", ["LM", "SR"])
def test_eigs_repeated_eigenvalue(which):
    """Two identical nonsymmetric blocks: every eigenvalue is double."""
    rng = np.random.default_rng(5)
    Q = np.eye(30) + 0.3 * rng.standard_normal((30, 30)) / np.sqrt(30)
    B = Q @ np.diag(np.linspace(1.0, 10.0, 30)) @ np.linalg.inv(Q)
    S = sps.block_diag([B, B]).tocsr()
    lam, X = eigs(jnp.asarray(S.toarray()), K, which=which)
    ref = sla.eigs(S, K, which=which, v0=_v0(60))[0]
    exact = (
        [9.68965517241379, 9.68965517241379, 10, 10]
        if which == "LM"
        else [1, 1, 1.3103448275862069, 1.3103448275862069]
    )
    np.testing.assert_allclose(np.sort(np.asarray(lam).real), np.sort(ref.real), rtol=1e-8)
    np.testing.assert_allclose(np.sort(np.asarray(lam).real), exact, rtol=1e-8)
    np.testing.assert_allclose(np.asarray(lam).imag, 0, atol=1e-8)
    assert _residual(S, lam, X) < 1e-8
    assert np.linalg.svd(np.asarray(X), compute_uv=False).min() > 0.1  # independent copies


@pytest.mark.parametrize("shape", [(40, 30), (30, 40)])
@pytest.mark.parametrize("which", ["LM", "SM"])
def test_svds(shape, which):
    S = sps.random_array(shape, density=0.2, rng=np.random.default_rng(0), format="csr")
    u, s, vh = svds(js.CSR.from_scipy(S), 3, which=which)
    ref = sla.svds(S, 3, which=which)[1]
    np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-8)
    np.testing.assert_allclose(S @ np.asarray(vh).T, np.asarray(u) * np.asarray(s), atol=1e-8)
    np.testing.assert_allclose(
        np.asarray(svds(js.CSR.from_scipy(S), 3, which=which, return_singular_vectors=False)),
        ref,
        rtol=1e-8,
    )
    u2, s2, vh2 = svds(js.CSR.from_scipy(S), 3, which=which, return_singular_vectors="u")
    assert vh2 is None and u2.shape == (shape[0], 3)
    np.testing.assert_allclose(np.asarray(s2), ref, rtol=1e-8)
    # the same left singular vectors as SciPy's, up to sign (distinct singular values)
    u_ref = sla.svds(S, 3, which=which, return_singular_vectors="u")[0]
    order, order_ref = np.argsort(np.asarray(s2)), np.argsort(ref)
    cos = np.abs(np.sum(np.asarray(u2)[:, order] * u_ref[:, order_ref], axis=0))
    np.testing.assert_allclose(cos, 1.0, atol=1e-8)


def test_svds_lobpcg_solver():
    """solver='lobpcg' runs LOBPCG on the Gram operator, as SciPy's does."""
    S = sps.random_array((120, 80), density=0.1, rng=np.random.default_rng(0), format="csr")
    exact = np.linalg.svd(S.toarray(), compute_uv=False)
    for which, ref in (("LM", np.sort(exact[:3])), ("SM", np.sort(exact[-3:]))):
        u, s, vh = svds(js.CSR.from_scipy(S), 3, which=which, solver="lobpcg", maxiter=200)
        with warnings.catch_warnings():  # SciPy's 'SM' stops short of its tolerance
            warnings.simplefilter("ignore", UserWarning)
            scipy_s = sla.svds(S, 3, which=which, solver="lobpcg", maxiter=200, rng=0)[1]
        np.testing.assert_allclose(np.asarray(s), scipy_s, rtol=1e-7)
        np.testing.assert_allclose(np.asarray(s), ref, rtol=1e-8)
        np.testing.assert_allclose(S @ np.asarray(vh).T, np.asarray(u) * np.asarray(s), atol=1e-7)
    # too few iterations warn, as SciPy's lobpcg does
    with pytest.warns(UserWarning, match="tolerance"):
        svds(js.CSR.from_scipy(S), 3, which="SM", solver="lobpcg", maxiter=2)


def test_svds_propack_and_options():
    S = sps.random_array((40, 30), density=0.2, rng=np.random.default_rng(0), format="csr")
    exact = np.linalg.svd(S.toarray(), compute_uv=False)
    A = js.CSR.from_scipy(S)
    # PROPACK's v0 has A.shape[0] entries; its k may be min(A.shape)
    s = svds(A, 3, solver="propack", v0=np.ones(40), return_singular_vectors=False)
    np.testing.assert_allclose(np.asarray(s), np.sort(exact[:3]), rtol=1e-8)
    np.testing.assert_allclose(np.asarray(svds(A, 30, solver="propack")[1]), exact[::-1], rtol=1e-8)
    with pytest.raises(ValueError, match="v0"):
        svds(A, 3, solver="propack", v0=np.ones(30))
    # SciPy reserves options and reads none of its keys: accepted, but it must be a dict
    s = svds(A, 3, options={"anything": 1}, return_singular_vectors=False)
    np.testing.assert_allclose(np.asarray(s), np.sort(exact[:3]), rtol=1e-8)
    with pytest.raises(TypeError, match="options"):
        svds(A, 3, options=["not", "a", "dict"])
    with pytest.raises(ValueError, match="solver"):
        svds(A, 3, solver="lapack")


def _iterations(history):
    """Iterations done, for SciPy's and our histories alike: the entries run from the
    start to the iterate kept, then the post-processed values."""
    return len(history) - 2


@pytest.mark.parametrize(("n", "k", "seed"), [(100, 6, 0), (100, 6, 1), (100, 6, 2), (200, 3, 2)])
def test_lobpcg_random_spd_iterations_like_scipy(n, k, seed):
    """Random SPD problems: the eigenvalues of dense eigh, in about as many iterations
    as SciPy's lobpcg. (100, 6, 2) stalled at a residual of 2e-8 when products with A
    were formed as large combinations of nearly dependent directions.)"""
    import scipy.linalg as spl

    R = sps.random_array((n, n), density=0.1, rng=seed)
    S = (R @ R.T + sps.eye_array(n)).tocsr()
    X = np.random.default_rng(seed).standard_normal((n, k))
    w, V, lh, rh = lobpcg(
        js.CSR.from_scipy(S),
        X,
        tol=1e-8,
        maxiter=200,
        retLambdaHistory=True,
        retResidualNormsHistory=True,
    )
    ref = spl.eigh(S.toarray(), eigvals_only=True)[::-1][:k]
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-10)
    assert np.max(np.asarray(rh[-1])) < 1e-8
    np.testing.assert_allclose(np.asarray(lh[-1]), np.asarray(w))
    _, _, slh = sla.lobpcg(S, X, tol=1e-8, maxiter=200, retLambdaHistory=True)
    assert _iterations(lh) <= 1.2 * _iterations(slh) + 2


def test_lobpcg_scipy_conventions():
    """tol <= 0 is the default tolerance; without convergence, a warning and the best
    iterate, post-processed."""
    S = poisson1d(100)
    X = np.random.default_rng(0).standard_normal((100, 3))
    A = js.CSR.from_scipy(S)
    w0 = lobpcg(A, X, tol=0, maxiter=300)[0]
    np.testing.assert_allclose(np.asarray(w0), sla.eigsh(S, 3, which="LA")[0][::-1], rtol=1e-8)
    with pytest.warns(UserWarning, match="tolerance"):
        w, V, rh = lobpcg(A, X, tol=1e-12, maxiter=5, retResidualNormsHistory=True)
    means = [float(np.mean(np.asarray(r))) for r in rh[:-1]]
    assert _iterations(rh) == int(np.argmin(means))  # the history stops at the best
    # ... and the last entry is the residual of the pairs returned
    norms = np.linalg.norm(S @ np.asarray(V) - np.asarray(V) * np.asarray(w), axis=0)
    np.testing.assert_allclose(norms, np.asarray(rh[-1]), rtol=1e-6)


@pytest.mark.parametrize("largest", [True, False])
def test_lobpcg(largest):
    S = poisson1d(100)
    X = np.random.default_rng(0).standard_normal((100, 3))
    w, V = lobpcg(js.CSR.from_scipy(S), X, largest=largest, maxiter=300, tol=1e-8)
    ref = sla.eigsh(S, 3, which="LA" if largest else "SA")[0]
    ref = ref[::-1] if largest else ref
    np.testing.assert_allclose(np.asarray(w), ref, rtol=1e-7)
    assert _residual(S, w, V) < 1e-6


def test_lobpcg_generalized_and_small_dense_path():
    S = random_spd()
    Ms = sps.diags_array(np.linspace(1, 2, 36)).tocsr()
    X = np.random.default_rng(1).standard_normal((36, 8))  # n < 5k: dense path as in SciPy
    w, _ = lobpcg(js.CSR.from_scipy(S), X, B=js.CSR.from_scipy(Ms), largest=False)
    import scipy.linalg as spl

    np.testing.assert_allclose(np.asarray(w), spl.eigh(S.toarray(), Ms.toarray())[0][:8], rtol=1e-8)
