"""Conversions between every pair of formats, BCOO interop, and canonical forms vs SciPy."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import random_scipy
from hypothesis import given
from jax.experimental import sparse as jsparse
from strategies import scipy_coo, unsummed_csr

import jaxsparse as js

ALL = ("csr", "csc", "coo", "dia", "bsr")
JITTABLE = ("csr", "csc", "coo")  # targets whose pattern does not depend on values


def build(S, fmt):
    if fmt == "bsr":
        return js.BSR.from_scipy(S, blocksize=(2, 2))
    return getattr(js, fmt.upper()).from_scipy(S)


# Conversions move values: the dtype rotates over the (src, dst) pairs, so each source
# and each target meets all three dtypes without compiling all 75 combinations.
PAIR_DTYPES = (np.float64, np.complex128, np.int32)


@pytest.mark.parametrize("src,dst,dtype", [
    (src, dst, PAIR_DTYPES[(i + j) % len(PAIR_DTYPES)])
    for i, src in enumerate(ALL) for j, dst in enumerate(ALL)])
def test_every_pair(src, dst, dtype):
    S = random_scipy(6, 4, density=0.4, dtype=dtype, seed=11)
    A = build(S, src)
    B = A.asformat(dst)
    assert B.format == dst and B.shape == S.shape and B.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(np.asarray(B.todense()), S.toarray())
    np.testing.assert_array_equal(B.to_scipy().toarray(), S.toarray())
    assert getattr(A, f"to{dst}")().format == dst
    if dst in JITTABLE:
        Bj = jax.jit(lambda A: A.asformat(dst))(A)
        np.testing.assert_array_equal(np.asarray(Bj.todense()), S.toarray())
        assert Bj.nnz == B.nnz


@pytest.mark.parametrize("src", ALL)
@pytest.mark.parametrize("dst", ["dia", "bsr"])
def test_pattern_dependent_conversions_refuse_traced_indices(src, dst):
    A = build(random_scipy(6, 4, seed=1), src)
    if src == dst:  # identity conversion: nothing to compute
        assert jax.jit(lambda A: A.asformat(dst))(A).format == dst
        return
    with pytest.raises(ValueError, match=f"to{dst} needs concrete indices"):
        jax.jit(lambda A: A.asformat(dst))(A)


def test_asformat_none_and_unknown():
    A = js.CSR.from_scipy(random_scipy(3, 3))
    assert A.asformat(None) is A and A.asformat("csr") is A
    with pytest.raises(ValueError, match="format must be one of"):
        A.asformat("lil")


def test_todia_matches_scipy_offsets_and_nnz():
    S = sps.csr_array(np.array([[1.0, 0, 2, 0], [0, 3, 0, 0], [4, 0, 5, 0]]))
    ref = S.todia()
    A = js.CSR.from_scipy(S).todia()
    np.testing.assert_array_equal(np.asarray(A.offsets), ref.offsets)
    assert A.nnz == ref.nnz  # SciPy's width stops at the last used column
    np.testing.assert_array_equal(np.asarray(A.todense()), S.toarray())


def test_todia_warns_on_many_diagonals():
    S = sps.csr_array(np.eye(1, 150, 0) + np.eye(1, 150, 149))
    D = np.zeros((150, 150))
    D[np.arange(150), np.arange(150)[::-1]] = 1.0  # 150 anti-diagonal entries
    with pytest.warns(sps.SparseEfficiencyWarning, match="diagonals is inefficient"):
        A = js.CSR.from_scipy(sps.csr_array(D)).todia()
    np.testing.assert_array_equal(np.asarray(A.todense()), D)
    del S


@pytest.mark.parametrize("blocksize", [None, (1, 1), (3, 2), (6, 4)])
def test_tobsr_matches_scipy(blocksize):
    S = random_scipy(6, 4, density=0.3, seed=2)
    ref = S.tobsr(blocksize=blocksize)
    A = js.COO.from_scipy(S).tobsr(blocksize=blocksize)
    assert A.blocksize == ref.blocksize and A.nnz == ref.nnz
    np.testing.assert_array_equal(np.asarray(A.indptr), ref.indptr)
    np.testing.assert_array_equal(np.asarray(A.indices), ref.indices)
    np.testing.assert_array_equal(np.asarray(A.data), ref.data)
    with pytest.raises(ValueError, match="must divide the shape"):
        js.COO.from_scipy(S).tobsr(blocksize=(4, 4))


def test_conversions_sum_duplicates_into_dia_and_bsr_and_are_differentiable():
    row, col = np.array([0, 0, 1, 2]), np.array([1, 1, 0, 2])
    A = js.COO.from_arrays(np.array([1.0, 2.0, 3.0, 4.0]), (row, col), shape=(4, 4))
    D = np.zeros((4, 4))
    np.add.at(D, (row, col), [1.0, 2.0, 3.0, 4.0])
    for B in (A.todia(), A.tobsr((2, 2))):
        np.testing.assert_array_equal(np.asarray(B.todense()), D)
    # The numeric phase is a scatter-add of A.data: gradients flow back to every entry.
    x = jnp.arange(1.0, 5.0)
    g = jax.grad(lambda d: jnp.sum(A.with_data(d).todia() @ x))(A.data)
    np.testing.assert_array_equal(np.asarray(g), np.asarray(x)[col])


# -- BCOO interop ---------------------------------------------------------------------


def test_bcoo_round_trip_with_padding():
    D = random_scipy(5, 4, density=0.4, seed=3).toarray()
    nnz = int(np.count_nonzero(D))
    bc = jsparse.BCOO.fromdense(jnp.asarray(D), nse=nnz + 3)  # 3 padding slots
    A = js.from_bcoo(bc)
    assert isinstance(A, js.COO) and A.capacity == nnz + 3 and A.nnz == nnz
    row, col = (np.asarray(c) for c in A.coords)
    pad = row >= 5
    assert pad.sum() == 3 and np.all(col[pad] == 4) and np.all(np.asarray(A.data)[pad] == 0)
    np.testing.assert_array_equal(np.asarray(A.todense()), D)
    for cls in (js.CSR, js.CSC, js.DIA, js.BSR):
        np.testing.assert_array_equal(np.asarray(cls.from_bcoo(bc).todense()), D)
    back = A.to_bcoo()
    assert isinstance(back, jsparse.BCOO) and back.nse == nnz + 3
    np.testing.assert_array_equal(np.asarray(back.todense()), D)
    np.testing.assert_array_equal(np.asarray(js.CSR.from_bcoo(bc).to_bcoo().todense()), D)
    # jit-able both ways
    Aj = jax.jit(js.from_bcoo)(bc)
    np.testing.assert_array_equal(np.asarray(Aj.todense()), D)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda A: A.to_bcoo())(A).todense()), D)
    # BCOO's own product agrees with ours through the round trip.
    x = np.arange(4.0)
    np.testing.assert_allclose(np.asarray(back @ x), D @ x, rtol=1e-12)


def test_bcoo_rejects_batched_and_non_bcoo():
    bc = jsparse.BCOO.fromdense(jnp.ones((2, 3, 3)), n_batch=1)
    with pytest.raises(ValueError, match="2-D BCOO without batch"):
        js.from_bcoo(bc)
    with pytest.raises(TypeError, match="bcoo must be"):
        js.from_bcoo(np.ones((2, 2)))


# -- canonical forms vs SciPy -----------------------------------------------------------


def _dups_coo(dtype=np.float64):
    row = np.array([2, 0, 2, 1, 0, 2, 0])
    col = np.array([1, 3, 1, 0, 3, 0, 0])
    data = np.array([1, 2, 3, 0, 5, 6, 0], dtype=dtype)
    return sps.coo_array((data, (row, col)), shape=(3, 4))


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, np.int64])
@pytest.mark.parametrize("jit", [False, True])
def test_coo_sum_duplicates(dtype, jit):
    S = _dups_coo(dtype)
    A = js.COO.from_scipy(S)
    f = jax.jit(lambda A: A.sum_duplicates()) if jit else (lambda A: A.sum_duplicates())
    B = f(A)
    ref = S.copy()
    ref.sum_duplicates()
    n = ref.nnz
    assert B.has_canonical_format and B.capacity == A.capacity and B.nnz == n
    np.testing.assert_array_equal(np.asarray(B.row)[:n], ref.row)
    np.testing.assert_array_equal(np.asarray(B.col)[:n], ref.col)
    np.testing.assert_array_equal(np.asarray(B.data)[:n], ref.data)
    np.testing.assert_array_equal(np.asarray(B.row)[n:], 3)  # tail is padding
    np.testing.assert_array_equal(np.asarray(B.col)[n:], 4)
    np.testing.assert_array_equal(np.asarray(B.data)[n:], 0)
    np.testing.assert_array_equal(B.to_scipy().toarray(), S.toarray())


@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("jit", [False, True])
def test_compressed_sum_duplicates_and_sort_indices(fmt, jit):
    S = _dups_coo()
    U = unsummed_csr(S) if fmt == "csr" else unsummed_csr(S.T.tocoo()).T
    U = sps.csr_array(U) if fmt == "csr" else sps.csc_array(U)
    A = getattr(js, fmt.upper()).from_arrays(U.data, U.indices, U.indptr, shape=U.shape)
    assert not A.has_canonical_format
    run = jax.jit if jit else (lambda f: f)
    B = run(lambda A: A.sum_duplicates())(A)
    ref = U.copy()
    ref.sum_duplicates()
    n = ref.nnz
    assert B.has_canonical_format and B.has_sorted_indices and B.nnz == n
    np.testing.assert_array_equal(np.asarray(B.indptr), ref.indptr)
    np.testing.assert_array_equal(np.asarray(B.indices)[:n], ref.indices)
    np.testing.assert_array_equal(np.asarray(B.data)[:n], ref.data)
    np.testing.assert_array_equal(np.asarray(B.data)[n:], 0)

    # sort_indices on an unsorted matrix without duplicates (ties would be ambiguous)
    C = ref.copy()
    perm = np.concatenate(
        [np.arange(a, b)[::-1] for a, b in zip(C.indptr[:-1], C.indptr[1:], strict=True)]
    )
    C.indices, C.data = C.indices[perm], C.data[perm]
    C.has_sorted_indices = False
    A2 = getattr(js, fmt.upper()).from_arrays(C.data, C.indices, C.indptr, shape=C.shape)
    B2 = run(lambda A: A.sort_indices())(A2)
    C.sort_indices()
    assert B2.has_sorted_indices
    np.testing.assert_array_equal(np.asarray(B2.indices), C.indices)
    np.testing.assert_array_equal(np.asarray(B2.data), C.data)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "bsr"])
def test_eliminate_zeros_two_phases(fmt):
    D = np.array([[1.0, 0, 0, 2], [0, 0, 0, 0], [3, 0, 0, 4]])
    S = sps.csr_array(D)
    S.data[[0, 3]] = 0.0  # explicit zeros at (0, 0) and (2, 3)
    S = S.asformat(fmt) if fmt != "bsr" else sps.bsr_array(S, blocksize=(1, 2))
    A = js.BSR.from_scipy(S) if fmt == "bsr" else getattr(js, fmt.upper()).from_scipy(S)
    ref = S.copy()
    ref.eliminate_zeros()
    B = A.eliminate_zeros()  # concrete: exact capacity
    assert B.nnz == ref.nnz and B.capacity == ref.nnz
    np.testing.assert_array_equal(B.to_scipy().toarray(), ref.toarray())
    if fmt != "coo":
        np.testing.assert_array_equal(np.asarray(B.indptr), ref.indptr)
        np.testing.assert_array_equal(np.asarray(B.indices), ref.indices)
    Bj = jax.jit(lambda A: A.eliminate_zeros())(A)  # traced: capacity kept
    assert Bj.capacity == A.capacity and Bj.nnz == ref.nnz
    np.testing.assert_array_equal(np.asarray(Bj.todense()), ref.toarray())
    np.testing.assert_array_equal(Bj.to_scipy().toarray(), ref.toarray())
    big = A.eliminate_zeros(nse=A.data.shape[0] + 2)
    assert big.data.shape[0] == A.data.shape[0] + 2 and big.nnz == ref.nnz
    with pytest.raises(ValueError, match="smaller than the number of nonzeros"):
        A.eliminate_zeros(nse=0)


def test_bsr_sum_duplicates_and_sort_indices_vs_scipy():
    data = np.arange(1.0, 17.0).reshape(4, 2, 2)
    indices, indptr = np.array([1, 0, 1, 0]), np.array([0, 3, 4])
    S = sps.bsr_array((data, indices, indptr), shape=(4, 4))
    A = js.BSR.from_arrays(data, indices, indptr, shape=(4, 4))
    assert not A.has_canonical_format
    B = jax.jit(lambda A: A.sum_duplicates())(A)
    ref = S.copy()
    ref.sum_duplicates()
    n = ref.indices.size
    assert B.has_canonical_format and B.nnz == ref.nnz
    np.testing.assert_array_equal(np.asarray(B.indptr), ref.indptr)
    np.testing.assert_array_equal(np.asarray(B.indices)[:n], ref.indices)
    np.testing.assert_array_equal(np.asarray(B.data)[:n], ref.data)
    np.testing.assert_array_equal(np.asarray(B.todense()), S.toarray())
    # Unsorted, no duplicates: block row 1 holds block columns [1, 0].
    udata = np.arange(1.0, 13.0).reshape(3, 2, 2)
    uind, uptr = np.array([0, 1, 0]), np.array([0, 1, 3])
    Cu = js.BSR.from_arrays(udata, uind, uptr, shape=(4, 4))
    Su = sps.bsr_array((udata.copy(), uind.copy(), uptr.copy()), shape=(4, 4))
    assert not Cu.has_sorted_indices
    Su.sort_indices()
    Cs = Cu.sort_indices()
    np.testing.assert_array_equal(np.asarray(Cs.indices), Su.indices)
    np.testing.assert_array_equal(np.asarray(Cs.data), Su.data)
    assert Cs.has_sorted_indices
    np.testing.assert_array_equal(np.asarray(Cs.todense()), Su.toarray())


@given(scipy_coo(max_dim=6))
def test_sum_duplicates_random(S):
    A = js.COO.from_scipy(S)
    B = A.sum_duplicates()
    ref = S.copy()
    ref.sum_duplicates()
    assert B.nnz == ref.nnz
    np.testing.assert_allclose(np.asarray(B.todense()), S.toarray(), rtol=1e-12, atol=1e-12)
    n = ref.nnz
    np.testing.assert_array_equal(np.asarray(B.row)[:n], ref.row)
    np.testing.assert_array_equal(np.asarray(B.col)[:n], ref.col)
    C = js.CSR.from_scipy(unsummed_csr(S)).sum_duplicates()
    assert C.nnz == ref.nnz
    np.testing.assert_allclose(np.asarray(C.todense()), S.toarray(), rtol=1e-12, atol=1e-12)
