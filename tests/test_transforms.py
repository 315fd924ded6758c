"""vmap and jit behaviour of the product kernels."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from _helpers import assert_close, random_scipy, to_js

import jaxsparse as js
from jaxsparse.ops._primitives import CSR_KERNELS


@pytest.mark.parametrize("fmt", ("csr", "csc", "coo"))
def test_vmap_over_vectors(fmt):
    S = random_scipy(7, 6, seed=1)
    A = to_js(S, fmt)
    X = np.random.default_rng(0).standard_normal((4, 6))
    out = jax.vmap(lambda x: A @ x)(X)
    assert_close(out, (S @ X.T).T, np.float64)
    out_axis1 = jax.vmap(lambda x: A @ x, in_axes=1, out_axes=1)(X.T)
    assert_close(out_axis1, S @ X.T, np.float64)


def test_vmapped_spmv_becomes_one_spmm():
    A = js.CSR.from_scipy(random_scipy(7, 6))
    jaxpr = jax.make_jaxpr(jax.vmap(lambda x: A @ x))(jnp.ones((4, 6)))
    eqns = [e for e in jaxpr.eqns if e.primitive is CSR_KERNELS.matmul]
    assert len(eqns) == 1
    assert eqns[0].invars[3].aval.shape == (6, 4)  # the batch became columns


def test_vmap_over_matrices_and_nested():
    S = random_scipy(5, 4, seed=2)
    A = js.CSR.from_scipy(S)
    B = np.random.default_rng(1).standard_normal((3, 4, 2))
    assert_close(jax.vmap(lambda b: A @ b)(B), np.stack([S @ b for b in B]), np.float64)
    nested = jax.vmap(jax.vmap(lambda x: A @ x))(B.transpose(0, 2, 1))
    assert_close(nested, np.einsum("ij,bkj->bki", S.toarray(), B.transpose(0, 2, 1)),
                 np.float64)


@pytest.mark.parametrize("fmt", ("csr", "csc", "coo"))
def test_vmap_over_data_with_shared_pattern(fmt):
    S = random_scipy(6, 5, seed=3)
    A = to_js(S, fmt)
    scales = np.array([1.0, -2.0, 0.5])
    batch = np.asarray(A.data)[None, :] * scales[:, None]
    x = np.arange(5.0)
    out = jax.vmap(lambda d: A.with_data(d) @ x)(batch)
    assert_close(out, scales[:, None] * (S @ x)[None, :], np.float64)
    both = jax.vmap(lambda d, x: A.with_data(d) @ x)(batch, np.stack([x, 2 * x, -x]))
    assert_close(both, (scales * np.array([1, 2, -1]))[:, None] * (S @ x), np.float64)


def test_vmap_of_grad_and_grad_of_vmap():
    S = random_scipy(6, 5, seed=4)
    A = js.CSR.from_scipy(S)
    D = S.toarray()
    X = np.random.default_rng(2).standard_normal((3, 5))
    per_example = jax.vmap(jax.grad(lambda x: jnp.sum((A @ x) ** 2)))(X)
    assert_close(per_example, 2 * (D.T @ (D @ X.T)).T, np.float64)
    g = jax.grad(lambda X: jnp.sum(jax.vmap(lambda x: A @ x)(X) ** 2))(X)
    assert_close(g, per_example, np.float64)


def test_vmap_sddmm():
    S = random_scipy(5, 4, density=0.5, seed=5)
    A = js.CSR.from_scipy(S)
    rng = np.random.default_rng(3)
    B = rng.standard_normal((2, 5, 3))
    C = rng.standard_normal((3, 4))
    out = jax.vmap(lambda b: js.ops.sddmm(A, b, C).data)(B)
    for i in range(2):
        expect = js.ops.sddmm(A, B[i], C).data
        assert_close(out[i], expect, np.float64)


def test_same_capacity_does_not_retrace():
    traces = []

    @jax.jit
    def f(A, x):
        traces.append(1)
        return A @ x

    def build(seed):
        S = random_scipy(8, 8, density=0.3, seed=seed)
        # same static capacity for different patterns: pad every matrix to 32 slots
        cap = 32
        data = np.concatenate([S.data, np.zeros(cap - S.nnz)])
        indices = np.concatenate([S.indices, np.zeros(cap - S.nnz, np.int32)])
        return S, js.CSR.from_arrays(data, indices, S.indptr, shape=S.shape)

    x = np.ones(8)
    for seed in range(3):
        S, A = build(seed)
        assert_close(f(A, x), S @ x, np.float64)
    assert len(traces) == 1


def test_jit_output_and_sparse_output_under_jit():
    S = random_scipy(6, 5, seed=6)
    A = js.CSR.from_scipy(S)
    B = np.ones((6, 2))
    C = np.ones((2, 5))
    out = jax.jit(js.ops.sddmm)(A, B, C)
    assert isinstance(out, js.CSR)
    assert_close(out.todense(), S.toarray() * 2, np.float64)
