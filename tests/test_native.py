"""The "native" backend (C++ through the XLA FFI) against the "xla" reference.

Every product the native kernels serve (CSR/CSC/COO/DIA products in both orientations,
vector and matrix right-hand sides, the SDDMM core) is compared with the reference on the
same inputs: non-power-of-two shapes, empty rows, one very long row, garbage-filled
padding slots next to an ``inf`` in ``x``, int64 indices, every dtype. Results must be
bitwise identical for 1 and 2 threads, and autodiff/vmap through the native lowering
must equal the reference's. Timings are never asserted here (see benchmarks/).
"""

from __future__ import annotations

import ctypes
import dataclasses
import os
import pathlib
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, child_env, random_scipy, rows_in_storage_order
from strategies import padded_csr

import jaxsparse as js
from jaxsparse.ops import _dispatch
from jaxsparse.ops.native import missing_reason, num_threads

ROOT = pathlib.Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(
    missing_reason() is not None,
    reason=f"native kernels unavailable here: {missing_reason()} (CI requires them)",
)


# -- inputs ----------------------------------------------------------------------------
def _long_row(dtype):
    """37 x 53 with one row holding every column and the rest nearly empty."""
    S = random_scipy(37, 53, density=0.03, dtype=dtype, seed=3).tolil()
    S[5, :] = np.arange(1, 54, dtype=np.float64).astype(dtype)
    return sps.csr_array(S)


def _empty_rows(dtype):
    S = random_scipy(41, 29, density=0.15, dtype=dtype, seed=4).tocsr()
    keep = np.zeros(41, bool)
    keep[::3] = True  # two rows in three are empty
    return sps.csr_array(sps.diags_array(keep.astype(dtype)) @ S)


MATRICES = {
    "random_37x53": lambda dt: random_scipy(37, 53, density=0.2, dtype=dt, seed=1).tocsr(),
    "long_row": _long_row,
    "empty_rows": _empty_rows,
}


def _as(S, fmt, index64=False):
    if fmt == "padded_csr":
        return padded_csr(S)
    A = getattr(js, fmt.upper()).from_scipy(S if fmt != "dia" else S.todia())
    if not index64:
        return A
    # Public constructors narrow indices that fit to int32; build the wide ones directly.
    if fmt == "coo":
        return dataclasses.replace(A, coords=tuple(c.astype(np.int64) for c in A.coords))
    return dataclasses.replace(A, indices=A.indices.astype(np.int64),
                               indptr=A.indptr.astype(np.int64))


def _operands(S, dtype, seed=0):
    rng = np.random.default_rng(seed)
    n, m = S.shape

    def draw(*shape):
        v = rng.standard_normal(shape)
        if np.dtype(dtype).kind == "c":
            v = v + 1j * rng.standard_normal(shape)
        if np.dtype(dtype).kind in "iu":
            v = rng.integers(-3, 4, shape)
        return jnp.asarray(v.astype(dtype) if dtype != jnp.bfloat16 else v, dtype)

    return dict(x=draw(m), y=draw(n), X=draw(m, 3), Y=draw(n, 3), P=draw(n, 4), Q=draw(4, m))


@jax.jit
def _products_native(A, o):
    return _products(A, o, "native")


@jax.jit
def _products_xla(A, o):
    return _products(A, o, "xla")


def _products(A, o, backend):
    ops = js.ops
    out = {
        "A@x": ops.spmv(A, o["x"], backend=backend),
        "A.T@y": ops.spmv(A, o["y"], transpose=True, backend=backend),
        "A@X": ops.spmm(A, o["X"], backend=backend),
        "A.T@Y": ops.spmm(A, o["Y"], transpose=True, backend=backend),
    }
    if A.format != "dia":
        out["sddmm"] = ops.sddmm(A, o["P"], o["Q"], backend=backend).data
    return out


def _compare(A, o, dtype):
    got, want = _products_native(A, o), _products_xla(A, o)
    for name in want:
        assert got[name].dtype == want[name].dtype, name
        scale = 4.0 if np.dtype(dtype).kind == "f" and np.dtype(dtype).itemsize <= 2 else 1.0
        assert_close(np.asarray(got[name], np.float64 if dtype == jnp.bfloat16 else None),
                     np.asarray(want[name], np.float64 if dtype == jnp.bfloat16 else None),
                     dtype, scale=scale)


