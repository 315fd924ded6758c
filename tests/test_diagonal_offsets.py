"""Narrow column offsets: their preparation (``formats/_offsets.py``), where they are kept,
and the native kernel that reads them (``csrc/csr_offsets.cc``) against its jnp twin,
SciPy and the indices' product, with autodiff and batching through the primitive.
"""

from __future__ import annotations

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, rows_in_storage_order
from strategies import padded_csr

import jaxsparse as js
from jaxsparse.formats._offsets import diagonal_offsets
from jaxsparse.ops._primitives import CSR_OFFSETS_MATVEC
from jaxsparse.ops.native import _library, _lowerings, missing_reason

needs_native = pytest.mark.skipif(
    missing_reason() is not None,
    reason=f"native kernels unavailable here: {missing_reason()} (CI requires them)",
)


@pytest.fixture(autouse=True)
def _offsets_at_any_size(monkeypatch):
    """The offsets' kernel for every matrix here, however small: on two threads the
    native lowering reads the indices instead where the matrix stays in the cache
    (test_a_matrix_that_stays_in_the_cache_reads_its_indices tests that choice)."""
    monkeypatch.setattr(_lowerings, "cached_stream_bytes", lambda: 0)


def _band(n, offsets, m=None, dtype=np.float64, seed=0):
    """An n x m matrix with random values on the given diagonals."""
    m = n if m is None else m
    rng = np.random.default_rng(seed)
    lengths = [max(0, min(n, m - o) - max(0, -o)) for o in offsets]
    values = [rng.standard_normal(k) + (1j * rng.standard_normal(k) if np.dtype(dtype).kind
                                        == "c" else 0) for k in lengths]
    S = sps.diags_array(values, offsets=list(offsets), shape=(n, m))
    return sps.csr_array(S).astype(dtype)


def _rows(S):
    return np.repeat(np.arange(S.shape[0]), np.diff(S.indptr))


def _shuffled_rows(S, seed=0):
    """``S`` with each row's entries in a random order."""
    rng = np.random.default_rng(seed)
    order = np.concatenate([lo + rng.permutation(hi - lo) for lo, hi in
                            zip(S.indptr[:-1], S.indptr[1:], strict=True)])
    return sps.csr_array((S.data[order], S.indices[order], S.indptr), shape=S.shape)


def _stripped(A):
    return dataclasses.replace(A, diagonal_offsets=None)


def _expected_offsets(A):
    indices, indptr = np.asarray(A.indices), np.asarray(A.indptr)
    return diagonal_offsets(indices, indptr)


# -- preparation ------------------------------------------------------------------------
def test_offsets_take_the_narrowest_width_that_holds_every_entry():
    near = _band(50, range(-5, 6))
    wide = _band(700, [-300, 0, 299])
    far = _band(70_000, [-40_000, 0])
    for S, width in ((near, np.int8), (wide, np.int16), (far, None)):
        A = js.CSR.from_scipy(S)
        if width is None:
            assert A.diagonal_offsets is None
            continue
        got = np.asarray(A.diagonal_offsets)
        assert got.dtype == width
        np.testing.assert_array_equal(got, S.indices - _rows(S))
    assert js.CSR.from_scipy(sps.csr_array((4, 5))).diagonal_offsets is None  # no entries
    # rows not sorted: every entry is read (sorted ones are judged by their ends)
    flipped = near.indices.copy()
    for lo, hi in zip(near.indptr[:-1], near.indptr[1:], strict=True):
        flipped[lo:hi] = flipped[lo:hi][::-1]
    A = js.CSR.from_arrays(near.data, flipped, near.indptr, shape=near.shape)
    assert not A.has_sorted_indices
    np.testing.assert_array_equal(np.asarray(A.diagonal_offsets), flipped - _rows(near))
    # int8's ends are included: -128 and 127 fit, 128 does not
    assert js.CSR.from_scipy(_band(300, [-128, 127])).diagonal_offsets.dtype == np.int8
    assert js.CSR.from_scipy(_band(300, [-128, 128])).diagonal_offsets.dtype == np.int16


