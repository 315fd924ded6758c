"""grad / jvp / higher order through every product kernel, against dense NumPy math."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import assert_close, random_scipy, to_js
from jax.test_util import check_grads

import jaxsparse as js

KERNEL_FORMATS = ("csr", "csc", "coo", "dia", "bsr")  # every product is a primitive
SAMPLED_FORMATS = ("csr", "csc", "coo")  # formats with an SDDMM kernel

_CHECK = dict(order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6, eps=1e-4)


def _setup(fmt, dtype=np.float64, n=6, m=4):
    S = random_scipy(n, m, density=0.5, dtype=dtype, seed=11)
    A = js.BSR.from_scipy(S, blocksize=(2, 2)) if fmt == "bsr" else to_js(S, fmt)
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

    def test_complex_spmv(self, fmt):
        _, A, x, _ = _setup(fmt, np.complex128)
        check_grads(lambda d, x: A.with_data(d) @ x, (A.data, x), **_CHECK)


@pytest.mark.parametrize("fmt", SAMPLED_FORMATS)
def test_check_grads_sddmm(fmt):
    _, A, _, rng = _setup(fmt)
    B = rng.standard_normal((A.shape[0], 3))
    C = rng.standard_normal((3, A.shape[1]))
    check_grads(lambda d, B, C: js.ops.sddmm(A.with_data(d), B, C).data,
                (A.data, B, C), **_CHECK)


@pytest.mark.parametrize("fmt", KERNEL_FORMATS)
def test_grad_matches_dense_formula(fmt):
    """d/dx sum(sin(A x)) = A^T cos(A x); d/ddata at (i, j) = cos(A x)_i x_j."""
    S, A, x, _ = _setup(fmt)
    D = S.toarray()
    loss = lambda d, x: jnp.sum(jnp.sin(A.with_data(d) @ x))
    g_data, g_x = jax.jit(jax.grad(loss, argnums=(0, 1)))(A.data, x)
    c = np.cos(D @ x)
    assert_close(g_x, D.T @ c, np.float64)
    # Densify the data-gradient on A's own pattern (DIA/BSR store explicit zeros in
    # their diagonals/blocks: those slots have a gradient too) and compare entrywise.
    G = np.asarray(A.with_data(g_data).todense())
    stored = np.asarray(A.with_data(jnp.ones_like(A.data)).todense()) != 0
    assert_close(G, stored * np.outer(c, x), np.float64)


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


# -- DIA and BSR: jvp, vmap, padding ----------------------------------------------------
STRUCTURED = ("dia", "bsr")


@pytest.mark.parametrize("fmt", STRUCTURED)
def test_jvp_and_jacobians_structured(fmt):
    S, A, x, rng = _setup(fmt)
    D = S.toarray()
    dx = rng.standard_normal(x.shape)
    y, ty = jax.jvp(lambda x: A @ x, (x,), (dx,))
    assert_close(y, D @ x, np.float64)
    assert_close(ty, D @ dx, np.float64)
    dd = rng.standard_normal(A.data.shape)
    _, td = jax.jvp(lambda d: A.with_data(d) @ x, (A.data,), (dd,))
    assert_close(td, A.with_data(dd) @ x, np.float64)
    assert_close(jax.jacfwd(lambda x: A @ x)(x), D, np.float64)
    assert_close(jax.jacrev(lambda y: js.ops.spmv(A, y, transpose=True))(np.ones(6)), D.T,
                 np.float64)


@pytest.mark.parametrize("fmt", STRUCTURED)
def test_vmap_structured(fmt):
    """vmap over b folds into one product's columns; over data (or both) it batches."""
    S, A, x, rng = _setup(fmt)
    D = S.toarray()
    X = rng.standard_normal((3, A.shape[1]))
    jaxpr = jax.make_jaxpr(jax.vmap(lambda x: A @ x))(X)
    eqns = [e for e in jaxpr.eqns if e.primitive.name == f"{fmt}_matmul"]
    assert len(eqns) == 1 and eqns[0].outvars[0].aval.shape == (A.shape[0], 3)
    assert_close(jax.vmap(lambda x: A @ x)(X), X @ D.T, np.float64)
    Xs = rng.standard_normal((2, A.shape[1], 3))  # batched spmm, batch on the last axis
    out = jax.vmap(lambda B: A @ B, in_axes=2, out_axes=2)(Xs.transpose(1, 2, 0))
    assert_close(out, np.einsum("ij,bjk->ikb", D, Xs), np.float64)
    scales = np.array([1.0, -2.0, 0.5])
    batch = np.asarray(A.data)[None] * scales.reshape(3, *(1,) * A.data.ndim)
    out = jax.vmap(lambda d: A.with_data(d) @ x)(batch)
    assert_close(out, scales[:, None] * (D @ x)[None, :], np.float64)
    both = jax.vmap(lambda d, x: js.ops.spmv(A.with_data(d), x, transpose=True))(
        batch, np.stack([np.ones(6), 2 * np.ones(6), -np.ones(6)]))
    want = (scales * np.array([1, 2, -1]))[:, None] * (D.T @ np.ones(6))[None, :]
    assert_close(both, want, np.float64)