# -- equality with the reference --------------------------------------------------------
@pytest.mark.parametrize("matrix", sorted(MATRICES))
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "padded_csr"])
def test_native_matches_reference_float64(matrix, fmt):
    S = MATRICES[matrix](np.float64)
    _compare(_as(S, fmt), _operands(S, np.float64), np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.complex128, np.complex64, np.int32,
                                   np.int64, jnp.bfloat16, np.float16, np.int8])
@pytest.mark.parametrize("fmt", ["csr", "coo", "dia"])
def test_native_matches_reference_dtypes(fmt, dtype):
    base = np.float32 if dtype in (jnp.bfloat16, np.float16) else dtype
    S = MATRICES["long_row"](base)
    A = _as(S, fmt).astype(dtype)
    _compare(A, _operands(S, dtype), dtype)


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_native_int64_indices(fmt):
    S = MATRICES["empty_rows"](np.float64)
    A = _as(S, fmt, index64=True)
    assert (A.coords[0] if fmt == "coo" else A.indices).dtype == np.int64
    _compare(A, _operands(S, np.float64), np.float64)


def test_padding_next_to_inf_gives_no_nan():
    """Padding slots (garbage-filled by the test, sentinel column after construction)
    never multiply the ``inf`` that x holds in a column no real entry reads."""
    S = sps.csr_array(np.array([[1.0, 0.0, 2.0], [0.0, 0.0, 0.0], [3.0, 0.0, 0.0]]))
    A = padded_csr(S)
    assert A.capacity > A.nnz
    x = jnp.array([1.0, np.inf, 2.0])
    for M in (A, A.tocoo(), A.tocsc()):
        y = js.ops.spmv(M, x, backend="native")
        np.testing.assert_array_equal(np.asarray(y), [5.0, 0.0, 3.0])
    yT = js.ops.spmv(A, jnp.array([1.0, np.inf, 1.0]), transpose=True, backend="native")
    np.testing.assert_array_equal(np.asarray(yT)[[0, 2]], [4.0, 2.0])
    # DIA stores the zeros inside its band as entries (0 * inf is NaN there, as in
    # SciPy); the slots outside the matrix are padding and never read.
    Sd = sps.dia_array(S)
    D = js.DIA.from_scipy(Sd)
    for xv in (x, jnp.array([np.inf, 1.0, 1.0]), jnp.array([1.0, 1.0, np.inf])):
        want = Sd @ np.asarray(xv)
        np.testing.assert_array_equal(np.asarray(js.ops.spmv(D, xv, backend="native")), want)
        np.testing.assert_array_equal(np.asarray(js.ops.spmv(D, xv, backend="xla")), want)


def test_native_matches_scipy_on_a_band():
    """Banded (the DIA kernel's shifted slices), wider than one row block of the kernel."""
    n = 5000
    offsets = [-7, -1, 0, 2, 9]
    lengths = [min(n + o, n + 3 - o, n) for o in offsets]
    S = sps.diags_array([np.full(k, 1.0 + o) for k, o in zip(lengths, offsets, strict=True)],
                        offsets=offsets, shape=(n, n + 3))
    x = np.linspace(-1, 1, n + 3)
    y = np.linspace(2, 3, n)
    for A in (js.DIA.from_scipy(S.todia()), js.CSR.from_scipy(S.tocsr())):
        assert_close(js.ops.spmv(A, x, backend="native"), S @ x, np.float64)
        assert_close(js.ops.spmv(A, y, transpose=True, backend="native"), S.T @ y,
                     np.float64)


def _dia_by_diagonal(data, offsets, width, b, n, transpose):
    """DIA's product one diagonal at a time in storage order, in NumPy: every output row's
    terms added in the order the kernel must keep."""
    out = np.zeros(data.shape[1] if transpose else n, data.dtype)
    for d, o in enumerate(offsets):
        if transpose:
            j = np.arange(max(o, 0), min(width, n + o))
            out[j] += data[d, j] * b[j - o]
        else:
            i = np.arange(max(-o, 0), min(n, width - o))
            out[i] += data[d, i + o] * b[i + o]
    return out


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(30_000, 30_313), (30_313, 30_000)])  # several blocks
def test_dia_vector_products_sum_each_row_in_storage_order(shape, dtype):
    """The vector kernel adds up to 12 diagonals per pass over a block of rows, and a
    diagonal that starts or ends inside a block alone: every row's sum still runs in the
    diagonals' storage order (unsorted here, 15 of them, some far off the middle), so it
    has the bits of adding one diagonal at a time."""
    n, m = shape
    offsets = [3, -1, 0, 500, -700, 1, 2, -2, 5, -300, 7, -5, 4, 9, -9]
    rng = np.random.default_rng(5)
    data = rng.standard_normal((len(offsets), m)).astype(dtype)
    S = sps.dia_array((data, offsets), shape=shape)
    A = js.DIA.from_scipy(S)
    assert list(np.asarray(A.offsets)) == offsets  # the storage order is SciPy's
    width = A._width
    x, y = rng.standard_normal(m).astype(dtype), rng.standard_normal(n).astype(dtype)
    for b, transpose in ((x, False), (y, True)):
        got = js.ops.spmv(A, jnp.asarray(b), transpose=transpose, backend="native")
        want = _dia_by_diagonal(np.asarray(A.data), offsets, width, b, n, transpose)
        np.testing.assert_array_equal(np.asarray(got), want)
        assert_close(got, (S.T if transpose else S) @ b, dtype, scale=10)