def test_capacity_slots_get_zero_offsets():
    S = _band(37, [-2, 0, 3])
    A = padded_csr(S)  # capacity past nnz, garbage in the extra slots
    got = np.asarray(A.diagonal_offsets)
    assert got.shape == A.indices.shape and A.capacity > S.nnz
    np.testing.assert_array_equal(got[:S.nnz], S.indices - _rows(S))
    assert not got[S.nnz:].any()


def test_csc_offsets_are_rows_minus_columns():
    S = _band(40, [-3, 1], m=45)
    C = js.CSC.from_scipy(S)
    csc = S.tocsc()
    columns = np.repeat(np.arange(S.shape[1]), np.diff(csc.indptr))
    np.testing.assert_array_equal(np.asarray(C.diagonal_offsets), csc.indices - columns)


def test_offsets_are_built_from_host_arrays_only():
    S = _band(30, [-1, 0, 1])
    host = [js.CSR.from_scipy(S), js.CSR.fromdense(S.toarray()),
            js.CSR.from_arrays(S.data, S.indices, S.indptr, shape=S.shape)]
    for A in host:
        np.testing.assert_array_equal(np.asarray(A.diagonal_offsets), S.indices - _rows(S))
    traced = jax.jit(lambda d, i, p: js.CSR.from_arrays(d, i, p, shape=S.shape))(
        S.data, S.indices, S.indptr)
    assert traced.diagonal_offsets is None
    assert js.COO.from_scipy(S).tocsr().diagonal_offsets is None  # a device conversion


def test_offsets_are_kept_only_with_the_pattern_they_describe():
    S = _band(30, [-1, 0, 2])
    A = js.CSR.from_scipy(S)
    same_pattern = [A.with_data(A.data * 2), A.astype(np.float32), A.T.T]
    for B in same_pattern:
        assert B.diagonal_offsets is A.diagonal_offsets
    assert A.T.diagonal_offsets is A.diagonal_offsets  # the CSC view of the same arrays
    # reordered or fewer entries: recomputed in the same width, on the device (so a
    # loop that carries the matrix keeps its structure)
    unsorted = _shuffled_rows(S)
    U = js.CSR.from_arrays(unsorted.data, unsorted.indices, unsorted.indptr, shape=S.shape)
    zeros = js.CSR.from_scipy(S).with_data(A.data.at[::3].set(0))
    for B in (U.sort_indices(), U.sum_duplicates(), zeros.eliminate_zeros(),
              jax.jit(lambda M: M.eliminate_zeros())(zeros)):
        assert B.diagonal_offsets.dtype == np.int8
        np.testing.assert_array_equal(np.asarray(B.diagonal_offsets), _expected_offsets(B))
    carried = jax.lax.fori_loop(0, 2, lambda i, M: M.eliminate_zeros(), zeros)
    np.testing.assert_array_equal(np.asarray(carried.diagonal_offsets),
                                  _expected_offsets(carried))
    for B in (A.tocsc(), A.tocoo().tocsr()):  # conversions: built afresh, without
        assert B.diagonal_offsets is None, type(B).__name__


def test_repr_names_the_offsets():
    A = js.CSR.from_scipy(_band(20, [0, 1]))
    assert repr(A).endswith("diagonal_offsets=int8)")
    assert "diagonal_offsets" not in repr(_stripped(A))


# -- the products -------------------------------------------------------------------------
def _matvec(A, x, backend=None):
    return np.asarray(jax.jit(lambda A, v: js.ops.spmv(A, v, backend=backend))(A, x))


# Shapes that put rows in every path of the kernel: all edge rows (fewer columns than
# the offset type reaches), edge and inside rows, rectangular both ways, empty rows.
SHAPES = {
    "int8_small": lambda dt: _band(100, range(-4, 5), dtype=dt),
    "int8_inside": lambda dt: _band(3000, range(-5, 6), dtype=dt),
    "int8_wide": lambda dt: _band(900, [-3, 0, 7, 100], m=1400, dtype=dt),
    "int8_tall": lambda dt: _band(1400, [-100, -1, 0, 2], m=900, dtype=dt),
    "int16_inside": lambda dt: _band(70_000, [-300, -1, 0, 1, 300], dtype=dt),
    "empty_rows": lambda dt: sps.csr_array(
        sps.diags_array((np.arange(500) % 3 == 0).astype(dt)) @ _band(500, [-2, 0, 5],
                                                                      dtype=dt)),
}


