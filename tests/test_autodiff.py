"""grad / jvp / higher order through every product kernel, against dense NumPy math."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import assert_close, random_scipy, to_js
from jax.test_util import check_grads

import jaxsparse as js

KERNEL_FORMATS = ("csr", "csc", "coo")  # formats whose products are primitives

_CHECK = dict(order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6, eps=1e-4)


def _setup(fmt, dtype=np.float64, n=6, m=5):
    S = random_scipy(n, m, density=0.5, dtype=dtype, seed=11)
    A = to_js(S, fmt)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(m).astype(dtype)
    return S, A, x, rng


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
class TestCheckGrads:
    def test_spmv(self, fmt):
        _, A, x, _ = _setup(fmt)
        check_grads(lambda d, x: A.with_data(d) @ x, (A.data, x), **_CHECK)

    def test_spmv_transposed(self, fmt):
        _, A, _, rng = _setup(fmt)
        y = rng.standard_normal(A.shape[0])
        check_grads(lambda d, y: js.ops.spmv(A.with_data(d), y, transpose=True),
                    (A.data, y), **_CHECK)

    def test_spmm(self, fmt):
        _, A, _, rng = _setup(fmt)
        X = rng.standard_normal((A.shape[1], 3))
        check_grads(lambda d, X: A.with_data(d) @ X, (A.data, X), **_CHECK)

    def test_dense_times_sparse(self, fmt):
        _, A, _, rng = _setup(fmt)
        X = rng.standard_normal((2, A.shape[0]))
        check_grads(lambda d, X: X @ A.with_data(d), (A.data, X), **_CHECK)

    def test_sddmm(self, fmt):
        _, A, _, rng = _setup(fmt)
        B = rng.standard_normal((A.shape[0], 3))
        C = rng.standard_normal((3, A.shape[1]))
        check_grads(lambda d, B, C: js.ops.sddmm(A.with_data(d), B, C).data,
                    (A.data, B, C), **_CHECK)

    def test_complex_spmv(self, fmt):
        _, A, x, _ = _setup(fmt, np.complex128)
        check_grads(lambda d, x: A.with_data(d) @ x, (A.data, x), **_CHECK)


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
def test_grad_matches_dense_formula(fmt):
    """d/dx sum(sin(A x)) = A^T cos(A x); d/ddata at (i, j) = cos(A x)_i x_j."""
    S, A, x, _ = _setup(fmt)
    D = S.toarray()
    loss = lambda d, x: jnp.sum(jnp.sin(A.with_data(d) @ x))
    g_data, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(A.data, x)
    c = np.cos(D @ x)
    assert_close(g_x, D.T @ c, np.float64)
    # Densify the data-gradient on A's own pattern and compare entrywise.
    G = np.asarray(A.with_data(g_data).todense())
    assert_close(G, (D != 0) * np.outer(c, x), np.float64)


def test_gradient_is_zero_at_padding():
    S = random_scipy(5, 5, density=0.4)
    pad = 3
    A = js.CSR.from_arrays(
        np.concatenate([S.data, np.ones(pad)]),
        np.concatenate([S.indices, np.zeros(pad, np.int32)]),
        S.indptr, shape=S.shape,
    )
    x = np.arange(1.0, 6.0)
    g = jax.grad(lambda d: jnp.sum(A.with_data(d) @ x))(A.data)
    np.testing.assert_array_equal(np.asarray(g)[S.nnz:], 0.0)
    assert_close(np.asarray(g)[: S.nnz], x[S.indices], np.float64)


def test_jvp_through_spmv_and_sddmm():
    """Forward mode works (custom_vjp alone would break it)."""
    S, A, x, rng = _setup("csr")
    dx = rng.standard_normal(x.shape)
    y, ty = jax.jvp(lambda x: A @ x, (x,), (dx,))
    assert_close(y, S @ x, np.float64)
    assert_close(ty, S @ dx, np.float64)
    dd = rng.standard_normal(A.data.shape)
    _, td = jax.jvp(lambda d: A.with_data(d) @ x, (A.data,), (dd,))
    assert_close(td, A.with_data(dd) @ x, np.float64)
    jac = jax.jacfwd(lambda x: A @ x)(x)
    assert_close(jac, S.toarray(), np.float64)
    assert_close(jax.jacrev(lambda x: A @ x)(x), S.toarray(), np.float64)


def test_grad_with_respect_to_the_whole_matrix_pytree():
    S, A, x, _ = _setup("csr")
    gA = jax.grad(lambda A: jnp.sum(A @ x), allow_int=True)(A)
    assert isinstance(gA, js.CSR)
    expected = np.asarray(A.with_data(jnp.ones_like(A.data)).todense()) * x[None, :]
    assert_close(A.with_data(gA.data).todense(), expected, np.float64)
    assert gA.indices.dtype == jax.dtypes.float0