@pytest.mark.parametrize("k", [16, 27])
@pytest.mark.parametrize("fmt", ["csr", "coo", "dia"])
def test_column_panels_match_the_reference(fmt, k):
    """k columns: the kernels sum panels of 8 (CSR) or 16 and 8 (DIA) columns in
    registers, then the rest (27 = 16 + 8 + 3 = 3 * 8 + 3); rows near both ends of a
    band lie partly outside it."""
    n = 700
    offsets = [-9, -1, 0, 3, 12]
    S = sps.diags_array([np.linspace(1.0, 2.0 + o, n) for o in offsets], offsets=offsets,
                        shape=(n, n + 5)).tocsr()
    A = _as(S, fmt)
    rng = np.random.default_rng(k)
    X, Y = rng.standard_normal((n + 5, k)), rng.standard_normal((n, k))
    got = js.ops.spmm(A, X, backend="native"), js.ops.spmm(A, Y, transpose=True,
                                                           backend="native")
    want = js.ops.spmm(A, X, backend="xla"), js.ops.spmm(A, Y, transpose=True, backend="xla")
    for g, w, s in zip(got, want, (S @ X, S.T @ Y), strict=True):
        if fmt == "dia":  # XLA's fused loop over the diagonals rounds differently
            assert_close(g, w, np.float64)
        else:
            np.testing.assert_array_equal(np.asarray(g), np.asarray(w))
        assert_close(g, s, np.float64)


# -- threads ---------------------------------------------------------------------------
def _big(seed=5):
    """~48k entries: enough work that the kernels split it over threads (and, for the
    scatter products with 4 columns, over several private partial sums)."""
    return random_scipy(400, 300, density=0.4, dtype=np.float64, seed=seed).tocsr()


def _thread_run(monkeypatch, threads, A, o):
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
    assert num_threads() == threads
    # A fresh jit: the thread count is read when the product is traced.
    return jax.jit(lambda A, o: _products(A, o, "native"))(A, o)


@pytest.mark.parametrize("fmt", ["csr", "coo", "dia"])
def test_results_do_not_depend_on_the_thread_count(monkeypatch, fmt):
    S = _big()
    A = _as(S, fmt) if fmt != "dia" else js.DIA.from_scipy(
        sps.diags_array([np.arange(1.0, 3001.0)[: 3000 - abs(o)] for o in range(-8, 9)],
                        offsets=list(range(-8, 9)), shape=(3000, 3000)).todia())
    o = _operands(sps.csr_array(A.shape), np.float64)
    one = _thread_run(monkeypatch, 1, A, o)
    two = _thread_run(monkeypatch, 2, A, o)
    three = _thread_run(monkeypatch, 3, A, o)
    for name in one:
        np.testing.assert_array_equal(np.asarray(one[name]), np.asarray(two[name]), name)
        np.testing.assert_array_equal(np.asarray(one[name]), np.asarray(three[name]), name)
    ref = _products_xla(A, o)
    for name in ref:
        assert_close(one[name], ref[name], np.float64, scale=10)


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_wide_scatter_groups_do_not_depend_on_the_thread_count(monkeypatch, fmt):
    """A random pattern with few entries per output row: every fine chunk of the
    transposed product touches the whole output, so the chunks are merged into two
    groups (scatter.h); the sums must still be the same for any thread count."""
    n, per_row = 100_000, 10
    rng = np.random.default_rng(3)
    S = sps.csr_array((rng.standard_normal(n * per_row),
                       rng.integers(0, n, n * per_row).astype(np.int32),
                       np.arange(0, n * per_row + 1, per_row, dtype=np.int32)), shape=(n, n))
    A = _as(S, fmt)
    y = rng.standard_normal(n)
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
        runs.append(np.asarray(jax.jit(lambda A, y: js.ops.spmv(
            A, y, transpose=True, backend="native"))(A, y)))
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert_close(runs[0], S.T @ y, np.float64, scale=10)


