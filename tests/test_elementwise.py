"""Elementwise arithmetic and unary ufuncs: differential against SciPy, jit, grads."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import FORMATS, assert_close, random_scipy, to_js
from jax.test_util import check_grads

import jaxsparse as js

ALL_FORMATS = tuple(FORMATS) + tuple(
    f for f in ("dia", "bsr") if f not in FORMATS and hasattr(js, f.upper())
)
SHAPE = (6, 5)


def _mat(dtype=np.float64, seed=0, fmt="csr", shape=SHAPE):
    S = random_scipy(*shape, density=0.4, dtype=dtype, seed=seed).tolil()
    if shape[0] > 2:
        S[2, :] = 0  # an empty row
    return sps.csr_array(S).asformat(fmt)


def _dup_coo(dtype=np.float64):
    row = np.array([0, 0, 3, 3, 5, 1, 1])
    col = np.array([1, 1, 4, 4, 0, 2, 3])
    vals = np.array([1.5, -2.0, 0.5, 0.25, 3.0, -1.0, 2.0]).astype(dtype)
    return sps.coo_array((vals, (row, col)), shape=SHAPE)


def _same(R, ref, dtype=None, scale=10):
    """R (jaxsparse or dense) equals SciPy's ``ref`` in format, dtype and values."""
    if sps.issparse(ref):
        assert R.format == ref.format, (R.format, ref.format)
        assert R.shape == ref.shape
        dense = R.todense()
        expected = ref.toarray()
    else:
        assert not isinstance(R, js.formats.AbstractSparse)
        dense, expected = R, np.asarray(ref)
    assert np.dtype(dense.dtype) == expected.dtype, (dense.dtype, expected.dtype)
    assert_close(dense, expected, dtype=dtype or expected.dtype, scale=scale)


SPARSE_OPS = {
    "add": (js.ops.add, lambda a, b: a + b),
    "subtract": (js.ops.subtract, lambda a, b: a - b),
    "multiply": (js.ops.multiply, lambda a, b: a.multiply(b)),
    "maximum": (js.ops.maximum, lambda a, b: a.maximum(b)),
    "minimum": (js.ops.minimum, lambda a, b: a.minimum(b)),
}


# -- sparse with sparse ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ALL_FORMATS)
@pytest.mark.parametrize("op", list(SPARSE_OPS))
def test_sparse_sparse_formats(op, fmt):
    fn, ref = SPARSE_OPS[op]
    S1, S2 = _mat(seed=1, fmt=fmt), _mat(seed=2, fmt=fmt)
    _same(fn(to_js(S1, fmt), to_js(S2, fmt)), ref(S1, S2))


@pytest.mark.parametrize("fa,fb", [("csr", "csc"), ("csc", "coo"), ("coo", "csr")])
@pytest.mark.parametrize("op", ["add", "multiply", "maximum"])
def test_sparse_sparse_mixed_formats(op, fa, fb):
    fn, ref = SPARSE_OPS[op]
    S1, S2 = _mat(seed=3, fmt=fa), _mat(seed=4, fmt=fb)
    _same(fn(to_js(S1, fa), to_js(S2, fb)), ref(S1, S2))


@pytest.mark.parametrize("dtype", [np.float32, np.complex128, np.int64])
@pytest.mark.parametrize("op", ["add", "subtract", "multiply"])
def test_sparse_sparse_dtypes(op, dtype):
    fn, ref = SPARSE_OPS[op]
    S1, S2 = _mat(dtype, seed=5), _mat(np.float64 if dtype == np.int64 else dtype, seed=6)
    _same(fn(to_js(S1, "csr"), to_js(S2, "csr")), ref(S1, S2))


@pytest.mark.parametrize("op", list(SPARSE_OPS))
def test_duplicates(op):
    fn, ref = SPARSE_OPS[op]
    D, S = _dup_coo(), _mat(seed=7, fmt="coo")
    _same(fn(js.COO.from_scipy(D), to_js(S, "coo")), ref(D, S))
    _same(fn(js.COO.from_scipy(D), js.COO.from_scipy(D)), ref(D, D))


