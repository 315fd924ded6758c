"""An unmodified SciPy program runs with only the import changed, and matches SciPy."""

import numpy as np
import scipy.sparse

import jaxsparse.scipy_compat


def power_iteration(sp, n=64, iters=30, seed=0):
    """The seed paper's Figure 1 shape: build a random sparse matrix on the host with
    NumPy, convert it with the constructor, then iterate x <- A x / ||A x||."""
    rng = np.random.default_rng(seed)
    nnz = 4 * n
    row = rng.integers(0, n, nnz)
    col = rng.integers(0, n, nnz)
    vals = rng.random(nnz)
    A = sp.csr_array((vals, (row, col)), shape=(n, n))
    A = A + A.T + sp.csr_array(np.diag(np.full(n, 4.0)))
    x = np.ones(n)
    for _ in range(iters):
        x = A @ x
        x /= np.linalg.norm(x)
    eig = x @ (A @ x)
    return x, eig, A.nnz, A.sum()


def test_power_iteration_matches_scipy():
    ours = power_iteration(jaxsparse.scipy_compat)
    theirs = power_iteration(scipy.sparse)
    np.testing.assert_allclose(np.asarray(ours[0]), theirs[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(float(ours[1]), theirs[1], rtol=1e-10)
    assert ours[2] == theirs[2]
    np.testing.assert_allclose(float(ours[3]), theirs[3], rtol=1e-12)