# -- kept chunk ranges (chunk_ranges.h) -------------------------------------------------
def _native_count(symbol: str) -> int:
    """A count the native library keeps for the tests (chunk_ranges.cc, csr_matmul.cc)."""
    from jaxsparse.ops.native._library import library_path

    count = getattr(ctypes.CDLL(str(library_path())), symbol)
    count.restype = ctypes.c_int64
    return count()


def _range_searches() -> int:
    return _native_count("JaxsparseRangeSearches")


def _band_groups() -> int:
    return _native_count("JaxsparseBandGroups")


def _split_scatters() -> int:
    return _native_count("JaxsparseSplitScatters")


def _far_pattern(n_rows, n_cols, per_row, seed, dtype=np.float64):
    """Random columns, each row's sorted, far from the diagonal."""
    rng = np.random.default_rng(seed)
    cols = np.sort(rng.integers(0, n_cols, (n_rows, per_row)), axis=1).ravel()
    indptr = np.arange(0, n_rows * per_row + 1, per_row, dtype=np.int32)
    data = rng.standard_normal(cols.size).astype(dtype)
    return data, cols.astype(np.int32), indptr


def _transposed_runs(monkeypatch, A, y):
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
        runs.append(np.asarray(jax.jit(lambda A, y: js.ops.spmv(
            A, y, transpose=True, backend="native"))(A, y)))
    return runs


def test_a_wide_output_far_from_the_diagonal_is_split_by_column(monkeypatch):
    """A.T @ y of a pattern far from the diagonal whose output is at least 6 MB: one part
    of the output per thread (csr_matmul.cc, ColumnSplitScatter), each output summing its
    terms in row order, so the bits are those of one plain pass in storage order
    (``np.add.at``) for 1, 2 and 3 threads. Below that size (float32 here), or with a row
    out of order, the grouped scatter runs instead, with SciPy's sums."""
    n_rows, n_cols = 40_000, 800_000  # float64 output: 6.4 MB
    data, cols, indptr = _far_pattern(n_rows, n_cols, 3, seed=8)
    y = np.random.default_rng(9).standard_normal(n_rows)
    rows = np.repeat(np.arange(n_rows), 3)
    plain = np.zeros(n_cols)
    np.add.at(plain, cols, data * y[rows])
    A = js.CSR.from_arrays(data, cols, indptr, shape=(n_rows, n_cols))
    before = _split_scatters()
    runs = _transposed_runs(monkeypatch, A, y)
    assert _split_scatters() == before + 3
    for run in runs:
        np.testing.assert_array_equal(run, plain)

    A32 = A.astype(np.float32)  # a 3.2 MB output: grouped
    before = _split_scatters()
    runs = _transposed_runs(monkeypatch, A32, y.astype(np.float32))
    assert _split_scatters() == before
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])

    swapped = cols.copy()
    swapped[[300, 301]] = n_cols - 1, 0  # row 100: its last column before its first
    S = sps.csr_array((data, swapped, indptr), shape=(n_rows, n_cols))
    A = js.CSR.from_arrays(data, swapped, indptr, shape=(n_rows, n_cols))
    before = _split_scatters()
    runs = _transposed_runs(monkeypatch, A, y)
    assert _split_scatters() == before  # found out of order: the grouped scatter ran
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert_close(runs[0], S.T @ y, np.float64, scale=10)