@pytest.mark.parametrize("op", list(SPARSE_OPS))
def test_same_pattern_fast_path(op):
    fn, ref = SPARSE_OPS[op]
    S = _mat(seed=8)
    A = to_js(S, "csr")
    B = A.with_data(A.data * 2.0 - 1.0)
    R = fn(A, B)
    if op in ("add", "subtract") or A.has_canonical_format:
        assert R.indices is A.indices  # no symbolic phase ran
    _same(R, ref(S, B.to_scipy()))


@pytest.mark.parametrize("shape", [(0, 3), (1, 1), (3, 0)])
def test_edge_shapes(shape):
    S1 = sps.csr_array(np.ones(shape))
    S2 = sps.csr_array(np.full(shape, 2.0))
    for fn, ref in SPARSE_OPS.values():
        _same(fn(to_js(S1, "csr"), to_js(S2, "coo")), ref(S1, S2))


def test_shape_mismatch():
    with pytest.raises(ValueError, match="inconsistent shapes"):
        to_js(_mat(), "csr") + to_js(_mat(shape=(5, 5)), "csr")


def test_structural_zeros_kept():
    S = _mat(seed=9)
    A = to_js(S, "csr")
    R = A - A.with_data(A.data + 0)  # equal values, different data object
    assert R.nnz == S.nnz and (S - S).nnz == 0
    assert_close(R.todense(), np.zeros(SHAPE))


@pytest.mark.parametrize("op", list(SPARSE_OPS))
@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_under_jit_traced_structure(op, fmt):
    fn, ref = SPARSE_OPS[op]
    S1, S2 = _mat(seed=10, fmt=fmt), _mat(seed=11, fmt=fmt)
    A, B = to_js(S1, fmt), to_js(S2, fmt)
    R = jax.jit(fn)(A, B)
    expected = ref(S1, S2)
    assert R.format == expected.format
    assert R.capacity == A.capacity + B.capacity  # padded, static capacity
    assert_close(R.todense(), expected.toarray())


@pytest.mark.parametrize("op", ["add", "multiply", "maximum"])
def test_plan_under_jit(op):
    fn, ref = SPARSE_OPS[op]
    S1, S2 = _mat(seed=12), _mat(seed=13, fmt="csc")
    A, B = to_js(S1, "csr"), to_js(S2, "csc")
    plan = js.ops.elementwise_symbolic(A, B, op)
    R = jax.jit(lambda a, b, p: fn(a, b, plan=p))(A, B, plan)
    _same(R, ref(S1, S2))
    assert R.nnz == plan.nnz and R.has_canonical_format
    other = to_js(_mat(seed=14, shape=(6, 5)), "coo")  # another capacity / layout
    if other.capacity != A.capacity:
        with pytest.raises(ValueError, match="plan"):
            fn(other, B, plan=plan)


def test_elementwise_symbolic_needs_concrete():
    A = to_js(_mat(), "csr")
    with pytest.raises(ValueError, match="elementwise_symbolic"):
        jax.jit(lambda a: js.ops.elementwise_symbolic(a, a))(A)


# -- sparse with scalars and dense -------------------------------------------------------
SCALAR_CASES = [(f, np.float64) for f in ALL_FORMATS] + [
    (f, d) for f in ("csr", "coo") for d in (np.float32, np.complex128, np.int64)
]


@pytest.mark.parametrize("fmt,dtype", SCALAR_CASES)
def test_scalar_ops(fmt, dtype):
    S = _mat(dtype, seed=15, fmt=fmt)
    A = to_js(S, fmt)
    _same(A * 2, S * 2)
    _same(3 * A, 3 * S)
    _same(A * 2.5, S * 2.5)
    _same(A / 2, S / 2)
    _same(-A, -S)
    _same(abs(A), abs(S))
    _same(A ** 2, S ** 2)
    _same(A + 0, S + 0)
    _same(A - 0, S - 0)
    _same(0 - A, -S)
    if dtype != np.complex128:
        _same(A.maximum(-1), S.maximum(-1))
        _same(A.minimum(0.5), S.minimum(0.5))


