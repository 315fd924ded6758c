"""Every format against SciPy: construction, round-trips, products, padding, index dtypes."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, backend_compiles, dtype_cases, random_scipy

import jaxsparse as js
from jaxsparse.formats._index import index_dtype

ALL = ("csr", "csc", "coo", "dia", "bsr")
DTYPES = (np.float32, np.float64, np.complex128, np.int64)
N, M = 6, 4  # divisible by the BSR block sizes used below
BLOCK = (2, 2)


def build(S, fmt, blocksize=BLOCK):
    """jaxsparse ``fmt`` of SciPy ``S`` (BSR with an explicit block size)."""
    if fmt == "bsr":
        return js.BSR.from_scipy(S, blocksize=blocksize)
    return getattr(js, fmt.upper()).from_scipy(S)


def scipy_as(S, fmt, blocksize=BLOCK):
    return S.tobsr(blocksize=blocksize) if fmt == "bsr" else S.asformat(fmt)


def operand(n, dtype, seed=1, k=None):
    rng = np.random.default_rng(seed)
    shape = (n,) if k is None else (n, k)
    if np.dtype(dtype).kind in "iu":
        return rng.integers(-3, 4, shape).astype(dtype)
    x = rng.standard_normal(shape)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * rng.standard_normal(shape)
    return x.astype(dtype)


def index_arrays(A):
    names = {"csr": ("indices", "indptr"), "csc": ("indices", "indptr"),
             "bsr": ("indices", "indptr"), "dia": ("offsets",)}
    if A.format == "coo":
        return list(A.coords)
    return [getattr(A, n) for n in names[A.format]]


# Structure and data movement: every format, every dtype, not every pair (products per
# dtype are test_products.py's grid).
@pytest.mark.parametrize("fmt,dtype", dtype_cases(ALL, DTYPES))
class TestAgainstScipy:
    def _pair(self, fmt, dtype):
        S = random_scipy(N, M, density=0.4, dtype=dtype, seed=5, fmt="csr")
        return S, build(S, fmt)

    def test_round_trip(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        ref = scipy_as(S, fmt)
        assert A.format == fmt and A.shape == S.shape and A.dtype == np.dtype(dtype)
        assert A.nnz == ref.nnz
        back = A.to_scipy()
        assert back.format == fmt and back.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(back.toarray(), S.toarray())
        np.testing.assert_array_equal(np.asarray(A.todense()), S.toarray())
        if fmt == "bsr":
            assert back.blocksize == BLOCK
            np.testing.assert_array_equal(back.indptr, ref.indptr)
            np.testing.assert_array_equal(back.indices, ref.indices)
        if fmt == "dia":
            np.testing.assert_array_equal(back.offsets, ref.offsets)

    def test_transpose(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        At = A.T
        assert At.shape == (M, N)
        expected_fmt = {"csr": "csc", "csc": "csr"}.get(fmt, fmt)
        assert At.format == expected_fmt
        np.testing.assert_array_equal(np.asarray(At.todense()), S.T.toarray())
        np.testing.assert_array_equal(At.to_scipy().toarray(), S.T.toarray())
        np.testing.assert_array_equal(np.asarray(At.T.todense()), S.toarray())
        if fmt == "bsr":
            assert At.blocksize == BLOCK[::-1]
        # SciPy's DIA transpose is full width, so its nnz may grow; follow SciPy.
        assert At.nnz == scipy_as(S, fmt).T.nnz

    def test_products(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        x, y = operand(M, dtype), operand(N, dtype, seed=2)
        X, Y = operand(M, dtype, k=3), operand(N, dtype, seed=3, k=2)
        assert_close(A @ x, S @ x, dtype)
        assert_close(A.T @ y, S.T @ y, dtype)
        assert_close(A @ X, S @ X, dtype)
        assert_close(js.ops.spmm(A, Y, transpose=True), S.T @ Y, dtype)
        assert_close(y @ A, y @ S, dtype)
        assert_close(jax.jit(lambda A, x: A @ x)(A, x), S @ x, dtype)
        assert_close(js.ops.spmv(A, x, backend="xla"), S @ x, dtype)

    def test_tocoo_keeps_scipy_nnz(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        C = A.tocoo()
        assert C.nnz == A.nnz  # explicit zeros in DIA bands / BSR blocks are kept
        assert C.capacity == A.capacity
        np.testing.assert_array_equal(np.asarray(C.todense()), S.toarray())
        Cj = jax.jit(lambda A: A.tocoo())(A)
        np.testing.assert_array_equal(np.asarray(Cj.todense()), S.toarray())
        # Padding slots hold 0 at the sentinel (n_rows, n_cols).
        row, col = (np.asarray(c) for c in C.coords)
        pad = row >= N
        assert np.all(col[pad] == M) and np.all(np.asarray(C.data)[pad] == 0)

    def test_fromdense(self, fmt, dtype):
        S, _ = self._pair(fmt, dtype)
        D = S.toarray()
        cls = getattr(js, fmt.upper())
        A = cls.fromdense(D, blocksize=BLOCK) if fmt == "bsr" else cls.fromdense(D)
        np.testing.assert_array_equal(np.asarray(A.todense()), D)
        ref = scipy_as(sps.csr_array(D), fmt)
        assert A.nnz == ref.nnz

    def test_astype(self, fmt, dtype):
        S, A = self._pair(fmt, dtype)
        B = A.astype(np.complex128)
        assert B.dtype == np.complex128 and type(B) is type(A)
        np.testing.assert_array_equal(np.asarray(B.todense()), S.toarray().astype(complex))

    def test_index_dtype_stays_int32_under_x64(self, fmt, dtype):
        assert jax.config.jax_enable_x64
        S, A = self._pair(fmt, dtype)
        for arr in index_arrays(A) + index_arrays(A.tocoo()):
            assert arr.dtype == np.int32, (fmt, arr.dtype)


@pytest.mark.parametrize("fmt", ALL)
@pytest.mark.parametrize("shape", [(0, 0), (1, 1), (4, 0), (0, 2), (4, 2)])
def test_degenerate_shapes(fmt, shape):
    """0x0, 1x1, empty matrices and all-empty rows."""
    D = np.zeros(shape)
    if shape == (1, 1):
        D[0, 0] = 3.0
    if shape == (4, 2):
        D[2, 1] = -1.0  # rows 0, 1, 3 empty
    S = sps.csr_array(D)
    A = build(S, fmt, blocksize=(1, 1))
    assert A.shape == shape and A.nnz == scipy_as(S, fmt, (1, 1)).nnz
    np.testing.assert_array_equal(np.asarray(A.todense()), D)
    np.testing.assert_array_equal(A.to_scipy().toarray(), D)
    x, y = np.arange(1.0, shape[1] + 1), np.arange(1.0, shape[0] + 1)
    np.testing.assert_array_equal(np.asarray(A @ x), D @ x)
    np.testing.assert_array_equal(np.asarray(A.T @ y), D.T @ y)
    np.testing.assert_array_equal(np.asarray(A.T.todense()), D.T)


def test_csr_transpose_is_csc_view_of_same_arrays():
    A = js.CSR.from_scipy(random_scipy(5, 3))
    At = A.T
    assert isinstance(At, js.CSC) and At.shape == (3, 5)
    assert At.data is A.data and At.indices is A.indices and At.indptr is A.indptr
    Att = At.T
    assert isinstance(Att, js.CSR) and Att.indices is A.indices


def test_dia_from_arrays_matches_scipy_including_out_of_band_slots():
    data = np.arange(1.0, 13.0).reshape(3, 4)
    offsets = np.array([-1, 0, 2])
    S = sps.dia_array((data, offsets), shape=(4, 4))
    A = js.DIA.from_arrays(data, offsets, shape=(4, 4))
    np.testing.assert_array_equal(np.asarray(A.todense()), S.toarray())
    assert A.nnz == S.nnz and A.capacity == data.size
    # Out-of-band slots are reset to 0 (SciPy keeps the garbage but never reads it).
    expected = data.copy()
    expected[0, 3] = 0  # row 4 is outside
    expected[2, :2] = 0  # rows -2, -1 are outside
    np.testing.assert_array_equal(np.asarray(A.data), expected)


@pytest.mark.parametrize("width", [2, 6])
def test_dia_data_narrower_or_wider_than_columns(width):
    rng = np.random.default_rng(0)
    data = rng.standard_normal((2, width))
    S = sps.dia_array((data, [0, 1]), shape=(3, 4))
    A = js.DIA.from_arrays(data, [0, 1], shape=(3, 4))
    assert A.data.shape == (2, 4)
    np.testing.assert_array_equal(np.asarray(A.todense()), S.toarray())
    assert A.nnz == S.nnz == A.tocoo().nnz == A.to_scipy().nnz
    assert A.T.nnz == S.T.nnz
    # (SciPy's own S.T mis-aligns data wider than max(shape); the dense transpose is
    # the oracle here.)
    np.testing.assert_array_equal(np.asarray(A.T.todense()), S.toarray().T)
    # Columns past a narrow width are padding: an inf there must not become NaN.
    x = np.array([1.0, 2.0, np.inf, np.inf]) if width == 2 else np.arange(4.0)
    expected = S.toarray() @ np.nan_to_num(x, posinf=0)
    np.testing.assert_allclose(np.asarray(A @ x), expected, rtol=1e-12)
    y = np.arange(3.0)
    np.testing.assert_allclose(np.asarray(A.T @ y), S.toarray().T @ y, rtol=1e-12)


def test_dia_rectangular_far_offsets():
    S = sps.dia_array((np.ones((3, 5)), [-7, 4, 9]), shape=(3, 5))  # two empty diagonals
    A = js.DIA.from_scipy(S)
    assert A.nnz == S.nnz == 1
    np.testing.assert_array_equal(np.asarray(A.todense()), S.toarray())
    np.testing.assert_array_equal(np.asarray(A.T.todense()), S.T.toarray())
    x = np.arange(5.0)
    np.testing.assert_array_equal(np.asarray(A @ x), S @ x)


def test_inf_in_x_never_meets_padding():
    inf = np.inf
    # CSR with a garbage capacity slot; BSR with a padding block: both read column 1.
    csr = js.CSR.from_arrays(np.array([1.0, 5.0]), np.array([0, 1]), np.array([0, 1, 1]),
                             shape=(2, 2))
    bsr = js.BSR.from_arrays(np.array([[[1.0]], [[5.0]]]), np.array([0, 1]),
                             np.array([0, 1, 1]), shape=(2, 2))
    for A in (csr, bsr, csr.tocoo(), bsr.tocoo(), bsr.tocsr(), csr.tocsc(), bsr.T.T):
        assert A.nnz == 1 and A.capacity == 2
        np.testing.assert_array_equal(np.asarray(A @ np.array([2.0, inf])), [2.0, 0.0])
        np.testing.assert_array_equal(np.asarray(A.T @ np.array([1.0, inf])), [1.0, 0.0])
    # DIA 2x3 with offset 0: slot data[0, 2] is out of band (row 2); x[2] = inf.
    dia = js.DIA.from_arrays(np.array([[1.0, 4.0, 9.0]]), np.array([0]), shape=(2, 3))
    assert dia.nnz == 2 and dia.capacity == 3
    x = np.array([2.0, 3.0, inf])
    for A in (dia, dia.tocoo(), dia.tocsr(), dia.tocsc(), dia.T.T):
        np.testing.assert_array_equal(np.asarray(A @ x), [2.0, 12.0])
    # Garbage (NaN) in out-of-band slots, built without the constructor, is never read.
    garbage = js.DIA(jnp.array([[np.nan, 2.0], [1.0, 3.0]]), jnp.array([1, 0], jnp.int32),
                     shape=(2, 2))
    np.testing.assert_array_equal(np.asarray(garbage @ np.array([1.0, 10.0])), [21.0, 30.0])
    np.testing.assert_array_equal(np.asarray(garbage.T @ np.array([1.0, 10.0])), [1.0, 32.0])


def test_capacity_and_padding_invariants():
    S = random_scipy(6, 4, density=0.5, seed=1)
    pad = 3
    data = np.concatenate([S.data, np.full(pad, 9.0)])
    indices = np.concatenate([S.indices, np.zeros(pad, int)])
    A = js.CSR.from_arrays(data, indices, S.indptr, shape=S.shape)
    assert A.capacity == S.nnz + pad and A.nnz == S.nnz
    np.testing.assert_array_equal(np.asarray(A.indices)[S.nnz:], 4)  # sentinel column
    np.testing.assert_array_equal(np.asarray(A.data)[S.nnz:], 0.0)
    np.testing.assert_array_equal(A.to_scipy().toarray(), S.toarray())

    B = S.tobsr(blocksize=(2, 2))
    bdata = np.concatenate([B.data, np.full((2, 2, 2), 9.0)])
    bind = np.concatenate([B.indices, [0, 1]])
    Ab = js.BSR.from_arrays(bdata, bind, B.indptr, shape=S.shape)
    assert Ab.blocksize == (2, 2) and Ab.capacity == bdata.size and Ab.nnz == B.nnz
    np.testing.assert_array_equal(np.asarray(Ab.indices)[B.indices.size:], 2)
    np.testing.assert_array_equal(np.asarray(Ab.data)[B.indices.size:], 0.0)
    np.testing.assert_array_equal(np.asarray(Ab.todense()), S.toarray())
    np.testing.assert_array_equal(np.asarray(Ab.T.todense()), S.T.toarray())


@pytest.mark.parametrize("fmt", ["dia", "bsr"])
def test_grad_and_vmap_through_own_kernels(fmt):
    S = random_scipy(N, M, density=0.5, seed=2)
    A = build(S, fmt)
    x = operand(M, np.float64)
    y = operand(N, np.float64, seed=4)

    def loss(data, transpose):
        B = A.with_data(data)
        out = B.T @ y if transpose else B @ x
        return jnp.sum(out**2)

    def dense_loss(data, transpose):
        D = A.with_data(data).todense()  # a different (scatter) path, also differentiable
        out = D.T @ y if transpose else D @ x
        return jnp.sum(out**2)

    for transpose in (False, True):
        g = jax.grad(loss)(A.data, transpose)
        g_ref = jax.grad(dense_loss)(A.data, transpose)
        assert_close(g, g_ref, np.float64)
    gx = jax.grad(lambda x: jnp.sum((A @ x) ** 2))(x)
    assert_close(gx, 2 * S.T @ (S @ x), np.float64, scale=10)
    X = operand(M, np.float64, k=3)
    assert_close(jax.vmap(lambda v: A @ v, in_axes=1, out_axes=1)(X), S @ X, np.float64)


def test_bsr_fromdense_under_jit_needs_nse():
    D = random_scipy(4, 6, density=0.3, seed=3).toarray()
    ref = sps.bsr_array(D, blocksize=(2, 3))
    A = jax.jit(lambda d: js.BSR.fromdense(d, blocksize=(2, 3), nse=4))(D)
    assert A.data.shape == (4, 2, 3) and A.nnz == ref.nnz
    np.testing.assert_array_equal(np.asarray(A.todense()), D)
    with pytest.raises(ValueError, match="nse="):
        jax.jit(lambda d: js.BSR.fromdense(d, blocksize=(2, 3)))(D)
    with pytest.raises(ValueError, match="DIA.fromdense needs a concrete array"):
        jax.jit(js.DIA.fromdense)(D)


def test_index_dtype_refuses_int64_without_x64():
    assert index_dtype(10, 2**31 - 1) == np.int32
    assert index_dtype(2**31) == np.int64  # x64 is on in the tests
    with jax.enable_x64(False):
        with pytest.raises(ValueError, match="needs int64 indices.*jax_enable_x64 is off"):
            index_dtype(5, 2**31)


def test_csr_from_scipy_int64_indices_become_int32():
    S = random_scipy(5, 5, density=0.5)
    S.indices = S.indices.astype(np.int64)
    S.indptr = S.indptr.astype(np.int64)
    A = js.CSR.from_scipy(S)
    assert A.indices.dtype == np.int32 and A.indptr.dtype == np.int32
    assert A.T.indices.dtype == np.int32
    assert A.tocsc().indptr.dtype == np.int32
    assert A.sum_duplicates().indices.dtype == np.int32


def test_pytree_round_trip_keeps_static_fields():
    for A in (js.DIA.from_scipy(random_scipy(4, 4)),
              js.BSR.from_scipy(random_scipy(4, 4), blocksize=(2, 2))):
        leaves, tree = jax.tree_util.tree_flatten(A)
        B = jax.tree_util.tree_unflatten(tree, leaves)
        assert type(B) is type(A) and B.shape == A.shape
        assert all(isinstance(leaf, jax.Array) for leaf in leaves)
        if A.format == "bsr":
            assert B.blocksize == A.blocksize and len(leaves) == 3
        else:
            assert len(leaves) == 2


def test_treedefs_of_different_formats_never_compare_equal():
    # CSR and CSC over the very same arrays differ only in their class. With
    # jax.tree_util.register_dataclass their treedefs compared equal (JAX 0.10.2), so jit's
    # caches could run CSR's executable for a CSC call and return the transpose.
    D = random_scipy(4, 4).toarray()
    csr = js.CSR.fromdense(D)
    csc = js.CSC(csr.data, csr.indices, csr.indptr, shape=csr.shape,
                 has_sorted_indices=csr.has_sorted_indices,
                 has_canonical_format=csr.has_canonical_format)
    assert jax.tree.structure(csr) != jax.tree.structure(csc)
    np.testing.assert_array_equal(np.asarray(csc.todense()), D.T)
    coo = js.COO.fromdense(D)
    others = (js.DIA.fromdense(D), js.BSR.fromdense(D, blocksize=(2, 2)), coo)
    structures = [jax.tree.structure(A) for A in (csr, csc, *others)]
    assert len({(type(s), str(s)) for s in structures}) == len(structures)
    for i, s in enumerate(structures):
        assert all(s != t for t in structures[i + 1:])


def test_pytree_paths_name_the_fields():
    A = js.CSR.fromdense(random_scipy(3, 3).toarray())
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(A)[0]]
    # a 3 x 3 matrix's entries are within int8 of the diagonal: offsets prepared
    assert paths == [".data", ".indices", ".indptr", ".diagonal_offsets"]


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "bsr"])
def test_bool_matrices_stay_bool_through_construction_and_conversion(fmt):
    S = sps.csr_array(np.array([[True, False, True], [False, True, False]]))
    A = getattr(js, fmt.upper()).from_scipy(S)
    assert A.dtype == np.bool_
    for other in (A.tocoo(), A.tocsr(), A.tocsc()):
        assert other.dtype == np.bool_
        np.testing.assert_array_equal(np.asarray(other.todense()), S.toarray())


def test_from_arrays_under_jit_takes_traced_index_arrays():
    """Building from traced arrays (a mini-batch's pattern inside a jitted step) checks
    dtypes and shapes without converting the tracers to NumPy."""
    S = sps.random_array((6, 5), density=0.4, format="csr", rng=np.random.default_rng(0))
    coo = S.tocoo()
    x = np.arange(5.0)

    @jax.jit
    def products(data, row, col, indices, indptr, dia_data, offsets):
        A = js.COO.from_arrays(data, (row, col), shape=S.shape)
        B = js.CSR.from_arrays(data, indices, indptr, shape=S.shape)
        D = js.DIA.from_arrays(dia_data, offsets, shape=S.shape)
        return A @ x, B @ x, D @ x

    dia = S.todia()
    a, b, d = products(coo.data, coo.row, coo.col, S.indices, S.indptr, dia.data,
                       dia.offsets)
    for got in (a, b, d):
        np.testing.assert_allclose(got, S @ x, rtol=1e-12)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "bsr"])
def test_to_scipy_gives_writable_arrays_that_scipy_can_mutate(fmt):
    # They were read-only views of the device arrays: SciPy's in-place methods failed
    # ("assignment destination is read-only"). The core matrix is not touched.
    S = sps.random_array((6, 8), density=0.4, rng=0, format=fmt)
    kw = dict(blocksize=(2, 2)) if fmt == "bsr" else {}
    A = getattr(js, fmt.upper()).from_scipy(S, **kw)
    before = A.todense()
    T = A.to_scipy()
    T.data *= 2
    if fmt != "dia":  # (SciPy's DIA has no sum_duplicates)
        T.sum_duplicates()
    np.testing.assert_array_equal(T.toarray(), 2 * S.toarray())
    np.testing.assert_array_equal(np.asarray(A.todense()), np.asarray(before))
    if fmt != "coo":  # COO drops padding by a boolean mask, which always copies
        assert not A.to_scipy(copy=False).data.flags.writeable  # the read-only fast path


@pytest.mark.parametrize("fmt", ["CSR", "CSC", "BSR", "COO"])
def test_fromdense_of_a_host_array_compiles_nothing(fmt):
    """The pattern of a NumPy array is found with NumPy: the device route compiled a
    handful of programs for every new shape (BSR's fuzz test spent 33 s in them)."""
    dense = random_scipy(9, 14, density=0.3, seed=29, fmt="csr").toarray()
    kw = {"blocksize": (3, 2)} if fmt == "BSR" else {}
    with backend_compiles() as compiles:
        A = getattr(js, fmt).fromdense(dense, **kw)
        padded = getattr(js, fmt).fromdense(dense, nse=A.data.shape[0] + 2, **kw)
    assert compiles == []
    want = getattr(sps, f"{fmt.lower()}_array")(dense, **kw)
    for got in (A, padded):
        np.testing.assert_array_equal(got.to_scipy().toarray(), dense)
    assert A.has_canonical_format and padded.data.shape[0] == A.data.shape[0] + 2
    if fmt in ("CSR", "CSC"):  # SciPy's dense -> BSR leaves block columns unsorted
        S = A.to_scipy()
        np.testing.assert_array_equal(S.indices, want.indices)
        np.testing.assert_array_equal(S.indptr, want.indptr)


@pytest.mark.parametrize("fmt", ALL)
def test_building_from_host_arrays_compiles_nothing(fmt):
    """Host input is padded and masked with NumPy and copied once: JAX 0.10.2's
    ``jnp.asarray(ndarray)`` compiles a program per shape, and building a matrix of a
    new size used to cost 3-11 compiles. Padding slots and out-of-band DIA slots are
    still reset (checked against SciPy)."""
    S = random_scipy(11, 13, density=0.3, seed=23, fmt="csr")  # a size no other test uses
    with backend_compiles() as compiles:
        if fmt == "csr":  # capacity past indptr[-1], filled with garbage
            A = js.CSR.from_arrays(np.concatenate([S.data, [7.0, 8.0]]),
                                   np.concatenate([S.indices, [0, 99]]), S.indptr,
                                   shape=S.shape)
        elif fmt == "dia":  # wider than n_cols, out-of-band slots nonzero
            D = S.todia()
            A = js.DIA.from_arrays(np.pad(D.data, ((0, 0), (0, 3)), constant_values=5.0),
                                   D.offsets, shape=S.shape)
        else:
            A = build(S.tocsr(), fmt, blocksize=(1, 1))
    assert compiles == []
    assert A.dtype == np.float64 and all(isinstance(a, jax.Array) for a in jax.tree.leaves(A))
    np.testing.assert_array_equal(A.to_scipy().toarray(), S.toarray())
    if fmt == "csr":
        assert A.capacity == S.nnz + 2
        np.testing.assert_array_equal(np.asarray(A.indices)[S.nnz:], [13, 13])
        np.testing.assert_array_equal(np.asarray(A.data)[S.nnz:], [0.0, 0.0])
