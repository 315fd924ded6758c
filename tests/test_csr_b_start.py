"""``csr_matmul``'s ``b_start``: the operand is ``b[b_start:]``, read from ``b`` itself.

The drop-in hands the device a NumPy vector from the 64-byte boundary below it
(``scipy_compat._route``); the kernel must start ``b_start`` rows in and never read the
rows before. Every backend against the operand bound on its own (same bits), both
orientations, one vector and several columns, through ``CSR`` / ``CSC`` ``_matmul``;
and the rules: a zero cotangent for the rows before the operand, ``jvp`` and ``vmap``.
(DIA's ``b_start``: tests/test_structured_kernels.py.)
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, random_scipy

import jaxsparse as js
from jaxsparse.ops._primitives import CSR_KERNELS
from jaxsparse.ops.native import missing_reason

BACKENDS = ["xla"] + (["native"] if missing_reason() is None else [])


def _matrix(dtype=np.float64):
    S = random_scipy(37, 53, density=0.2, dtype=dtype, seed=7).tocsr()
    return S, js.CSR.from_scipy(S)


def _bind(A, b, start, *, transpose=False, backend=None):
    start = {"b_start": start} if start else {}
    return CSR_KERNELS.matmul.bind(A.data, A.indices, A.indptr, b, shape=A.shape,
                                   transpose=transpose, backend=backend, **start)


def _with_nan_before(v, start):
    pad = np.full((start,) + v.shape[1:], np.nan, v.dtype)
    return jnp.asarray(np.concatenate([pad, v]))


@pytest.mark.parametrize(("transpose", "dtype"), [
    (False, np.float64), (True, np.float64), (False, np.float32), (True, np.complex128)])
def test_b_start_reads_only_the_operand(transpose, dtype):
    S, A = _matrix(dtype)
    rows = S.shape[0] if transpose else S.shape[1]
    rng = np.random.default_rng(1)
    x = rng.uniform(-1, 1, rows).astype(dtype)
    X = rng.uniform(-1, 1, (rows, 3)).astype(dtype)
    M = S.toarray().T if transpose else S.toarray()
    for start in (1, 5) if dtype == np.float64 else (3,):
        for v in (x, X):
            b = _with_nan_before(v, start)
            for backend in BACKENDS:
                got = _bind(A, b, start, transpose=transpose, backend=backend)
                want = _bind(A, jnp.asarray(v), 0, transpose=transpose, backend=backend)
                np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
                assert_close(got, M @ v, dtype)


def test_pallas_slices_the_operand():
    S, A = _matrix()
    x = np.linspace(-1, 1, S.shape[1])
    got = _bind(A, _with_nan_before(x, 3), 3, backend="pallas")
    assert_close(got, S @ x)


@pytest.mark.parametrize("fmt", ["csr", "csc"])
def test_compressed_matmul_takes_b_start(fmt):
    """``CSR._matmul`` / ``CSC._matmul`` with ``b_start``, both orientations (a CSC's
    ``A @ x`` is the transposed CSR kernel); a CSR with narrow offsets binds the CSR
    kernel (the offsets' kernel takes no ``b_start``)."""
    S, A = _matrix()
    A = A if fmt == "csr" else js.CSC.from_scipy(S.tocsc())
    for transpose in (False, True):
        rows = S.shape[0] if transpose else S.shape[1]
        v = np.linspace(-1, 1, rows)
        got = jax.jit(lambda A, b, t=transpose: A._matmul(b, transpose=t, backend=None,
                                                         b_start=2))(A, _with_nan_before(v, 2))
        assert_close(got, (S.T if transpose else S) @ v)
    band = js.CSR.from_scipy(sps.diags_array([np.ones(37), 2 * np.ones(40), np.ones(39)],
                                             offsets=[-3, 0, 1]).tocsr())
    assert band.diagonal_offsets is not None
    text = str(jax.make_jaxpr(lambda b: band._matmul(b, transpose=False, backend=None,
                                                     b_start=2))(jnp.ones(42)))
    assert "csr_matmul" in text and "csr_offsets_matvec" not in text


@pytest.mark.parametrize("backend", BACKENDS)
def test_b_start_grad_jvp_and_vmap(backend):
    S, A = _matrix()
    x = np.linspace(-1, 1, S.shape[1])
    b = jnp.asarray(np.concatenate([[3.0, -1.0], x]))

    def loss(d, v, s):
        return jnp.sum(jnp.sin(_bind(A.with_data(d), v, s, backend=backend)))

    g_d, g_b = jax.grad(loss, argnums=(0, 1))(A.data, b, 2)
    w_d, w_x = jax.grad(loss, argnums=(0, 1))(A.data, jnp.asarray(x), 0)
    assert_close(g_d, w_d)
    assert_close(g_b, np.concatenate([[0.0, 0.0], np.asarray(w_x)]))
    t = jnp.asarray(np.random.default_rng(2).standard_normal(b.shape))
    tan = jax.jvp(lambda v: _bind(A, v, 2, backend=backend), (b,), (t,))[1]
    want = jax.jvp(lambda v: _bind(A, v, 0, backend=backend), (b[2:],), (t[2:],))[1]
    assert_close(tan, want)
    B = jnp.stack([b, 2 * b])
    assert_close(jax.vmap(lambda v: _bind(A, v, 2, backend=backend))(B),
                 np.stack([S @ x, 2 * (S @ x)]))
    assert_close(jax.vmap(lambda v: _bind(A, v, 2, backend=backend), in_axes=1)(B.T),
                 np.stack([S @ x, 2 * (S @ x)]))
    D = jnp.stack([A.data, -A.data])
    assert_close(jax.vmap(lambda d: _bind(A.with_data(d), b, 2, backend=backend))(D),
                 np.stack([S @ x, -(S @ x)]))
    ct_t = jax.grad(lambda v: jnp.sum(_bind(A, v, 2, transpose=True, backend=backend)
                                      ** 2))(_with_nan_before(np.ones(S.shape[0]), 2)
                                             .at[:2].set(0.0))
    assert_close(ct_t[2:], 2 * S @ (S.T @ np.ones(S.shape[0])))
    assert_close(ct_t[:2], np.zeros(2))