def test_scalar_dtype_promotion():
    S = _mat(np.float32)
    A = to_js(S, "csr")
    _same(A * np.float64(2), S * np.float64(2))
    _same(A * 2.0, S * 2.0)
    _same(A * (1 + 1j), S * (1 + 1j))
    Si = _mat(np.int64)
    _same(to_js(Si, "csr") ** 0.5, Si ** 0.5, scale=1)


def test_power_semantics():
    S = _dup_coo()
    A = js.COO.from_scipy(S)
    _same(A ** 2, S ** 2)   # duplicates summed first
    _same(A ** -1, S ** -1)
    _same(A.power(3), S.power(3))
    with pytest.raises(ValueError, match="zero power"):
        A ** 0
    with pytest.raises(ValueError, match="negative integer"):
        to_js(_mat(np.int64), "csr") ** -1
    with pytest.raises(TypeError, match="scalar exponent"):
        A ** A


def test_scalar_errors():
    A = to_js(_mat(), "csr")
    with pytest.raises(ValueError, match="adding a nonzero scalar"):
        A + 1
    with pytest.raises(ValueError, match="adding a nonzero scalar"):
        1.5 + A
    with pytest.raises(ValueError, match="subtracting a nonzero scalar"):
        A - 1
    with pytest.raises(ValueError, match="subtracting a sparse array from a nonzero"):
        1 - A
    with pytest.raises(ValueError, match="dense"):
        A.maximum(1.0)
    with pytest.raises(TypeError, match="boolean"):
        -A.with_data(A.data != 0)
    with pytest.raises(TypeError):
        2 / A
    with pytest.raises(TypeError):
        np.ones(SHAPE) / A
    with pytest.raises(TypeError, match="traced"):
        jax.jit(lambda a, s: a + s)(A, 1.0)


def test_scalar_nonfinite_keeps_padding_zero():
    S = _mat(seed=16)
    A = js.CSR.from_arrays(np.concatenate([S.data, [5.0, 5.0]]),
                           np.concatenate([S.indices, [0, 0]]), S.indptr, shape=SHAPE)
    R = A * np.inf
    assert np.all(np.asarray(R.data)[S.nnz:] == 0)
    R = A / 0.0
    assert np.all(np.asarray(R.data)[S.nnz:] == 0)
    _same(A * np.inf, S * np.inf)


@pytest.mark.parametrize("fmt", ALL_FORMATS)
def test_dense_operands(fmt):
    S = _mat(seed=17, fmt=fmt)
    A = to_js(S, fmt)
    D = np.arange(1.0, 31.0).reshape(SHAPE)
    row = np.arange(5.0) - 2
    col = np.arange(6.0).reshape(6, 1) + 1
    _same(A * D, S * D)
    _same(D * A, D * S)
    _same(A * row, S * row)
    _same(A * col, S * col)
    _same(A / D, S / D)
    _same(A + D, S + D)
    _same(D + A, D + S)
    _same(A - D, S - D)
    _same(D - A, D - S)
    _same(A.maximum(D), S.maximum(D))
    _same(A.minimum(D), S.minimum(D))


def test_dense_dtypes():
    S = _mat(np.int64, seed=18)
    A = to_js(S, "csr")
    D = np.ones(SHAPE, np.float32)
    _same(A + D, S + D)
    _same(A * D, S * D)
    _same(A / np.full(SHAPE, 2, np.int64), S / np.full(SHAPE, 2, np.int64))


def test_sparse_divide_sparse_is_dense():
    S1, S2 = _mat(seed=19), _mat(seed=20)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = S1 / S2
    R = to_js(S1, "csr") / to_js(S2, "coo")
    assert np.dtype(R.dtype) == ref.dtype
    np.testing.assert_allclose(np.asarray(R), ref, rtol=1e-12)


