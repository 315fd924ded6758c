"""norm, onenormest, expm_multiply, expm, inv, matrix_power, direct solvers, structure
helpers and LaplacianNd against SciPy on the same inputs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as sla
from jax.test_util import check_grads
from solver_problems import complex_nonsymmetric, nonsymmetric

import jaxsparse as js
from jaxsparse import linalg as jl


@pytest.fixture(scope="module")
def rect():
    rng = np.random.default_rng(0)
    S = sps.random_array(
        (7, 5), density=0.4, rng=rng, format="csr", data_sampler=rng.standard_normal
    )
    S = S.tolil()
    S[1, :] = 1.0  # one full row (min over an axis without implicit zeros)
    return S.tocsr()


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, np.inf, -np.inf, 2])
@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_norm_matrix(rect, ord, fmt):
    A = js.CSR.from_scipy(rect) if fmt == "csr" else js.COO.from_scipy(rect.tocoo())
    np.testing.assert_allclose(float(jl.norm(A, ord)), sla.norm(rect, ord), rtol=1e-10)


@pytest.mark.parametrize("ord", [None, 1, 2, np.inf, -np.inf, 0, 3, 0.5])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_norm_vector(rect, ord, axis):
    np.testing.assert_allclose(
        np.asarray(jl.norm(js.CSR.from_scipy(rect), ord, axis)),
        sla.norm(rect, ord, axis),
        rtol=1e-10,
    )


def test_norm_complex_duplicates_errors_and_jit():
    C = complex_nonsymmetric()
    A = js.CSR.from_scipy(C)
    for ord in (None, 1, np.inf):
        np.testing.assert_allclose(float(jl.norm(A, ord)), sla.norm(C, ord), rtol=1e-10)
    dup = sps.coo_array(([1.0, -3.0, 2.0], ([0, 0, 1], [0, 0, 1])), shape=(2, 2))
    np.testing.assert_allclose(float(jl.norm(js.COO.from_scipy(dup), 1)), sla.norm(dup, 1))
    np.testing.assert_allclose(float(jax.jit(lambda a: jl.norm(a, np.inf))(A)), sla.norm(C, np.inf))
    with pytest.raises(TypeError):
        jl.norm(jnp.ones((2, 2)))
    with pytest.raises(ValueError):
        jl.norm(A, 3)
    with pytest.raises(ValueError):
        jl.norm(A, "bad", 0)


def test_onenormest():
    for seed in range(3):
        rng = np.random.default_rng(seed)
        S = sps.random_array(
            (30, 30), density=0.2, rng=rng, format="csr", data_sampler=rng.standard_normal
        )
        est = float(jl.onenormest(js.CSR.from_scipy(S)))
        exact = sla.norm(S, 1)
        assert exact / 3 <= est <= exact * (1 + 1e-12)
        est_exact, v, w = jl.onenormest(js.CSR.from_scipy(S), t=30, compute_v=True, compute_w=True)
        np.testing.assert_allclose(float(est_exact), exact, rtol=1e-12)
        np.testing.assert_allclose(np.asarray(w), S @ np.asarray(v), atol=1e-12)


@pytest.mark.parametrize("scale", [0.1, 1.0, 10.0])
def test_expm_multiply(scale):
    S = scale * nonsymmetric(20)
    b = np.arange(20.0)
    x = jl.expm_multiply(js.CSR.from_scipy(S.tocsr()), b)
    ref = sla.expm_multiply(S, b)
    np.testing.assert_allclose(np.asarray(x), ref, rtol=1e-10, atol=1e-12 * np.abs(ref).max())


def test_expm_multiply_interval_complex_and_jit():
    S = nonsymmetric(20) * 0.3
    B = np.ones((20, 2))
    for endpoint in (True, False):
        X = jl.expm_multiply(js.CSR.from_scipy(S), B, start=0.5, stop=2.0, num=4, endpoint=endpoint)
        ref = sla.expm_multiply(S, B, start=0.5, stop=2.0, num=4, endpoint=endpoint)
        np.testing.assert_allclose(np.asarray(X), ref, rtol=1e-10)
    C = complex_nonsymmetric(20) * 0.1
    b = np.ones(20) + 1j
    np.testing.assert_allclose(
        np.asarray(jl.expm_multiply(js.CSR.from_scipy(C), b)), sla.expm_multiply(C, b), rtol=1e-10
    )
    f = jax.jit(jl.expm_multiply)
    np.testing.assert_allclose(
        np.asarray(f(js.CSR.from_scipy(S), B[:, 0])), sla.expm_multiply(S, B[:, 0]), rtol=1e-10
    )


def test_expm_inv_matrix_power():
    S = nonsymmetric(12)
    A = js.CSR.from_scipy(S)
    E = jl.expm(A)
    assert isinstance(E, js.formats.AbstractSparse)
    np.testing.assert_allclose(np.asarray(E.todense()), sla.expm(S.tocsc()).toarray(), rtol=1e-10)
    np.testing.assert_allclose(
        np.asarray(jl.inv(A).todense()), sla.inv(S.tocsc()).toarray(), rtol=1e-10, atol=1e-14
    )
    for p in (0, 1, 2, 5):
        P = jl.matrix_power(A, p)
        assert isinstance(P, js.CSR)
        np.testing.assert_allclose(
            np.asarray(P.todense()), sla.matrix_power(S, p).toarray(), rtol=1e-12
        )
    with pytest.raises(ValueError):
        jl.matrix_power(A, -1)


def test_drop_in_inputs_give_drop_in_outputs():
    import jaxsparse.scipy_compat as sp

    S = nonsymmetric(12)
    D = sp.csr_array(S)
    assert isinstance(sp.linalg.matrix_power(D, 2), sp.csr_array)
    assert isinstance(sp.linalg.inv(D.tocsc()), sp.csc_array)
    np.testing.assert_allclose(
        np.asarray(sp.linalg.spsolve(D, np.ones(12))),
        sla.spsolve(S.tocsc(), np.ones(12)),
        rtol=1e-12,
    )
    np.testing.assert_allclose(float(sp.linalg.norm(D, 1)), sla.norm(S, 1))
    L = sps.tril(S).tocsr()
    np.testing.assert_allclose(
        np.asarray(sp.linalg.spsolve_triangular(sp.csr_array(L), np.ones(12))),
        sla.spsolve_triangular(L, np.ones(12)),
        rtol=1e-12,
    )


def test_direct_solvers():
    S = nonsymmetric(16).tocsc()
    A = js.CSC.from_scipy(S)
    b = np.arange(16.0)
    ref = sla.spsolve(S, b)
    np.testing.assert_allclose(np.asarray(jl.spsolve(A, b)), ref, rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(jax.jit(lambda v: jl.spsolve(A, v))(jnp.asarray(b))), ref, rtol=1e-12
    )
    Bm = np.stack([b, b + 1], axis=1)
    np.testing.assert_allclose(np.asarray(jl.spsolve(A, Bm)), sla.spsolve(S, Bm), rtol=1e-12)
    Bs = sps.csc_array(Bm)
    Xs = jl.spsolve(A, js.CSC.from_scipy(Bs))
    np.testing.assert_allclose(np.asarray(Xs.todense()), sla.spsolve(S, Bs).toarray(), rtol=1e-12)
    lu = jl.splu(A)
    np.testing.assert_allclose(np.asarray(lu.solve(b)), ref, rtol=1e-12)
    np.testing.assert_allclose(
        np.asarray(lu.solve(b, trans="T")), sla.spsolve(S.T.tocsc(), b), rtol=1e-12
    )
    ref_lu = sla.splu(S)
    assert isinstance(lu.L, js.CSC) and isinstance(lu.U, js.CSC)
    np.testing.assert_allclose(np.asarray(lu.L.todense()), ref_lu.L.toarray(), atol=1e-12)
    np.testing.assert_allclose(np.asarray(lu.U.todense()), ref_lu.U.toarray(), atol=1e-12)
    np.testing.assert_array_equal(lu.perm_r, ref_lu.perm_r)
    ilu = jl.spilu(A, drop_tol=1e-12)
    np.testing.assert_allclose(
        np.asarray(ilu.solve(b)), sla.spilu(S, drop_tol=1e-12).solve(b), rtol=1e-10
    )
    solve = jl.factorized(A)
    np.testing.assert_allclose(np.asarray(solve(jnp.asarray(b))), ref, rtol=1e-12)
    C = complex_nonsymmetric(16).tocsc()
    np.testing.assert_allclose(
        np.asarray(jl.spsolve(js.CSC.from_scipy(C), b + 1j)), sla.spsolve(C, b + 1j), rtol=1e-12
    )
    np.testing.assert_allclose(
        np.asarray(jl.spsolve(A, b + 1j)), sla.spsolve(S, b + 1j), rtol=1e-12
    )
    with pytest.raises(TypeError):
        jax.jit(lambda a: jl.spsolve(a, jnp.ones(16)))(A)


def _triangle(lower, dtype=np.float64, n=16):
    S = nonsymmetric(n).astype(dtype)
    return (sps.tril(S) if lower else sps.triu(S)).tocsr()


# Five two-level factors in the 8 runs of an orthogonal array (each pair of factors
# meets in all 4 combinations), instead of all 32: each run compiles two solves.
# n: one block; two full blocks and a partial one.
_TRIANGULAR_CASES = [
    (lower, unit, fmt, rhs, n)
    for row in ("00000", "00011", "01100", "01111", "10101", "10110", "11001", "11010")
    for lower, unit, fmt, rhs, n in [(
        row[0] == "0", row[1] == "1", ("csr", "csc")[int(row[2])], ((), (3,))[int(row[3])],
        (16, 150)[int(row[4])])]
]


@pytest.mark.parametrize("lower,unit,fmt,rhs,n", _TRIANGULAR_CASES)
def test_spsolve_triangular_runs_in_jax_as_scipy(lower, unit, fmt, rhs, n):
    T = _triangle(lower, n=n).asformat(fmt)
    b = np.random.default_rng(1).standard_normal((n, *rhs))
    A = js.CSR.from_scipy(T) if fmt == "csr" else js.CSC.from_scipy(T)
    expected = sla.spsolve_triangular(T, b, lower=lower, unit_diagonal=unit)
    solve = lambda A, b: jl.spsolve_triangular(A, b, lower=lower, unit_diagonal=unit)
    np.testing.assert_allclose(np.asarray(solve(A, b)), expected, rtol=1e-11, atol=1e-12)
    # under jit the matrix itself may be traced: nothing is planned on the host
    np.testing.assert_allclose(np.asarray(jax.jit(solve)(A, b)), expected, rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("lower", [True, False])
def test_spsolve_triangular_long_rows_duplicates_and_capacity(lower):
    # a dense triangle: every 64-row block holds thousands of entries (many reads per block)
    n = 150
    rng = np.random.default_rng(3)
    dense = rng.standard_normal((n, n)) / n + np.diag(np.full(n, 2.0))
    dense = np.tril(dense) if lower else np.triu(dense)
    S = sps.csr_array(dense)
    expected = sla.spsolve_triangular(S, np.ones(n), lower=lower)
    # every entry stored as two halves, rows unsorted, plus 40 slots of spare capacity
    rows, cols = np.repeat(np.arange(n), np.diff(S.indptr)), S.indices
    order = rng.permutation(2 * S.nnz)
    r2, c2 = np.concatenate([rows, rows])[order], np.concatenate([cols, cols])[order]
    v2 = np.concatenate([S.data, S.data])[order] / 2
    by_row = np.argsort(r2, kind="stable")
    indptr = np.concatenate([[0], np.cumsum(np.bincount(r2, minlength=n))])
    indices = np.concatenate([c2[by_row], np.zeros(40, int)])
    data = np.concatenate([v2[by_row], np.ones(40)])
    A = js.CSR.from_arrays(data, indices, indptr, shape=(n, n))
    assert not A.has_canonical_format
    got = jl.spsolve_triangular(A, np.ones(n), lower=lower)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-11)


@pytest.mark.parametrize(
    "a_dtype, b_dtype", [(np.float32, np.float32), (np.int64, np.float32), (np.complex128, float)]
)
def test_spsolve_triangular_dtypes_are_scipys(a_dtype, b_dtype):
    T = _triangle(True, a_dtype)
    if np.dtype(a_dtype).kind == "i":
        T = (T + 5 * sps.eye_array(16, dtype=a_dtype)).tocsr()  # integer diagonal nonzero
    b = np.arange(1.0, 17.0).astype(b_dtype)
    expected = sla.spsolve_triangular(T, b)
    got = jl.spsolve_triangular(js.CSR.from_scipy(T), b)
    assert got.dtype == expected.dtype
    np.testing.assert_allclose(
        np.asarray(got), expected, rtol=1e-5 if got.dtype == np.float32 else 1e-12
    )


def test_spsolve_triangular_other_inputs_warn_or_solve_densely_as_scipy():
    T = _triangle(False)
    b = np.arange(16.0)
    expected = sla.spsolve_triangular(T, b, lower=False)
    with pytest.warns(sps.SparseEfficiencyWarning, match="CSC or CSR"):
        got = jl.spsolve_triangular(js.COO.from_scipy(T.tocoo()), b, lower=False)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=1e-12)
    dense = jl.spsolve_triangular(jnp.asarray(T.toarray()), b, lower=False)
    np.testing.assert_allclose(np.asarray(dense), expected, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(jl.spsolve_triangular(T, b, lower=False)), expected)


def test_spsolve_triangular_gradients_and_vmap():
    T = _triangle(True)
    A = js.CSR.from_scipy(T)
    b = np.arange(1.0, 17.0)
    # jitted: check_grads calls each derivative many times, and eagerly every call of
    # the solve's loops compiled anew (30 s of CI)
    check_grads(jax.jit(lambda b: jl.spsolve_triangular(A, b)), (b,), order=2,
                modes=["fwd", "rev"])
    check_grads(jax.jit(lambda d: jl.spsolve_triangular(A.with_data(d), b)), (A.data,),
                order=1, modes=["fwd", "rev"])
    B = np.random.default_rng(2).standard_normal((4, 16))
    batched = jax.vmap(lambda b: jl.spsolve_triangular(A, b))(B)
    np.testing.assert_allclose(np.asarray(batched), sla.spsolve_triangular(T, B.T).T, rtol=1e-12)


def test_spsolve_triangular_rejects_what_scipy_documents():
    from numpy.linalg import LinAlgError

    T = _triangle(True)
    with pytest.raises(LinAlgError, match=r"not lower triangular: entry \(\d+, \d+\) is above"):
        jl.spsolve_triangular(js.CSR.from_scipy(nonsymmetric(16).tocsr()), np.ones(16))
    singular = T.tolil()
    singular[3, 3] = 0
    with pytest.raises(LinAlgError, match="zero entry on diagonal"):
        jl.spsolve_triangular(js.CSR.from_scipy(singular.tocsr()), np.ones(16))
    # unit_diagonal ignores the stored diagonal, zero or not, as SciPy does
    np.testing.assert_allclose(
        np.asarray(
            jl.spsolve_triangular(
                js.CSR.from_scipy(singular.tocsr()), np.ones(16), unit_diagonal=True
            )
        ),
        sla.spsolve_triangular(singular.tocsr(), np.ones(16), unit_diagonal=True),
        rtol=1e-12,
    )
    with pytest.raises(ValueError, match="square"):
        jl.spsolve_triangular(js.CSR.from_scipy(T[:, :10]), np.ones(16))
    with pytest.raises(ValueError, match=r"b must have shape \(16,\)"):
        jl.spsolve_triangular(js.CSR.from_scipy(T), np.ones(15))


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia"])
def test_structure(fmt):
    S = nonsymmetric(10)
    cases = [S, sps.tril(S, -1), sps.triu(S, 2), sps.diags_array(np.ones(10)), sps.tril(S)[:, :7]]
    for M in cases:
        M = M.asformat(fmt)
        core = {"csr": js.CSR, "csc": js.CSC, "coo": js.COO, "dia": js.DIA}[fmt].from_scipy(M)
        assert jl.is_sptriangular(core) == tuple(bool(v) for v in sla.is_sptriangular(M))
        assert jl.spbandwidth(core) == sla.spbandwidth(M)
    lo, hi = jax.jit(jl.spbandwidth)(js.CSR.from_scipy(S.tocsr()))
    assert (int(lo), int(hi)) == sla.spbandwidth(S)


@pytest.mark.parametrize("grid", [(6,), (3, 4)])
@pytest.mark.parametrize("bc", ["dirichlet", "neumann", "periodic"])
def test_laplacian_nd(grid, bc):
    L = jl.LaplacianNd(grid, boundary_conditions=bc, dtype=np.float64)
    R = sla.LaplacianNd(grid, boundary_conditions=bc, dtype=np.float64)
    np.testing.assert_array_equal(np.asarray(L.toarray()), R.toarray())
    sp_ = L.tosparse()
    assert isinstance(sp_, js.formats.AbstractSparse)
    np.testing.assert_array_equal(np.asarray(sp_.todense()), R.tosparse().toarray())
    x = np.arange(L.shape[0], dtype=float)
    np.testing.assert_allclose(np.asarray(L @ x), R @ x)
    np.testing.assert_allclose(np.asarray(jax.jit(L.matvec)(jnp.asarray(x))), R @ x)
    X = np.ones((L.shape[0], 2))
    np.testing.assert_allclose(np.asarray(L.matmat(X)), R.matmat(X))
    np.testing.assert_allclose(L.eigenvalues(), R.eigenvalues())
    np.testing.assert_allclose(L.eigenvalues(3), R.eigenvalues(3))
    np.testing.assert_allclose(L.eigenvectors(3), R.eigenvectors(3))
    # the closed forms are eigenpairs of the operator
    V = L.eigenvectors()
    np.testing.assert_allclose(np.asarray(L.matmat(V)), V * L.eigenvalues(), atol=1e-12)


def test_laplacian_as_solver_operator():
    L = jl.LaplacianNd((20,), boundary_conditions="dirichlet", dtype=np.float64)
    w = jl.eigsh(L, 3, which="LA", return_eigenvectors=False)
    np.testing.assert_allclose(np.sort(np.asarray(w)), L.eigenvalues(3), rtol=1e-10)