@needs_native
@pytest.mark.parametrize("name", list(SHAPES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
def test_offsets_product_equals_scipy_for_any_thread_count(monkeypatch, name, dtype):
    S = SHAPES[name](dtype)
    A = js.CSR.from_scipy(S)
    assert A.diagonal_offsets is not None
    x = np.random.default_rng(1).standard_normal(S.shape[1]).astype(dtype)
    got = {}
    for threads in (1, 2, 3):  # one thread reads the indices (native/_lowerings.py)
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
        got[threads] = _matvec(A, x)
    np.testing.assert_array_equal(got[2], got[3])
    if np.dtype(dtype).kind == "f":
        np.testing.assert_array_equal(got[2], rows_in_storage_order(S, x))
        np.testing.assert_array_equal(got[1], got[2])
    assert_close(got[2], S @ x, dtype, scale=10)
    assert_close(_matvec(A, x, backend="xla"), S @ x, dtype, scale=10)  # the jnp twin


@needs_native
@pytest.mark.parametrize("dtype", [np.complex64, np.int32, np.int64, jnp.bfloat16])
def test_offsets_product_in_every_dtype(monkeypatch, dtype):
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "2")
    S = _band(3000, range(-5, 6))
    A = js.CSR.from_scipy(S).astype(dtype)
    x = jnp.asarray(np.random.default_rng(2).integers(-3, 4, S.shape[1]), dtype)
    got = _matvec(A, x, backend="native")
    want = _matvec(_stripped(A), x, backend="xla")
    assert got.dtype == want.dtype
    wide = np.complex128 if np.dtype(dtype).kind == "c" else np.float64
    assert_close(got.astype(wide), want.astype(wide), dtype, scale=10)


@needs_native
def test_int64_indptr_and_the_kernel_called_directly(monkeypatch):
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "2")
    S = _band(3000, range(-5, 6))
    A = js.CSR.from_scipy(S)
    wide = dataclasses.replace(A, indices=A.indices.astype(np.int64),
                               indptr=A.indptr.astype(np.int64))
    x = np.random.default_rng(3).standard_normal(3000)
    np.testing.assert_array_equal(_matvec(wide, x), rows_in_storage_order(S, x))


@needs_native
@pytest.mark.parametrize("width", [np.int8, np.int16])
@pytest.mark.parametrize("n", [300, 70_000])
def test_any_offsets_stay_inside_x(monkeypatch, width, n):
    """Offsets that do not match the indices (built by hand) give what the twin gives,
    columns outside the matrix dropped: the kernel's unchecked rows can only reach
    columns inside it, whatever the offsets hold."""
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "2")
    rng = np.random.default_rng(4)
    S = _band(n, [-1, 0, 1])
    info = np.iinfo(width)
    garbage = rng.integers(info.min, info.max + 1, S.nnz).astype(width)
    A = js.CSR.from_scipy(S)
    x = jnp.asarray(rng.standard_normal(n))

    def product(backend):
        f = jax.jit(lambda d, i, p, o, v: CSR_OFFSETS_MATVEC.bind(
            d, i, p, o, v, shape=S.shape, backend=backend))
        return np.asarray(f(A.data, A.indices, A.indptr, jnp.asarray(garbage), x))

    got = product("native")
    np.testing.assert_array_equal(got, product("xla"))
    rows, cols = _rows(S), _rows(S) + garbage.astype(np.int64)
    keep = (cols >= 0) & (cols < n)
    want = np.zeros(n)
    np.add.at(want, rows[keep], S.data[keep] * np.asarray(x)[cols[keep]])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def _custom_calls(fn, *args):
    text = jax.jit(fn).lower(*args).as_text()
    return {t for t in ("jaxsparse_csr_offsets", "jaxsparse_csr_matmul") if t in text}


