"""eigsh / eigs / svds / lobpcg against SciPy (ARPACK) on the shared problem set.

Compile budget: the Krylov–Schur kernel compiles once per (operator structure, dtype, k,
ncv); ``which`` is a traced value, so every ``which`` shares one executable.
"""

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


def _residual(S, lam, X):
    X, lam = np.asarray(X), np.asarray(lam)
    return np.linalg.norm(S @ X - X * lam, axis=0).max() / max(1.0, np.abs(lam).max())


def poisson2d_rect():
    """A 4 x 9 grid: poisson2d's square grid has double eigenvalues, of which a
    single-vector Krylov method finds one copy (see the eigsh docstring)."""
    a, b = poisson1d(4), poisson1d(9)
    return (sps.kron(a, sps.eye_array(9)) + sps.kron(sps.eye_array(4), b)).tocsr()


@pytest.fixture(scope="module")
def hermitian_problems():
    return {"poisson1d": poisson1d(), "poisson2d": poisson2d_rect(), "random_spd": random_spd()}


@pytest.mark.parametrize("which", ["LM", "SM", "LA", "SA", "BE"])
@pytest.mark.parametrize("name", ["poisson1d", "poisson2d", "random_spd"])
def test_eigsh_which(hermitian_problems, name, which):
    S = hermitian_problems[name]
    A = jnp.asarray(S.toarray())  # dense operator: one compile serves all problems
    lam, X = eigsh(A, K, which=which)
    ref = sla.eigsh(S, K, which=which)[0]
    np.testing.assert_allclose(np.asarray(lam), ref, rtol=1e-10, atol=1e-10)
    assert _residual(S, lam, X) < 1e-8
    # SciPy's order without eigenvectors too
    np.testing.assert_allclose(
        np.asarray(eigsh(A, K, which=which, return_eigenvectors=False)),
        sla.eigsh(S, K, which=which, return_eigenvectors=False),
        rtol=1e-10,
        atol=1e-10,
    )


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