def _in_place(a: np.ndarray) -> tuple[np.ndarray, jax.Array]:
    """A host copy of ``a`` at a 64-byte boundary and the device array that JAX's CPU
    client makes of it without copying: writing the host copy changes the device array
    at the same address, as XLA reusing a freed buffer does."""
    block = np.empty(a.nbytes + 64, np.uint8)
    start = -block.ctypes.data % 64
    host = block[start:start + a.nbytes].view(a.dtype)
    host[...] = a
    device = jax.device_put(host)
    if device.unsafe_buffer_pointer() != host.ctypes.data:
        pytest.skip("this JAX copies aligned host arrays instead of reading them in place")
    return host, device


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_kept_chunk_ranges_are_checked_against_the_indices(fmt):
    """The scatter products keep each chunk's output rows per index buffer. The same
    matrix again searches nothing; indices changed at the same address are caught
    whichever way the ranges moved, and every result has the bits of a fresh search
    (the product of copies at other addresses) and SciPy's values."""
    n = 60_000  # 9 per row: 8 fine chunks, each its own group (a band)
    S = sps.csr_array(sps.diags_array([np.full(n - abs(o), 1.0 + o / 7) for o in range(-4, 5)],
                                      offsets=list(range(-4, 5)), shape=(n, n)))
    A = _as(S, fmt)
    # CSR: A.T @ y scatters into the rows its column indices name; COO: A @ y into the
    # rows its row indices name.
    transpose = fmt == "csr"
    host, device = _in_place(np.asarray(A.indices if transpose else A.coords[0]))
    A = (dataclasses.replace(A, indices=device) if transpose
         else dataclasses.replace(A, coords=(device, A.coords[1])))
    product = jax.jit(lambda A, y: js.ops.spmv(A, y, transpose=transpose, backend="native"))
    y = jnp.asarray(np.random.default_rng(0).standard_normal(n))

    def now():  # the matrix the device arrays hold now, in SciPy
        if transpose:
            return sps.csr_array((S.data, host, S.indptr), shape=(n, n)).T
        C = S.tocoo()
        return sps.coo_array((C.data, (host, C.col)), shape=(n, n))

    def check(expect_search: bool):
        before = _range_searches()
        got = np.asarray(product(A, y))
        assert (_range_searches() > before) == expect_search
        fresh = jax.tree.map(lambda a: jnp.array(a, copy=True), A)
        np.testing.assert_array_equal(got, np.asarray(product(fresh, y)))
        assert_close(got, now() @ np.asarray(y), np.float64, scale=10)

    check(expect_search=True)  # first product: nothing kept yet
    check(expect_search=False)  # the same matrix
    inside = host.size // 2 + host.size // 16  # the middle of the 5th chunk
    host[inside] = n - 1  # far outside its chunk's rows: the scatter reports it
    check(expect_search=True)
    host[inside] = host[inside - 1]  # back inside: the top of the range found is gone
    check(expect_search=True)
    host[inside + 1], host[inside + 2] = host[inside + 2], host[inside + 1]
    check(expect_search=False)  # the same rows in another order: the ranges still hold


def test_kept_chunk_ranges_survive_random_rewrites():
    """Indices rewritten in place at random between products (moved within the band, far
    away, to the padding sentinel, negative): every product equals SciPy's and has the
    bits of the same product on copies at fresh addresses."""
    n = 60_000
    rng = np.random.default_rng(11)
    S = sps.csr_array(sps.diags_array([rng.standard_normal(n - abs(o)) for o in range(-4, 5)],
                                      offsets=list(range(-4, 5)), shape=(n, n)))
    host, device = _in_place(S.indices)
    A = dataclasses.replace(js.CSR.from_scipy(S), indices=device)
    product = jax.jit(lambda A, y: js.ops.spmv(A, y, transpose=True, backend="native"))
    y = jnp.asarray(rng.standard_normal(n))
    for step in range(12):
        at = rng.integers(0, host.size, size=rng.integers(1, 6))
        kind = step % 4
        if kind == 0:  # within a few rows
            host[at] = np.clip(host[at] + rng.integers(-3, 4, at.size), 0, n - 1)
        elif kind == 1:  # anywhere
            host[at] = rng.integers(0, n, at.size)
        else:  # dropped: the padding sentinel n, or a negative index
            host[at] = n if kind == 2 else -1
        got = np.asarray(product(A, y))
        fresh = jax.tree.map(lambda a: jnp.array(a, copy=True), A)
        np.testing.assert_array_equal(got, np.asarray(product(fresh, y)), err_msg=str(step))
        keep = (host >= 0) & (host < n)
        rows = np.repeat(np.arange(n), np.diff(S.indptr))
        want = sps.coo_array((S.data[keep], (rows[keep], host[keep])), shape=(n, n)).T @ y
        assert_close(got, want, np.float64, scale=10)


def _band(n, offsets=range(-4, 5), seed=0):
    rng = np.random.default_rng(seed)
    return sps.csr_array(sps.diags_array([rng.standard_normal(n - abs(o)) for o in offsets],
                                         offsets=list(offsets), shape=(n, n)))