@needs_native
def test_only_gathering_vector_products_read_the_offsets(monkeypatch):
    S = _band(200, [-1, 0, 1])
    A, x, X = js.CSR.from_scipy(S), jnp.ones(200), jnp.ones((200, 3))
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "2")
    assert _custom_calls(lambda A, v: A @ v, A, x) == {"jaxsparse_csr_offsets"}
    assert _custom_calls(lambda A, v: A.T.T @ v, A, x) == {"jaxsparse_csr_offsets"}
    assert _custom_calls(lambda A, v: A.T @ v, A, x) == {"jaxsparse_csr_matmul"}  # scatter
    assert _custom_calls(lambda A, v: A @ v, A, X) == {"jaxsparse_csr_matmul"}  # k columns
    C = A.T  # CSC: its A.T @ x is the gather
    assert _custom_calls(lambda C, v: C.T @ v, C, x) == {"jaxsparse_csr_offsets"}
    assert _custom_calls(lambda C, v: C @ v, C, x) == {"jaxsparse_csr_matmul"}
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "1")
    assert _custom_calls(lambda A, v: A @ v, A, x) == {"jaxsparse_csr_matmul"}


@needs_native
def test_a_matrix_that_stays_in_the_cache_reads_its_indices(monkeypatch):
    """On two threads the offsets' kernel runs only where the matrix's values and
    indices outgrow the cache (kCachedStreamBytes, 8 MB): below that the product is
    bound by its arithmetic, not by the bytes the offsets save, and the indices' loop
    is the faster one."""
    monkeypatch.setattr(_lowerings, "cached_stream_bytes", _library.cached_stream_bytes)
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "2")
    assert _library.cached_stream_bytes() == 8 << 20
    small = js.CSR.from_scipy(_band(20_000, range(-5, 6)))  # 220k entries: 2.6 MB
    large = js.CSR.from_scipy(_band(70_000, range(-5, 6)))  # 770k entries: 9.2 MB
    for A, target in ((small, "jaxsparse_csr_matmul"), (large, "jaxsparse_csr_offsets"),
                      (large.astype(np.float32), "jaxsparse_csr_matmul")):  # 6.2 MB
        assert A.diagonal_offsets is not None
        assert _custom_calls(lambda A, v: A @ v, A, jnp.ones(A.shape[1], A.dtype)) == {target}


@pytest.mark.parametrize("backend", [None, "xla"])
def test_autodiff_and_vmap_through_the_offsets_equal_the_indices(monkeypatch, backend):
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "2")
    S = _band(300, [-2, 0, 1, 4])
    A = js.CSR.from_scipy(S)
    B = _stripped(A)
    rng = np.random.default_rng(5)
    x, t = jnp.asarray(rng.standard_normal(300)), jnp.asarray(rng.standard_normal(300))

    def loss(M, data, v):
        return jnp.sum(js.ops.spmv(M.with_data(data), v, backend=backend) * t)

    for argnums in (1, 2):
        got = jax.grad(loss, argnums=argnums)(A, A.data, x)
        want = jax.grad(loss, argnums=argnums)(B, B.data, x)
        assert_close(got, want, np.float64)
    jvp = [jax.jvp(lambda d, v, M=M: js.ops.spmv(M.with_data(d), v, backend=backend),
                   (M.data, x), (M.data * 0.5, t))[1] for M in (A, B)]
    assert_close(*jvp, np.float64)
    xs = jnp.stack([x, t, x - t])
    datas = jnp.stack([A.data, 2 * A.data])
    for M in (A, B):
        assert_close(jax.vmap(lambda v, M=M: js.ops.spmv(M, v, backend=backend))(xs),
                     np.stack([S @ np.asarray(v) for v in xs]), np.float64)
        assert_close(jax.vmap(lambda d, M=M: js.ops.spmv(M.with_data(d), x,
                                                          backend=backend))(datas),
                     np.stack([S @ x, 2 * (S @ x)]), np.float64)


def test_offsets_do_not_make_a_pattern_differ():
    """Elementwise ops on equal patterns take the same-pattern path whether or not each
    operand carries offsets (they follow from the index arrays), and keep them."""
    from jaxsparse.ops._pattern import same_structure

    S = _band(40, [-1, 0, 3])
    A = js.CSR.from_scipy(S)
    assert same_structure(A, _stripped(A)) and same_structure(_stripped(A), A)
    total = A + _stripped(A).with_data(A.data * 2)
    assert total.diagonal_offsets is A.diagonal_offsets
    assert_close(total.todense(), 3 * S.toarray(), np.float64)