def test_one_d_coo():
    v = sps.coo_array(np.array([1.0, 0.0, 2.0, 0.0]))
    w = sps.coo_array(np.array([0.0, 3.0, -2.0, 0.0]))
    V, W = js.COO.from_scipy(v), js.COO.from_scipy(w)
    assert_close((V + W).todense(), (v + w).toarray())
    assert_close((V * W).todense(), (v * w).toarray())
    assert_close(V.maximum(W).todense(), v.maximum(w).toarray())
    _same(V * 2, v * 2)
    _same(V.sin(), v.sin())


# -- unary -------------------------------------------------------------------------------
UNARY = ("sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh", "sqrt",
         "expm1", "log1p", "floor", "ceil", "trunc", "rint", "sign", "deg2rad", "rad2deg")


@pytest.mark.parametrize("name", UNARY)
def test_unary(name):
    S = _dup_coo() * 0.3
    A = js.COO.from_scipy(S)
    with np.errstate(invalid="ignore"):
        _same(getattr(A, name)(), getattr(S, name)())
        _same(getattr(js.ops, name)(to_js(S.tocsr(), "csr")), getattr(S.tocsr(), name)())


@pytest.mark.parametrize("fmt,dtype", SCALAR_CASES)
def test_unary_formats_dtypes(fmt, dtype):
    S = _mat(dtype, seed=21, fmt=fmt)
    A = to_js(S, fmt)
    for name in ("sin", "sqrt", "sign", "floor", "rint"):
        if dtype == np.complex128 and name in ("floor",):
            continue
        with np.errstate(invalid="ignore"):
            ref = getattr(S, name)()
        _same(getattr(A, name)(), ref)
    _same(A.conj(), S.conj())
    _same(A.real, S.real)
    _same(A.imag, S.imag)


def test_unary_under_jit():
    S = _dup_coo()
    A = js.COO.from_scipy(S)
    R = jax.jit(lambda a: a.sin())(A)
    assert_close(R.todense(), S.sin().toarray())
    R = jax.jit(lambda a: a.sqrt())(to_js(S.tocsr(), "csr") ** 2)
    assert_close(R.todense(), abs(S).toarray())


# -- gradients ---------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_grads_sparse_sparse(fmt):
    S1, S2 = _mat(seed=22, fmt=fmt), _mat(seed=23, fmt=fmt)
    A, B = to_js(S1, fmt), to_js(S2, fmt)
    for op in ("subtract", "multiply", "maximum"):
        fn = SPARSE_OPS[op][0]
        plan = js.ops.elementwise_symbolic(A, B, op)

        @jax.jit
        def f(a, b, fn=fn, plan=plan):
            return jnp.sum(jnp.sin(fn(A.with_data(a), B.with_data(b), plan=plan).data))

        check_grads(f, (A.data, B.data), order=2, modes=("fwd", "rev"), atol=1e-6,
                    rtol=1e-6)


def test_grads_traced_structure():
    S1, S2 = _mat(seed=24), _mat(seed=25)
    A, B = to_js(S1, "csr"), to_js(S2, "csr")
    g = jax.jit(lambda a, b: jnp.sum(js.ops.multiply(a, b).data ** 2))

    @jax.jit
    def f(a, b):
        return g(A.with_data(a), B.with_data(b))

    check_grads(f, (A.data, B.data), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_grads_scalar_dense_unary():
    S = _mat(seed=26)
    A = js.CSR.from_arrays(np.concatenate([np.abs(S.data) + 0.1, [0.0]]),
                           np.concatenate([S.indices, [0]]), S.indptr, shape=SHAPE)
    D = jnp.arange(1.0, 31.0).reshape(SHAPE)

    @jax.jit
    def f(a):
        M = A.with_data(a)
        return jnp.sum(((M * 2.0) / 3.0 * D).data + M.sqrt().data + (M ** 3).data
                       + M.tanh().data)

    check_grads(f, (A.data,), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
    g = jax.grad(lambda a: jnp.sum(A.with_data(a).sqrt().data))(A.data)
    assert np.all(np.isfinite(np.asarray(g))) and float(g[-1]) == 0.0  # padding slot
