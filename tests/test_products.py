"""Sparse-dense products against SciPy, for every format and dtype."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import FORMATS, assert_close, random_scipy, to_js
from hypothesis import given
from strategies import padded_csr, scipy_coo, unsummed_csr

import jaxsparse as js

PRODUCT_DTYPES = (np.float32, np.float64, np.complex64, np.complex128, np.int64)


def _operand(shape, dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    elif np.dtype(dtype).kind in "iu":
        x = rng.integers(-3, 4, shape)
    return x.astype(dtype)


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("dtype", PRODUCT_DTYPES)
class TestProducts:
    n, m = 9, 7

    def _pair(self, fmt, dtype):
        S = random_scipy(self.n, self.m, density=0.35, dtype=dtype, seed=3)
        return S, to_js(S, fmt)

    def test_spmv(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        x = _operand(self.m, dtype)
        y = js.ops.spmv(A, x)
        assert y.dtype == (S @ x).dtype
        assert_close(y, S @ x, dtype)
        assert_close(A @ x, S @ x, dtype)

    def test_spmv_transposed(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        y = _operand(self.n, dtype)
        assert_close(js.ops.spmv(A, y, transpose=True), S.T @ y, dtype)
        assert_close(A.T @ y, S.T @ y, dtype)

    def test_spmm(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        X = _operand((self.m, 3), dtype)
        assert_close(js.ops.spmm(A, X), S @ X, dtype)
        assert_close(A @ X, S @ X, dtype)
        Y = _operand((self.n, 2), dtype)
        assert_close(js.ops.spmm(A, Y, transpose=True), S.T @ Y, dtype)

    def test_dense_times_sparse(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        X = _operand((4, self.n), dtype)
        v = _operand(self.n, dtype)
        assert_close(X @ A, X @ S, dtype)
        assert_close(v @ A, v @ S, dtype)
        # NumPy hands the product to __rmatmul__ instead of densifying A.
        assert_close(np.asarray(X) @ A, X @ S, dtype)

    def test_under_jit(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        x = _operand(self.m, dtype)
        assert_close(jax.jit(lambda A, x: A @ x)(A, x), S @ x, dtype)


@pytest.mark.parametrize("fmt", FORMATS)
def test_mixed_dtypes_follow_numpy_promotion(fmt):
    S = random_scipy(5, 4, dtype=np.float32)
    A = to_js(S, fmt)
    x = np.arange(4, dtype=np.int32)
    y = A @ x
    assert y.dtype == (S @ x).dtype == np.float64
    assert_close(y, S @ x, np.float32)


@pytest.mark.parametrize("low", [jnp.bfloat16, jnp.float16])
def test_low_precision_accumulates_in_f32(low):
    # 4096 ones summed in bf16/f16 would stall at 256/2048; f32 accumulation is exact.
    n = 4096
    S = sps.csr_array(np.ones((1, n)))
    A = js.CSR.from_scipy(S).astype(low)
    y = A @ jnp.ones(n, low)
    assert y.dtype == low
    assert float(y[0]) == n


@given(scipy_coo(max_dim=8))
def test_spmv_random_patterns(S):
    """Empty rows, duplicates, a dense row, 0x0 and 1x1, with padded capacity."""
    # SciPy's coo_array of shape (1, m) returns a 0-d product; its CSR is the oracle.
    oracle = S.tocsr()
    x = np.linspace(-1.0, 2.0, S.shape[1])
    y = np.ones(S.shape[0])
    for A in (padded_csr(unsummed_csr(S)), js.COO.from_scipy(S)):  # duplicates kept
        assert_close(A @ x, oracle @ x, np.float64)
        assert_close(A.T @ y, oracle.T @ y, np.float64)


def test_padding_never_turns_inf_into_nan():
    S = sps.csr_array(np.array([[1.0, 0.0], [0.0, 0.0]]))
    A = js.CSR.from_arrays(
        np.array([1.0, 5.0, 5.0]), np.array([0, 1, 1]), S.indptr, shape=S.shape
    )
    assert A.capacity == 3 and A.nnz == 1
    x = np.array([2.0, np.inf])
    y = np.asarray(A @ x)
    np.testing.assert_array_equal(y, [2.0, 0.0])
    yt = np.asarray(A.T @ np.array([1.0, np.inf]))
    np.testing.assert_array_equal(yt, [1.0, 0.0])
    for other in (A.tocoo(), A.tocsc()):
        np.testing.assert_array_equal(np.asarray(other @ x), [2.0, 0.0])


@pytest.mark.parametrize("fmt", FORMATS)
def test_sddmm_matches_dense(fmt):
    S = random_scipy(6, 5, density=0.5, dtype=np.float64, seed=7)
    A = to_js(S, fmt)
    B = _operand((6, 3), np.float64, seed=2)
    C = _operand((3, 5), np.float64, seed=3)
    if not hasattr(A, "_sampled"):
        with pytest.raises(TypeError, match="sddmm supports"):
            js.ops.sddmm(A, B, C)
        return
    R = js.ops.sddmm(A, B, C)
    assert type(R) is type(A)
    assert_close(R.todense(), S.toarray() * (B @ C), np.float64)


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda A: js.ops.spmv(A, np.ones(4)), "x must have 5 rows"),
        (lambda A: js.ops.spmv(A, np.ones((5, 2))), "x must be 1-D"),
        (lambda A: js.ops.spmm(A, np.ones(5)), "B must be 2-D"),
        (lambda A: js.ops.spmm(A, np.ones((3, 2))), "B must have 5 rows"),
        (lambda A: np.ones((2, 3)) @ A, "X must have 6 columns"),
        (lambda A: js.ops.sddmm(A, np.ones((6, 2)), np.ones((3, 5))), "sddmm needs"),
        (lambda A: js.ops.spmv(A, np.ones(5), backend="gpu"), "backend must be one of"),
    ],
)
def test_bad_operands_raise_clear_errors(call, match):
    A = js.CSR.from_scipy(random_scipy(6, 5))
    with pytest.raises((ValueError, TypeError), match=match):
        call(A)


def test_sparse_refuses_silent_densification():
    A = js.CSR.from_scipy(random_scipy(3, 3))
    assert A.__array_ufunc__ is None
    assert not hasattr(A, "__array__") and not hasattr(A, "__jax_array__")
    with pytest.raises(TypeError):
        jnp.asarray(A)
