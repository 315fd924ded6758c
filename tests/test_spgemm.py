"""spgemm: differential against SciPy, the two phases under jit, and gradients."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import FORMATS, assert_close, backend_compiles, random_scipy, to_js, tol
from jax.test_util import check_grads

import jaxsparse as js

ALL_FORMATS = tuple(FORMATS) + tuple(
    f for f in ("dia", "bsr") if f not in FORMATS and hasattr(js, f.upper())
)
DTYPES = (np.float32, np.float64, np.complex128, np.int64)


def _pair(n=5, k=6, p=4, dtype=np.float64, seed=0):
    S = random_scipy(n, k, density=0.35, dtype=dtype, seed=seed)
    T = random_scipy(k, p, density=0.35, dtype=dtype, seed=seed + 1)
    S = S.tolil()
    S[1, :] = 0  # an empty row
    return sps.csr_array(S), T


def _check(C, ref, dtype):
    assert C.format == "csr"
    assert np.dtype(C.dtype) == np.dtype(ref.dtype)
    assert C.shape == ref.shape
    assert_close(C.todense(), ref.toarray(), dtype=dtype, scale=10)
    assert C.has_canonical_format
    # Sorted, duplicate-free pattern; SciPy may drop numerically zero results only.
    Cs = C.to_scipy()
    assert Cs.has_canonical_format
    assert C.nnz >= ref.nnz


PAIRS = [(f, f) for f in ALL_FORMATS] + [
    (a, b) for a, b in [("csr", "csc"), ("coo", "csr"), ("csc", "coo"), ("dia", "bsr"),
                        ("bsr", "csr")] if a in ALL_FORMATS and b in ALL_FORMATS
]


@pytest.mark.parametrize("fa,fb", PAIRS)
def test_formats(fa, fb):
    S, T = _pair(seed=3)
    C = js.ops.spgemm(to_js(S.asformat(fa), fa), to_js(T.asformat(fb), fb))
    _check(C, S @ T, np.float64)


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes(dtype):
    S, T = _pair(dtype=dtype, seed=5)
    C = to_js(S, "csr") @ to_js(T, "csr")
    _check(C, S @ T, dtype)


def test_mixed_dtypes_promote_like_numpy():
    S, T = _pair(dtype=np.float32, seed=7)
    Ti = T.astype(np.int32)
    C = js.ops.spgemm(to_js(S, "csr"), to_js(Ti, "csr"))
    assert np.dtype(C.dtype) == (S @ Ti).dtype == np.float64


def test_duplicates_in_coo():
    row = np.array([0, 0, 2, 2, 2, 1])
    col = np.array([1, 1, 0, 3, 0, 2])
    S = sps.coo_array((np.arange(1.0, 7.0), (row, col)), shape=(3, 4))
    T = sps.coo_array((np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
                       (np.array([0, 0, 1, 3, 3]), np.array([1, 1, 0, 2, 2]))), shape=(4, 3))
    C = js.ops.spgemm(js.COO.from_scipy(S), js.COO.from_scipy(T))
    _check(C, (S.tocsr() @ T.tocsr()), np.float64)


@pytest.mark.parametrize("shapes", [((0, 3), (3, 2)), ((3, 0), (0, 2)), ((1, 1), (1, 1)),
                                    ((2, 3), (3, 0))])
def test_edge_shapes(shapes):
    (n, k), (_, p) = shapes
    S = sps.csr_array(np.ones((n, k)))
    T = sps.csr_array(np.full((k, p), 2.0))
    C = js.ops.spgemm(to_js(S, "csr"), to_js(T, "csr"))
    _check(C, S @ T, np.float64)


def test_cancellation_keeps_structural_zero():
    S = sps.csr_array(np.array([[1.0, 1.0]]))
    T = sps.csr_array(np.array([[1.0], [-1.0]]))
    C = js.ops.spgemm(to_js(S, "csr"), to_js(T, "csr"))
    assert C.nnz == 1 and (S @ T).nnz == 0
    assert_close(C.todense(), (S @ T).toarray())


def test_padded_inputs():
    S, T = _pair(seed=11)
    A = js.CSR.from_arrays(np.concatenate([S.data, [9.0, 9.0]]),
                           np.concatenate([S.indices, [0, 1]]), S.indptr, shape=S.shape)
    _check(js.ops.spgemm(A, to_js(T, "coo")), S @ T, np.float64)


def test_shape_mismatch():
    S, T = _pair()
    with pytest.raises(ValueError, match="spgemm"):
        js.ops.spgemm(to_js(S, "csr"), to_js(S, "csr"))


def test_plan_under_jit_and_reuse():
    S, T = _pair(seed=13)
    A, B = to_js(S, "csr"), to_js(T, "csc")
    plan = js.ops.spgemm_symbolic(A, B)
    f = jax.jit(js.ops.spgemm_numeric)
    _check(f(A, B, plan), S @ T, np.float64)
    # Same pattern, new values: the compiled function and plan are reused.
    A2 = A.with_data(A.data * 3.0)
    _check(f(A2, B, plan), (3.0 * S) @ T, np.float64)
    # spgemm(..., plan=) inside jit.
    g = jax.jit(lambda a, b, p: js.ops.spgemm(a, b, plan=p))
    _check(g(A, B, plan), S @ T, np.float64)


def test_plan_mismatch_raises():
    S, T = _pair(seed=13)
    plan = js.ops.spgemm_symbolic(to_js(S, "csr"), to_js(T, "csr"))
    with pytest.raises(ValueError, match="plan"):
        js.ops.spgemm_numeric(to_js(S, "csr"), to_js(T[:, :3], "csr"), plan)


def test_jit_without_plan_raises():
    S, T = _pair()
    with pytest.raises(ValueError, match="spgemm"):
        jax.jit(lambda a, b: js.ops.spgemm(a, b))(to_js(S, "csr"), to_js(T, "csr"))
    with pytest.raises(ValueError, match="spgemm_symbolic"):
        jax.jit(lambda a, b: js.ops.spgemm_symbolic(a, b))(to_js(S, "csr"), to_js(T, "csr"))


@pytest.mark.parametrize("fa,fb", [("csr", "csr"), ("coo", "csc")])
def test_jit_with_nse(fa, fb):
    S, T = _pair(seed=17)
    ref = S @ T
    f = jax.jit(lambda a, b: js.ops.spgemm(a, b, nse=24))
    C = f(to_js(S.asformat(fa), fa), to_js(T.asformat(fb), fb))
    assert C.capacity == 24 and C.nnz == ref.nnz
    assert_close(C.todense(), ref.toarray())
    assert C.has_canonical_format


def test_jit_with_nse_overflow_is_nan():
    S, T = _pair(seed=17)
    C = jax.jit(lambda a, b: js.ops.spgemm(a, b, nse=2))(to_js(S, "csr"), to_js(T, "csr"))
    assert np.all(np.isnan(np.asarray(C.data)))


def test_closed_over_structure_under_jit():
    # Indices are constants, only the data is traced: the host phase still runs.
    S, T = _pair(seed=19)
    A, B = to_js(S, "csr"), to_js(T, "csr")
    f = jax.jit(lambda d: js.ops.spgemm(A.with_data(d), B).data)
    assert_close(f(A.data), js.ops.spgemm(A, B).data)


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_grads(fmt):
    S, T = _pair(n=4, k=5, p=3, seed=23)
    A, B = to_js(S.asformat(fmt), fmt), to_js(T.asformat(fmt), fmt)
    plan = js.ops.spgemm_symbolic(A, B)
    w = jnp.arange(1.0, plan.nnz + 1.0)

    @jax.jit
    def f(a, b):
        C = js.ops.spgemm_numeric(A.with_data(a), B.with_data(b), plan)
        return jnp.sum(jnp.sin(C.data) * w)

    check_grads(f, (A.data, B.data), order=2, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)
    # Gradient against the dense reference.
    ga = jax.grad(lambda a: js.ops.spgemm(A.with_data(a), B).todense().sum())(A.data)
    dense = jax.grad(lambda x: (x @ jnp.asarray(T.toarray())).sum())(jnp.asarray(S.toarray()))
    coo = A.tocoo()
    assert_close(ga, np.asarray(dense)[np.asarray(coo.row), np.asarray(coo.col)],
                 dtype=np.float64, scale=100)


def test_grads_nse_path():
    S, T = _pair(n=4, k=5, p=3, seed=29)
    A, B = to_js(S, "csr"), to_js(T, "csr")

    @jax.jit
    def f(a, b):
        return jnp.sum(js.ops.spgemm(a, b, nse=12).data ** 2)

    @jax.jit
    def g(a, b):
        return f(A.with_data(a), B.with_data(b))

    check_grads(g, (A.data, B.data), order=1, modes=("fwd", "rev"), atol=1e-6, rtol=1e-6)


def test_matmul_operator_routes_to_spgemm():
    S, T = _pair(seed=31)
    _check(to_js(S, "csc") @ to_js(T, "coo"), S @ T, np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_tolerance_grid(dtype):
    S, T = _pair(n=8, k=8, p=8, dtype=dtype, seed=37)
    C = js.ops.spgemm(to_js(S, "coo"), to_js(T, "csr"))
    np.testing.assert_allclose(np.asarray(C.todense()), (S @ T).toarray(),
                               rtol=10 * tol(dtype), atol=10 * tol(dtype))


@pytest.mark.parametrize("fmt", [js.CSR, js.CSC])
def test_host_coords_of_a_compressed_matrix_match_tocoo_and_compile_nothing(fmt):
    """spgemm's symbolic phase reads the coordinates on the host: NumPy from indptr,
    where the device conversion compiled a program for every new shape (the gmg example
    spent 10 of its 25 s building its hierarchy that way)."""
    from jaxsparse.ops._pattern import host_coords

    keep = np.ones(7)
    keep[2] = 0  # an empty row
    S = sps.csr_array(sps.diags_array(keep) @ sps.random_array((7, 5), density=0.3, rng=3))
    S.eliminate_zeros()
    indptr = S.indptr if fmt is js.CSR else S.tocsc().indptr
    T = S if fmt is js.CSR else S.tocsc()
    pad = 4  # capacity slots past indptr[-1]: sentinel coordinates
    A = fmt.from_arrays(np.concatenate([T.data, np.zeros(pad)]),
                        np.concatenate([T.indices, np.zeros(pad, T.indices.dtype)]),
                        indptr, shape=S.shape)
    with backend_compiles() as compiles:
        got = host_coords(A)
    assert compiles == []
    want = tuple(np.asarray(c) for c in A.tocoo().coords)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
    assert (got[0] == S.shape[0]).sum() == pad and (got[1] == S.shape[1]).sum() == pad