def test_dia_gradient_is_zero_at_padding_next_to_inf():
    """Out-of-band slots get a zero cotangent even where b holds inf: never 0 * inf."""
    A = js.DIA.from_arrays(np.arange(1.0, 13.0).reshape(3, 4), [-1, 0, 2], shape=(4, 4))
    rows = np.arange(4)[None, :] - np.array([-1, 0, 2])[:, None]  # row of slot (k, j)
    pad = (rows < 0) | (rows >= 4)
    x = np.array([1.0, 2.0, 3.0, np.inf])  # column 3 holds in-band and padding slots
    g = np.asarray(jax.grad(lambda d: jnp.sum(A.with_data(d) @ x))(A.data))
    np.testing.assert_array_equal(g[pad], 0.0)
    np.testing.assert_array_equal(g[~pad], np.broadcast_to(x, g.shape)[~pad])
    y = np.array([np.inf, 1.0, 1.0, 1.0])
    g = np.asarray(jax.grad(
        lambda d: jnp.sum(js.ops.spmv(A.with_data(d), y, transpose=True)))(A.data))
    np.testing.assert_array_equal(g[pad], 0.0)
    np.testing.assert_array_equal(g[~pad], y[rows[~pad]])


@pytest.mark.parametrize("fmt", STRUCTURED)
def test_low_precision_cotangents_keep_dtype(fmt):
    _, A, x, _ = _setup(fmt)
    A = A.astype(jnp.bfloat16)
    g_d, g_x = jax.grad(lambda d, x: jnp.sum((A.with_data(d) @ x).astype(jnp.float32)),
                        argnums=(0, 1))(A.data, jnp.asarray(x, jnp.bfloat16))
    assert g_d.dtype == jnp.bfloat16 and g_x.dtype == jnp.bfloat16
    want = np.asarray(A.astype(np.float32).todense()).T @ np.ones(A.shape[0])
    assert_close(np.asarray(g_x, np.float32), want, jnp.bfloat16)


# -- spgemm_numeric ---------------------------------------------------------------------
def _spgemm_setup():
    SA = random_scipy(5, 4, density=0.5, seed=3)
    SB = random_scipy(4, 3, density=0.5, seed=4)
    A, B = js.CSR.from_scipy(SA), js.COO.from_scipy(SB)
    return SA.toarray(), SB.toarray(), A, B, js.ops.spgemm_symbolic(A, B)


def test_spgemm_grad_matches_dense_formula():
    """loss = sum(W * (A @ B)) on C's pattern: dA = (W @ B.T) on A's pattern,
    dB = (A.T @ W) on B's pattern."""
    DA, DB, A, B, plan = _spgemm_setup()
    W = np.random.default_rng(5).standard_normal((5, 3))

    def loss(a, b):
        C = js.ops.spgemm_numeric(A.with_data(a), B.with_data(b), plan)
        return jnp.sum(C.todense() * W)

    ga, gb = jax.jit(jax.grad(loss, argnums=(0, 1)))(A.data, B.data)
    Wc = W * (np.asarray(js.ops.spgemm_numeric(A, B, plan).todense()) != 0)
    assert_close(A.with_data(ga).todense(), (DA != 0) * (Wc @ DB.T), np.float64)
    assert_close(B.with_data(gb).todense(), (DB != 0) * (DA.T @ Wc), np.float64)
    check_grads(lambda a, b: js.ops.spgemm_numeric(A.with_data(a), B.with_data(b),
                                                   plan).data, (A.data, B.data), **_CHECK)


def test_spgemm_jvp_and_vmap():
    DA, DB, A, B, plan = _spgemm_setup()
    f = lambda a, b: js.ops.spgemm_numeric(A.with_data(a), B.with_data(b), plan)
    rng = np.random.default_rng(6)
    da, db = rng.standard_normal(A.data.shape), rng.standard_normal(B.data.shape)
    C, tC = jax.jvp(lambda a, b: f(a, b).data, (A.data, B.data), (da, db))
    dense = lambda d: np.asarray(f(A.data, B.data).with_data(d).todense())
    want = (np.asarray(A.with_data(da).todense()) @ DB
            + DA @ np.asarray(B.with_data(db).todense()))
    assert_close(dense(tC), want, np.float64)
    scales = np.array([1.0, 3.0])
    out = jax.vmap(lambda a: f(a, B.data).data)(A.data[None] * scales[:, None])
    assert_close(out, scales[:, None] * np.asarray(C)[None], np.float64)
    out = jax.vmap(lambda a, b: f(a, b).data)(A.data[None] * scales[:, None],
                                              B.data[None] * scales[:, None])
    assert_close(out, (scales ** 2)[:, None] * np.asarray(C)[None], np.float64)
