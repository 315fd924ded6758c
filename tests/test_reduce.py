"""Reductions: differential against SciPy for every format, jit, padding, grads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import FORMATS, assert_close, dtype_cases, random_scipy, to_js
from jax.test_util import check_grads

import jaxsparse as js

ALL_FORMATS = tuple(FORMATS) + tuple(
    f for f in ("dia", "bsr") if f not in FORMATS and hasattr(js, f.upper())
)
SHAPE = (6, 5)


def _mat(dtype=np.float64, seed=0, fmt="csr", shape=SHAPE, density=0.4):
    S = random_scipy(*shape, density=density, dtype=dtype, seed=seed).tolil()
    if shape[0] > 2:
        S[2, :] = 0
    if shape[0] > 3 and dtype != np.complex128:
        S[3, :] = -np.abs(S[3, :].toarray()) - 1  # a full, all-negative row
    return sps.csr_array(S).asformat(fmt)


def _dup_coo():
    row = np.array([0, 0, 3, 3, 5, 1, 1, 4])
    col = np.array([1, 1, 4, 4, 0, 2, 3, 2])
    vals = np.array([1.5, -1.5, 0.5, -2.25, 3.0, -1.0, 2.0, -4.0])
    return sps.coo_array((vals, (row, col)), shape=SHAPE)


def _eq(actual, expected, dtype=None):
    expected = np.asarray(expected.toarray() if sps.issparse(expected) else expected)
    if isinstance(actual, js.formats.AbstractSparse):
        actual = actual.todense()
    assert np.dtype(actual.dtype) == expected.dtype, (actual.dtype, expected.dtype)
    assert_close(actual, expected, dtype=dtype or expected.dtype, scale=10)


# Every format in float64; each other dtype (promotion, integer extremes) with one format.
CASES = dtype_cases(ALL_FORMATS, (np.float32, np.int64, np.int32), per_dtype=1)


@pytest.mark.parametrize("fmt,dtype", CASES)
def test_sum_mean(fmt, dtype):
    S = _mat(dtype, seed=1, fmt=fmt)
    A = to_js(S, fmt)
    for axis in (None, 0, 1, -1):
        _eq(A.sum(axis=axis), S.sum(axis=axis))
        _eq(A.mean(axis=axis), S.mean(axis=axis))


@pytest.mark.parametrize("fmt,dtype", CASES)
def test_diagonal_trace(fmt, dtype):
    S = _mat(dtype, seed=2, fmt=fmt)
    A = to_js(S, fmt)
    for k in (0, 1, -2, 4, -5, 7, -9):
        _eq(A.diagonal(k), S.diagonal(k))
        _eq(A.trace(k), S.trace(k))


@pytest.mark.parametrize("fmt,dtype", CASES)
def test_max_min_count(fmt, dtype):
    S = _mat(dtype, seed=3, fmt=fmt)
    A = to_js(S, fmt)
    if fmt in ("dia", "bsr"):  # SciPy has no max/min for these; same values via CSR
        S = S.tocsr()
    for axis in (None, 0, 1, -1):
        for name in ("max", "min"):
            R = getattr(A, name)(axis=axis)
            ref = getattr(S, name)(axis=axis)
            if axis is not None:
                assert R.format == "coo" and R.shape == ref.shape
            _eq(R, ref)
            if fmt != "dia":  # DIA stores in-band zeros explicitly; SciPy's CSR does not
                _eq(getattr(A, name)(axis=axis, explicit=True),
                    getattr(S, name)(axis=axis, explicit=True))
        _eq(A.count_nonzero(axis=axis), np.asarray(S.count_nonzero(axis=axis)).astype(
            np.int64))


def test_complex():
    S = _mat(np.complex128, seed=4)
    A = to_js(S, "csr")
    _eq(A.sum(), S.sum())
    _eq(A.sum(axis=0), S.sum(axis=0))
    _eq(A.mean(axis=1), S.mean(axis=1))
    _eq(A.diagonal(1), S.diagonal(1))
    _eq(A.max(), S.max())
    _eq(A.min(), S.min())


def test_duplicates():
    S = _dup_coo()
    A = js.COO.from_scipy(S)
    _eq(A.sum(), S.sum())
    _eq(A.sum(axis=1), S.sum(axis=1))
    _eq(A.diagonal(), S.diagonal())
    for axis in (None, 0, 1):
        _eq(A.max(axis=axis), S.max(axis=axis))
        _eq(A.min(axis=axis), S.min(axis=axis))
        _eq(A.count_nonzero(axis=axis), np.asarray(S.count_nonzero(axis=axis)).astype(
            np.int64))


def test_padding_never_contributes():
    # Capacity past indptr[-1] holds garbage on input; it must be ignored everywhere.
    S = -sps.csr_array(np.abs(_mat(seed=5).toarray())) - sps.csr_array(np.ones(SHAPE))
    A = js.CSR.from_arrays(np.concatenate([S.data, [100.0, -100.0]]),
                           np.concatenate([S.indices, [0, 0]]), S.indptr, shape=SHAPE)
    _eq(A.max(), S.max())
    _eq(A.min(), S.min())
    _eq(A.max(axis=0), S.max(axis=0))
    _eq(A.count_nonzero(), np.int64(S.count_nonzero()))
    _eq(A.sum(axis=1), S.sum(axis=1))


@pytest.mark.parametrize("shape", [(0, 3), (3, 0), (1, 1)])
def test_edge_shapes(shape):
    S = sps.csr_array(np.full(shape, 2.0))
    A = to_js(S, "csr")
    for axis in (None, 0, 1):
        _eq(A.sum(axis=axis), S.sum(axis=axis))
        _eq(A.count_nonzero(axis=axis), np.asarray(S.count_nonzero(axis=axis)).astype(
            np.int64))
        for name in ("max", "min"):
            try:
                ref = getattr(S, name)(axis=axis)
            except ValueError:
                with pytest.raises(ValueError, match="zero-size"):
                    getattr(A, name)(axis=axis)
            else:
                _eq(getattr(A, name)(axis=axis), ref)
    _eq(A.diagonal(), S.diagonal())
    _eq(A.trace(), S.trace())


def test_one_d():
    v = sps.coo_array(np.array([1.0, 0.0, -2.0, 0.0]))
    V = js.COO.from_scipy(v)
    _eq(V.sum(), v.sum())
    _eq(V.max(), v.max())
    _eq(V.min(), v.min())
    _eq(V.count_nonzero(), np.int64(v.count_nonzero()))


def test_bad_axis():
    A = to_js(_mat(), "csr")
    with pytest.raises(ValueError, match="axis"):
        A.sum(axis=2)
    with pytest.raises(TypeError, match="axis"):
        A.max(axis="rows")


def test_under_jit():
    S = _dup_coo()
    A = js.COO.from_scipy(S)

    @jax.jit
    def f(a):
        return (a.sum(), a.sum(axis=0), a.mean(axis=1), a.diagonal(1), a.trace(),
                a.max(), a.min(axis=0), a.count_nonzero(axis=1))

    out = f(A)
    refs = (S.sum(), S.sum(axis=0), S.mean(axis=1), S.diagonal(1), S.trace(), S.max(),
            S.min(axis=0), np.asarray(S.count_nonzero(axis=1)).astype(np.int64))
    for got, ref in zip(out, refs, strict=True):
        _eq(got, ref)


@pytest.mark.parametrize("fmt,order", [("csr", 2), ("coo", 1)])
def test_grads(fmt, order):
    S = _mat(seed=6, fmt=fmt)
    A = to_js(S, fmt)
    w0, w1 = jnp.arange(1.0, 6.0), jnp.arange(1.0, 7.0)

    @jax.jit
    def f(a):
        M = A.with_data(a)
        return (jnp.sin(M.sum()) + jnp.sum(M.sum(axis=0) ** 2 * w0)
                + jnp.sum(jnp.cos(M.mean(axis=1)) * w1) + jnp.sum(M.diagonal(1) ** 3)
                + M.trace() ** 2)

    check_grads(f, (A.data,), order=order, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)

    @jax.jit
    def g(a):
        M = A.with_data(a)
        return M.max() + jnp.sum(M.min(axis=1).todense() * w1) + jnp.sum(
            M.max(axis=0).todense() * w0)

    check_grads(g, (A.data,), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