@pytest.mark.parametrize("fmt", ["csr", "coo"])
def test_band_scatter_needs_no_buffers(fmt):
    """Scattering a band (CSR's A.T @ y, COO's A @ y), every group of chunks but the first
    has rows of its own and adds into the output directly (scatter.h): a band group per
    chunk but the first. A 2-D stencil too; a random pattern's A.T @ y has none."""
    n = 60_000
    side = 300
    T = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(side, side))
    stencil = sps.csr_array(sps.kron(sps.eye(side), T) + sps.kron(T, sps.eye(side)))
    rng = np.random.default_rng(1)
    random = sps.csr_array((rng.standard_normal(n * 9), rng.integers(0, n, n * 9),
                            np.arange(0, n * 9 + 1, 9)), shape=(n, n))
    def chunks(S):  # ScatterChunks in common.h, of the product's work
        work = S.nnz + (S.shape[0] if fmt == "csr" else 0)
        return min(8, max(1, work // (1 << 16)))

    # A COO's A @ y reaches its rows in order, so even the random pattern's chunks each
    # have rows of their own; its A.T @ y (CSR's) reaches columns at random.
    for S, bands in ((_band(n), chunks(_band(n)) - 1), (stencil, chunks(stencil) - 1),
                     (random, 0 if fmt == "csr" else chunks(random) - 1)):
        assert bands == 0 or bands >= 5  # several groups each
        A = _as(S, fmt)
        y = jnp.asarray(rng.standard_normal(S.shape[0]))
        before = _band_groups()
        # np.asarray waits for the product: JAX dispatches it asynchronously, and the
        # count read before it ran would be the old one.
        got = np.asarray(js.ops.spmv(A, y, transpose=fmt == "csr", backend="native"))
        assert _band_groups() - before == bands
        want = (S.T if fmt == "csr" else S) @ np.asarray(y)
        assert_close(got, want, np.float64, scale=10)


def test_band_scatter_sets_an_outlier_apart(monkeypatch):
    """One entry off the band, in the middle of a chunk, reaching into the next chunk's
    rows: its group adds into a buffer instead (6 band groups of 7), found on the first
    product and kept with the ranges, so later products neither search again nor fail
    first. The sums are the same for 1, 2 and 3 threads, and SciPy's. (An entry farther
    off would widen its group's rows over the next groups' and leave them none.)"""
    n = 60_000
    S = _band(n)
    far = S.indices.size // 2 + S.indices.size // 16  # the middle of the 5th chunk
    S.indices[far] = n * 5 // 8 + 2000  # inside the 6th chunk's rows
    A = js.CSR.from_scipy(S)
    y = jnp.asarray(np.random.default_rng(2).standard_normal(n))
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
        searches, bands = _range_searches(), _band_groups()
        runs.append(np.asarray(jax.jit(lambda A, y: js.ops.spmv(
            A, y, transpose=True, backend="native"))(A, y)))
        assert _band_groups() - bands == 6
        assert (_range_searches() > searches) == (threads == 1)
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert_close(runs[0], S.T @ np.asarray(y), np.float64, scale=10)


# -- COO: runs of one output row summed in a register (coo_matmul.cc) ------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coo_runs_add_as_entry_by_entry(dtype):
    """A COO product keeps a run of entries into one output row in a register, loaded
    at the run's start: the bits of adding entry by entry into memory, in entry order
    (``np.add.at``). Rows sorted with 1-12 entries each, then a second batch for random
    rows (so rows come back in later runs), an entry with an out-of-range column inside
    a run, and both orientations. Under 65536 entries: one chunk, no partial sums."""
    rng = np.random.default_rng(11)
    n, m = 700, 900
    counts = rng.integers(1, 13, n)
    row = np.concatenate([np.repeat(np.arange(n), counts), rng.integers(0, n, 2000)])
    col = rng.integers(0, m, row.size)
    col[5] = m + 3  # out of range: dropped without ending its run
    data = rng.standard_normal(row.size).astype(dtype)
    A = js.COO(jnp.asarray(data), (jnp.asarray(row, jnp.int32), jnp.asarray(col, jnp.int32)),
               shape=(n, m))
    for transpose, dst, src, size in ((False, row, col, m), (True, col, row, n)):
        v = rng.standard_normal(size).astype(dtype)
        keep = (src < size) & (dst < (m if transpose else n))
        want = np.zeros(m if transpose else n, dtype)
        np.add.at(want, dst[keep], data[keep] * v[src[keep]])
        got = np.asarray(js.ops.spmv(A, jnp.asarray(v), transpose=transpose, backend="native"))
        np.testing.assert_array_equal(got, want)


# -- prefetched streams (csr_matmul.cc, ReadsNearDiagonal) --------------------------------
def _prefetched_tasks() -> int:
    return _native_count("JaxsparsePrefetchedTasks")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_products_near_the_diagonal_prefetch_and_keep_their_bits(monkeypatch, dtype):
    """Vector products whose rows reach the vector near the diagonal (a band, a 2-D
    stencil) prefetch the matrix's streams; a random pattern's do not, nor its A.T's, nor
    a band small enough to stay in the cache (its streams under kCachedStreamBytes, 8 MB).
    Prefetched or not, A @ x adds every row's terms in storage order, and A.T @ y gives
    the same bits for any thread count."""
    side = 500  # 1.25M entries: 10 MB of float32 streams
    T = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(side, side))
    stencil = sps.csr_array(sps.kron(sps.eye(side), T) + sps.kron(T, sps.eye(side)))
    n = 300_000  # columns spread far wider than the kernel's near window of 32768
    rng = np.random.default_rng(5)
    random = sps.csr_array((rng.standard_normal(n * 3), rng.integers(0, n, n * 3),
                            np.arange(0, n * 3 + 1, 3)), shape=(n, n))
    for S, near in ((_band(120_000), True), (stencil, True), (random, False),
                    (_band(40_000), False)):  # 1.08M / 360k entries
        S = S.astype(dtype)
        # the indices' kernel: without the offsets (test_diagonal_offsets.py tests theirs)
        A = dataclasses.replace(js.CSR.from_scipy(S), diagonal_offsets=None)
        x = rng.standard_normal(S.shape[1]).astype(dtype)
        transposed = []
        for threads in (1, 2, 3):
            monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
            for transpose in (False, True):
                before = _prefetched_tasks()
                # np.asarray waits for the product before the count is read again
                got = np.asarray(jax.jit(lambda A, v, t=transpose: js.ops.spmv(
                    A, v, transpose=t, backend="native"))(A, x))
                assert (_prefetched_tasks() > before) == near, (threads, transpose)
                if transpose:
                    transposed.append(got)
                else:
                    np.testing.assert_array_equal(got, rows_in_storage_order(S, x))
        np.testing.assert_array_equal(transposed[0], transposed[1])
        np.testing.assert_array_equal(transposed[0], transposed[2])
        assert_close(transposed[0], S.T @ x, dtype, scale=10)


def test_thread_count_setting(monkeypatch):
    monkeypatch.delenv("JAXSPARSE_NUM_THREADS", raising=False)
    cores = len(os.sched_getaffinity(0))
    assert num_threads() == max(1, cores // len(jax.local_devices(backend="cpu")))
    for bad in ("0", "-2", "two"):
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", bad)
        with pytest.raises(ValueError, match="JAXSPARSE_NUM_THREADS must be a positive"):
            num_threads()


# -- transformations through the native lowering ----------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia"])
def test_grad_jvp_vmap_equal_the_reference(fmt):
    S = MATRICES["long_row"](np.float64)
    A = _as(S, fmt)
    o = _operands(S, np.float64, seed=2)
    x, X = o["x"], o["X"]

    def loss(backend):
        def f(data, x):
            y = js.ops.spmv(A.with_data(data), x, backend=backend)
            return jnp.sum(jnp.sin(y)) + jnp.sum(
                js.ops.spmv(A.with_data(data), y[: A.shape[1]] if A.shape[0] >= A.shape[1]
                            else jnp.pad(y, (0, A.shape[1] - A.shape[0])),
                            backend=backend) ** 2)
        return f

    for argnums in (0, 1):
        g_native = jax.grad(loss("native"), argnums)(A.data, x)
        g_xla = jax.grad(loss("xla"), argnums)(A.data, x)
        assert_close(g_native, g_xla, np.float64)
    t_native = jax.jvp(loss("native"), (A.data, x), (jnp.ones_like(A.data), x))[1]
    t_xla = jax.jvp(loss("xla"), (A.data, x), (jnp.ones_like(A.data), x))[1]
    assert_close(t_native, t_xla, np.float64)

    def batched(backend):
        return jax.vmap(lambda v: js.ops.spmv(A, v, backend=backend), in_axes=1)(X)

    assert_close(batched("native"), batched("xla"), np.float64)
    datas = jnp.stack([A.data, 2 * A.data])
    over_data = {b: jax.vmap(lambda d, b=b: js.ops.spmv(A.with_data(d), x, backend=b))(datas)
                 for b in ("native", "xla")}
    assert_close(over_data["native"], over_data["xla"], np.float64)


def test_native_is_the_default_on_cpu():
    assert _dispatch.pick("csr_matmul") == "native"
    for op in ("csr_matmul", "coo_matmul", "csr_sampled", "coo_sampled", "dia_matmul"):
        assert "native" in _dispatch.available(op), op
    S = MATRICES["random_37x53"](np.float64)
    text = jax.jit(lambda A, x: A @ x).lower(js.CSR.from_scipy(S), jnp.ones(53)).as_text()
    assert "jaxsparse_csr_matmul" in text


# -- sharded: each shard's blocks use the native kernel ----------------------------------
@pytest.mark.parametrize("n_devices", [1, 2, 4])
def test_sharded_native_matches_single_device(n_devices):
    S = (random_scipy(90, 90, density=0.05, seed=9) + sps.eye_array(90)).tocsr()
    mesh = jax.make_mesh((n_devices,), ("x",), devices=jax.devices()[:n_devices])
    As = js.sharding.shard(js.CSR.from_scipy(S), mesh, axis="x")
    x = np.linspace(-1, 1, 90)
    xs = As.shard_vector(x)
    text = jax.jit(lambda As, xs: As @ xs).lower(As, xs).as_text()
    assert "jaxsparse_csr_matmul" in text
    assert_close(As.unshard_vector(As @ xs), S @ x, np.float64)
    assert_close(As.unshard_vector(As.T @ As.shard_vector(x, "rows"), "cols"), S.T @ x,
                 np.float64)


# -- when the library is missing ---------------------------------------------------------
_FALLBACK = """
import warnings, numpy as np, scipy.sparse as sps
import jaxsparse as js
from jaxsparse.ops import _dispatch
S = sps.random_array((20, 20), density=0.3, format="csr", rng=0)
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    y = np.asarray(js.CSR.from_scipy(S) @ np.ones(20))
    y2 = np.asarray(js.CSR.from_scipy(S) @ np.ones(20))
assert np.allclose(y, S @ np.ones(20)) and np.allclose(y2, y)
assert _dispatch.pick("csr_matmul") == "xla", _dispatch.pick("csr_matmul")
msgs = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
assert len(msgs) == 1 and "'native' backend is unavailable" in msgs[0], msgs
try:
    js.ops.spmv(js.CSR.from_scipy(S), np.ones(20), backend="native")
except ValueError as err:
    assert "disabled by JAXSPARSE_DISABLE_NATIVE" in str(err), err
else:
    raise AssertionError("backend='native' did not raise")
print("fallback ok")
"""


def test_missing_library_falls_back_to_xla_with_one_warning():
    result = subprocess.run([sys.executable, "-c", _FALLBACK], capture_output=True,
                            text=True, timeout=120,
                            env=child_env(JAXSPARSE_DISABLE_NATIVE="1"))
    assert result.returncode == 0, result.stderr
    assert "fallback ok" in result.stdout


def test_required_native_library_fails_loudly():
    result = subprocess.run([sys.executable, "-c", "import jaxsparse"], capture_output=True,
                            text=True, timeout=120,
                            env=child_env(JAXSPARSE_DISABLE_NATIVE="1",
                                           JAXSPARSE_REQUIRE_NATIVE="1"))
    assert result.returncode != 0
    assert "JAXSPARSE_REQUIRE_NATIVE is set but disabled by" in result.stderr


def test_loader_reports_a_missing_or_broken_library(tmp_path):
    from jaxsparse.ops.native import _library

    assert "not built" in _library.load(None)
    broken = tmp_path / "_kernels.cpython-311-x86_64-linux-gnu.so"
    broken.write_bytes(b"not a shared library")
    assert _library.library_path(tmp_path) == broken
    assert "could not load" in _library.load(broken)


def test_build_without_a_compiler_still_installs(tmp_path):
    """setup.py's build_ext reports a failed compile and carries on (no library)."""
    pytest.importorskip("setuptools", reason="the build test runs setup.py with setuptools")
    result = subprocess.run(
        [sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "lib"),
         "--build-temp", str(tmp_path / "tmp")],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
        env=child_env(CC="false", CXX="false"),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "jaxsparse native CPU kernels were not built" in result.stderr
    assert not list((tmp_path / "lib").rglob("_kernels*.so"))
