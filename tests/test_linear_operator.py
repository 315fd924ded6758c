"""``LinearOperator`` / ``aslinearoperator`` against SciPy's and dense algebra."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla

import jaxsparse as js
import jaxsparse.linalg as jl

rng = np.random.default_rng(0)
D1 = rng.standard_normal((4, 3)) + 1j * rng.standard_normal((4, 3))
D2 = rng.standard_normal((4, 3))
DS = rng.standard_normal((3, 3))
X = rng.standard_normal(3) + 1j * rng.standard_normal(3)
Y = rng.standard_normal(4)


def lin(D):
    """A function-backed operator (JAX code, no rmatvec: derived by transposition)."""
    Dj = jnp.asarray(D)
    return jl.LinearOperator(D.shape, matvec=lambda v: Dj @ v, dtype=D.dtype)


def close(a, b):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


def test_products_and_derived_adjoint():
    A = lin(D1)
    assert A.shape == (4, 3) and A.dtype == np.complex128
    close(A.matvec(X), D1 @ X)
    close(A.matvec(X[:, None]), (D1 @ X)[:, None])  # (N, 1) keeps its form
    close(A.rmatvec(Y), D1.conj().T @ Y)
    close(A.matmat(np.eye(3)), D1)
    close(A.rmatmat(np.eye(4)), D1.conj().T)
    close(A @ X, D1 @ X)
    close(A * X, D1 @ X)
    close(A.dot(np.eye(3)), D1)
    close(A(X), D1 @ X)
    close(Y @ A, Y @ D1)


def test_composition_matches_dense():
    A, B, C = lin(D1), lin(D2), lin(DS)
    close((A + B) @ X, (D1 + D2) @ X)
    close((A - B) @ X, (D1 - D2) @ X)
    close((-A) @ X, -D1 @ X)
    close((2.5 * A) @ X, 2.5 * D1 @ X)
    close((A * 2.5) @ X, 2.5 * D1 @ X)
    close((A / 2.0) @ X, D1 @ X / 2)
    close((A @ C) @ X, D1 @ DS @ X)
    close((A * C) @ X, D1 @ DS @ X)
    close((C**3) @ X, np.linalg.matrix_power(DS, 3) @ X)
    close(A.T @ Y, D1.T @ Y)
    close(A.H @ Y, D1.conj().T @ Y)
    close(A.adjoint() @ Y, D1.conj().T @ Y)
    close(A.transpose() @ Y, D1.T @ Y)
    close((A @ C).H @ Y, (D1 @ DS).conj().T @ Y)
    close((A + B).T.rmatvec(X), np.conj(D1 + D2) @ X)
    assert A.H.H is A and A.T.T is A
    assert (A @ C).shape == (4, 3) and A.T.shape == (3, 4)


def test_errors_like_scipy():
    A, C = lin(D1), lin(DS)
    with pytest.raises(ValueError, match="dimension mismatch"):
        A.matvec(np.ones(4))
    with pytest.raises(ValueError, match="shape"):
        A + C
    with pytest.raises(ValueError, match="Scalar"):
        A @ 2.0
    with pytest.raises(TypeError, match="_matvec"):

        class Empty(jl.LinearOperator):
            pass

        Empty(np.float64, (2, 2))


def test_subclass_with_matvec_only():
    class Diag(jl.LinearOperator):
        def __init__(self, d):
            super().__init__(d.dtype, (d.size, d.size))
            self.d = jnp.asarray(d)

        def _matvec(self, x):
            return self.d * x

    d = np.arange(1.0, 4.0)
    op = Diag(d)
    close(op @ np.ones(3), d)
    close(op.rmatvec(np.ones(3)), d)  # derived by jax.linear_transpose
    close(op.matmat(np.eye(3)), np.diag(d))


@pytest.mark.parametrize(
    "kind",
    ["csr", "csc", "coo", "dense_jax", "dense_numpy", "scipy_sparse", "scipy_linop", "dropin"],
)
def test_aslinearoperator_accepts(kind):
    S = sps.random_array((5, 4), density=0.5, rng=np.random.default_rng(1), format="csr")
    D = S.toarray()
    if kind in ("csr", "csc", "coo"):
        A = getattr(js, kind.upper()).from_scipy(S.asformat(kind))
    elif kind == "dense_jax":
        A = jnp.asarray(D)
    elif kind == "dense_numpy":
        A = D
    elif kind == "scipy_sparse":
        A = S
    elif kind == "scipy_linop":
        A = spla.aslinearoperator(S)
    else:
        import jaxsparse.scipy_compat as sp

        A = sp.csr_array(S)
    op = jl.aslinearoperator(A)
    assert op.shape == (5, 4) and op.dtype == np.float64
    x, y = np.arange(4.0), np.arange(5.0)
    close(op @ x, D @ x)
    close(op.rmatvec(y), D.T @ y)
    close(op.matmat(np.eye(4)), D)
    close(op.T @ y, D.T @ y)
    assert jl.aslinearoperator(op) is op
    with pytest.raises(TypeError, match="LinearOperator"):
        jl.aslinearoperator("nope")


def test_operator_under_jit_and_as_A_and_M():
    S = sps.diags_array([-1.0, 3.0, -1.5], offsets=[-1, 0, 1], shape=(16, 16), format="csr")
    b = np.ones(16)
    A = jl.aslinearoperator(js.CSR.from_scipy(S))
    f = jax.jit(lambda v: (2.0 * A + A) @ v)
    close(f(b), 3 * (S @ b))
    M = jl.LinearOperator(S.shape, matvec=lambda v: v / 3.0, dtype=np.float64)
    x_ref, _ = spla.gmres(S, b, rtol=1e-10, M=sps.identity(16) / 3.0)
    for solver in ("gmres", "bicgstab", "bicg", "qmr"):
        kw = dict(M1=M) if solver == "qmr" else dict(M=M)
        x, info = getattr(jl, solver)(A, b, rtol=1e-10, **kw)
        assert int(info) == 0
        np.testing.assert_allclose(np.asarray(x), x_ref, rtol=1e-7)
    x, info = jl.cg(jl.aslinearoperator(js.CSR.from_scipy((S + S.T).tocsr())), b, rtol=1e-10, M=M)
    assert int(info) == 0


def test_scipy_compat_exports_the_same_classes():
    import jaxsparse.scipy_compat.linalg as L

    assert L.LinearOperator is jl.LinearOperator
    assert L.aslinearoperator is jl.aslinearoperator
    op = L.LinearOperator((2, 2), matvec=lambda v: 2 * v)
    assert op.dtype == np.float64  # inferred from one product, as in SciPy
