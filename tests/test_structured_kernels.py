"""The DIA and BSR kernels (the "xla" lowerings of their primitives) against SciPy, and
the kernel layer around them: primitives in the jaxpr, backends serving the transposes."""

from __future__ import annotations

import ast
import pathlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, random_scipy

import jaxsparse as js
from jaxsparse.ops import _dia_kernel, _dispatch

# name: (shape, offsets, data width or None for n_cols)
DIA_CASES = {
    "banded": ((9, 9), [-2, -1, 0, 1, 2], None),
    "irregular_tall": ((9, 5), [3, -4, 0, -1, 2], None),
    "irregular_wide": ((4, 10), [-3, 6, 0, 1, 9, -1], None),
    "offsets_beyond": ((5, 6), [-10, -5, 0, 6, 11], None),
    "narrow_width": ((7, 8), [-2, 0, 1, 3], 5),
    "wide_data": ((6, 4), [-1, 0, 2], 7),  # SciPy allows data wider than n_cols
}


def _dia(case, dtype=np.float64, seed=0):
    shape, offsets, width = DIA_CASES[case]
    cols = shape[1] if width is None else width
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((len(offsets), cols))
    if np.dtype(dtype).kind == "c":
        data = data + 1j * rng.standard_normal(data.shape)
    S = sps.dia_array((data.astype(dtype), np.asarray(offsets)), shape=shape)
    return S, js.DIA.from_arrays(data.astype(dtype), offsets, shape=shape)


def _operands(n_in, dtype, seed=1):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(n_in)
    X = rng.standard_normal((n_in, 3))
    if np.dtype(dtype).kind == "c":
        x, X = x + 1j * rng.standard_normal(n_in), X - 1j * rng.standard_normal(X.shape)
    return x.astype(dtype), X.astype(dtype)


@pytest.mark.parametrize("transpose", [False, True], ids=["A", "AT"])
@pytest.mark.parametrize("case", DIA_CASES)
def test_dia_kernel_matches_scipy(case, transpose):
    """Against SciPy's dense matrix: SciPy 1.17's ``dia_array.T`` is wrong for data wider
    than ``n_cols`` (it keeps the slots past ``n_cols``), so ``S.T @ x`` is no oracle."""
    S, A = _dia(case)
    D = S.toarray()
    M = D.T if transpose else D
    x, X = _operands(M.shape[1], np.float64)
    assert_close(js.ops.spmv(A, x, transpose=transpose, backend="xla"), M @ x)
    assert_close(js.ops.spmm(A, X, transpose=transpose, backend="xla"), M @ X)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128, jnp.bfloat16])
def test_dia_kernel_dtypes(dtype):
    S, A = _dia("irregular_wide", np.float32 if dtype == jnp.bfloat16 else dtype)
    A = A.astype(dtype)
    x, X = _operands(S.shape[1], np.float32 if dtype == jnp.bfloat16 else dtype)
    y = js.ops.spmv(A, jnp.asarray(x, dtype), backend="xla")
    Y = js.ops.spmm(A, jnp.asarray(X, dtype), backend="xla")
    yt = js.ops.spmv(A, jnp.ones(S.shape[0], dtype), transpose=True, backend="xla")
    assert y.dtype == Y.dtype == yt.dtype == np.dtype(dtype)
    if dtype == jnp.bfloat16:  # the reference sees the same rounded inputs
        S = A.astype(np.float32).to_scipy()
        x = np.asarray(jnp.asarray(x, dtype), np.float32)
        X = np.asarray(jnp.asarray(X, dtype), np.float32)
    as_np = lambda a: np.asarray(a.astype(np.float32) if dtype == jnp.bfloat16 else a)
    assert_close(as_np(y), S @ x, dtype)
    assert_close(as_np(Y), S @ X, dtype)
    assert_close(as_np(yt), S.T @ np.ones(S.shape[0]), dtype)


def test_dia_low_precision_accumulates_in_f32():
    """1 + 256 * 2**-8 in bf16 steps would stall at 1; f32 accumulation reaches 2."""
    n = 257
    offsets = np.arange(n)  # row 0 holds every diagonal: A[0, j] = data[j, j]
    data = np.zeros((n, n), np.float32)
    data[0, 0] = 1.0
    data[np.arange(1, n), np.arange(1, n)] = 2.0 ** -8
    A = js.DIA.from_arrays(data, offsets, shape=(1, n)).astype(jnp.bfloat16)
    y = js.ops.spmv(A, jnp.ones(n, jnp.bfloat16), backend="xla")
    assert float(y[0]) == 2.0


@pytest.mark.parametrize("n_diags", [16, 21])  # fully unrolled / chunked fori_loop
def test_dia_kernel_many_diagonals(n_diags):
    rng = np.random.default_rng(2)
    offsets = rng.permutation(np.arange(-12, 13))[:n_diags]
    S = sps.dia_array((rng.standard_normal((n_diags, 11)), offsets), shape=(13, 11))
    A = js.DIA.from_scipy(S)
    x, X = _operands(11, np.float64)
    assert_close(js.ops.spmv(A, x, backend="xla"), S @ x)
    assert_close(js.ops.spmm(A, X[:, :2], backend="xla"), S @ X[:, :2])
    assert_close(js.ops.spmv(A, np.arange(13.0), transpose=True, backend="xla"),
                 S.T @ np.arange(13.0))
    g = jax.grad(lambda d: jnp.sum(A.with_data(d) @ x))(A.data)
    stored = np.asarray(A.with_data(jnp.ones_like(A.data)).todense()) != 0
    assert_close(A.with_data(g).todense(), stored * x[None, :])


def test_dia_inf_next_to_padding_and_garbage_in_padding():
    """Out-of-band slots never meet b: inf in b stays out of rows it does not reach,
    and values left in padding slots (``with_data``) are ignored."""
    S, A = _dia("narrow_width")  # columns >= 5 are out of the band
    n, m = S.shape
    x = np.ones(m)
    x[5:] = np.inf
    y = js.ops.spmv(A, x, backend="xla")
    assert np.all(np.isfinite(np.asarray(y)))
    assert_close(y, S @ np.where(np.isinf(x), 0.0, x))
    junk = A.with_data(jnp.where(A.data == 0, 7.0, A.data))  # fill every padding slot
    assert_close(js.ops.spmv(junk, np.arange(m, dtype=float), backend="xla"),
                 S @ np.arange(m, dtype=float))
    assert_close(js.ops.spmv(junk, np.arange(n, dtype=float), transpose=True,
                             backend="xla"), S.T @ np.arange(n, dtype=float))
    _, B = _dia("offsets_beyond")  # only diagonal 0 is in the band; column 5 is empty
    yt = np.asarray(js.ops.spmv(B, np.array([1.0, 2.0, 3.0, 4.0, np.inf]), transpose=True,
                                backend="xla"))
    assert np.isfinite(yt[:4]).all() and np.isinf(yt[4]) and yt[5] == 0.0


@pytest.mark.parametrize("transpose", [False, True], ids=["A", "AT"])
@pytest.mark.parametrize("case", DIA_CASES)
def test_dia_nonfinite_padding_slots_never_reach_y(case, transpose):
    """``A @ b`` masks only columns past ``width``: the slots above and below the band
    must still fall outside ``y`` when the diagonals are shifted into row order. inf and
    NaN in every out-of-band slot would poison any row they reached."""
    S, A = _dia(case)
    n, m = S.shape
    rows = np.arange(A.data.shape[1])[None, :] - np.asarray(A.offsets)[:, None]
    width = m if DIA_CASES[case][2] is None else min(DIA_CASES[case][2], m)
    out = (rows < 0) | (rows >= n) | (np.arange(A.data.shape[1])[None, :] >= width)
    poison = np.where(out, np.where(rows % 2 == 0, np.inf, np.nan), np.asarray(A.data))
    junk = A.with_data(jnp.asarray(poison))
    x, _ = _operands(n if transpose else m, np.float64)
    y = np.asarray(js.ops.spmv(junk, x, transpose=transpose, backend="xla"))
    dense = S.toarray()
    assert_close(y, (dense.T if transpose else dense) @ x)


def test_dia_empty():
    for shape, k in [((0, 4), 2), ((4, 0), 2), ((3, 4), 0)]:
        A = js.DIA.from_arrays(np.zeros((k, shape[1])), np.arange(k), shape=shape)
        assert js.ops.spmv(A, np.ones(shape[1]), backend="xla").shape == (shape[0],)
        y = js.ops.spmv(A, np.ones(shape[0]), transpose=True, backend="xla")
        assert y.shape == (shape[1],) and not np.any(np.asarray(y))
        g = jax.grad(lambda d, A=A: jnp.sum(A.with_data(d) @ np.ones(A.shape[1])))(A.data)
        assert g.shape == A.data.shape


def test_dia_xla_kernel_has_no_gather():
    _, A = _dia("irregular_tall")
    for transpose in (False, True):
        b = jnp.ones((A.shape[0] if transpose else A.shape[1], 2))
        jaxpr = jax.make_jaxpr(
            lambda d, o, b, transpose=transpose: _dia_kernel.dia_matmul(
                d, o, b, shape=A.shape, transpose=transpose, width=A._width))(
            A.data, A.offsets, b)
        names = {e.primitive.name for e in jaxpr.eqns}
        assert "gather" not in names and "dynamic_slice" in names


@pytest.mark.parametrize("case", ["irregular_tall", "irregular_wide", "narrow_width"])
def test_dia_transpose_products_run_the_transposed_kernel_without_forming_it(case):
    """``A.T @ b`` (and ``b @ A.T``, ``A.T.T @ b``) under jit: the compiled program
    gathers nothing (the transpose's data is dead code), the sums are the transposed
    kernel's, and gradients reach A's data; an ``A.T`` handed into jit as a pytree is
    multiplied by its own (gathered) data, to the same values."""
    S, A = _dia(case)
    y, x = _operands(A.shape[0], np.float64)[0], _operands(A.shape[1], np.float64)[0]
    products = {
        "A.T @ y": (lambda A, v: A.T @ v, y, S.T @ y),
        "x @ A.T": (lambda A, v: v @ A.T, x, x @ S.T),
        "A.T.T @ x": (lambda A, v: A.T.T @ v, x, S @ x),
    }
    for name, (f, v, want) in products.items():
        hlo = jax.jit(f).lower(A, v).compile().as_text()
        assert " gather(" not in hlo, name
        assert_close(jax.jit(f)(A, v), want, np.float64)
    np.testing.assert_array_equal(np.asarray(jax.jit(lambda A, y: A.T @ y)(A, y)),
                                  np.asarray(js.ops.spmv(A, y, transpose=True)))
    assert_close(jax.jit(lambda T, y: T @ y)(A.T, y), S.T @ y, np.float64)
    grad = jax.grad(lambda d: jnp.sum(A.with_data(d).T @ y))(A.data)
    want = jax.grad(lambda d: jnp.sum(js.ops.spmv(A.with_data(d), y, transpose=True)))(A.data)
    np.testing.assert_array_equal(np.asarray(grad), np.asarray(want))
    # concrete, A.T holds its own data only (not A's too)
    T = A.T
    assert "_transpose_of" not in vars(T)
    assert_close(T @ y, S.T @ y, np.float64)


# -- BSR --------------------------------------------------------------------------------
@pytest.mark.parametrize("blocksize", [(1, 1), (2, 3), (3, 2)])
def test_bsr_kernel_matches_scipy(blocksize):
    S = random_scipy(6, 12, density=0.3, seed=5).tobsr(blocksize=blocksize)
    pad = 2  # capacity past the real blocks: zero blocks at the sentinel column
    A = js.BSR.from_arrays(
        np.concatenate([S.data, np.full((pad,) + blocksize, 5.0)]),
        np.concatenate([S.indices, np.zeros(pad, S.indices.dtype)]), S.indptr,
        shape=S.shape, blocksize=blocksize)
    for transpose in (False, True):
        M = S.T if transpose else S
        x, X = _operands(M.shape[1], np.float64)
        assert_close(js.ops.spmv(A, x, transpose=transpose, backend="xla"), M @ x)
        assert_close(js.ops.spmm(A, X, transpose=transpose, backend="xla"), M @ X)
    g = jax.grad(lambda d: jnp.sum(A.with_data(d) @ np.ones(12)))(A.data)
    np.testing.assert_array_equal(np.asarray(g)[S.indptr[-1]:], 0.0)


def test_bsr_bf16():
    S = random_scipy(4, 6, density=0.5, dtype=np.float32, seed=6).tobsr(blocksize=(2, 2))
    A = js.BSR.from_scipy(S).astype(jnp.bfloat16)
    x = jnp.linspace(-1, 1, 6).astype(jnp.bfloat16)
    y = js.ops.spmv(A, x, backend="xla")
    assert y.dtype == jnp.bfloat16
    want = A.astype(np.float32).to_scipy() @ np.asarray(x, np.float32)
    assert_close(np.asarray(y, np.float32), want, jnp.bfloat16)


# -- the kernel layer -------------------------------------------------------------------
def test_products_bind_their_primitives():
    dia = js.DIA.from_scipy(_dia("banded")[0])
    bsr = js.BSR.from_scipy(random_scipy(4, 6, seed=1), blocksize=(2, 2))
    for A, name in ((dia, "dia_matmul"), (bsr, "bsr_matmul")):
        jaxpr = jax.make_jaxpr(lambda x, A=A: A @ x)(jnp.ones(A.shape[1]))
        assert [e.primitive.name for e in jaxpr.eqns] == [name]
        assert set(jaxpr.eqns[0].params) == (
            {"shape", "transpose", "width", "backend"} if name == "dia_matmul"
            else {"shape", "transpose", "backend"})
    A, B = js.CSR.from_scipy(random_scipy(4, 5, seed=2)), js.CSR.from_scipy(
        random_scipy(5, 3, seed=3))
    plan = js.ops.spgemm_symbolic(A, B)
    jaxpr = jax.make_jaxpr(lambda a, b: js.ops.spgemm_numeric(
        A.with_data(a), B.with_data(b), plan).data)(A.data, B.data)
    assert "spgemm_numeric" in {e.primitive.name for e in jaxpr.eqns}


@pytest.fixture
def recording_backend():
    """A stand-in "native" backend for the three kernels that records its calls."""
    calls = []
    ops = ("dia_matmul", "bsr_matmul", "spgemm_numeric")
    saved = {op: _dispatch._IMPLS.pop((op, "native"), None) for op in ops}
    for op in ops:
        ref = _dispatch.lookup(op, "xla")

        def kernel(*args, op=op, ref=ref, **params):
            calls.append((op, params.get("transpose")))
            return ref(*args, **params)

        _dispatch.register(op, "native")(kernel)
    yield calls
    for op, impl in saved.items():  # put back the real native kernels where built
        del _dispatch._IMPLS[(op, "native")]
        if impl is not None:
            _dispatch._IMPLS[(op, "native")] = impl


def test_backend_kernel_serves_the_transposed_products(recording_backend):
    """The cotangent of b binds the same primitive, so the backend's kernel runs it."""
    calls = recording_backend
    S, A = _dia("irregular_tall")
    g = jax.grad(lambda x: jnp.sum(js.ops.spmv(A, x, backend="native")))(np.arange(5.0))
    assert_close(g, S.T @ np.ones(9))
    assert ("dia_matmul", False) in calls and ("dia_matmul", True) in calls
    B = js.BSR.from_scipy(random_scipy(4, 6, seed=1), blocksize=(2, 3))
    g = jax.grad(lambda y: jnp.sum(js.ops.spmv(B, y, transpose=True, backend="native")))(
        np.ones(4))
    assert_close(g, B.to_scipy() @ np.ones(6))
    assert ("bsr_matmul", True) in calls and ("bsr_matmul", False) in calls
    C, D = js.CSR.from_scipy(random_scipy(4, 5, seed=2)), js.CSR.from_scipy(
        random_scipy(5, 3, seed=3))
    plan = js.ops.spgemm_symbolic(C, D)
    out = js.ops.spgemm_numeric(C, D, plan, backend="native")
    assert_close(out.todense(), C.to_scipy().toarray() @ D.to_scipy().toarray())
    assert ("spgemm_numeric", None) in calls


def test_formats_do_not_import_ops_at_module_level():
    """DIA/BSR reach their primitives through imports inside methods (no import cycle)."""
    root = pathlib.Path(js.__file__).parent / "formats"
    for name in ("_dia.py", "_bsr.py"):
        for node in ast.parse((root / name).read_text()).body:
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                assert not (node.level == 2 and mod.split(".")[0] == "ops"), (name, mod)
                assert not mod.startswith("jaxsparse.ops"), (name, mod)
            elif isinstance(node, ast.Import):
                assert not any(a.name.startswith("jaxsparse.ops") for a in node.names)


# -- b_start: an operand that starts some rows into b -----------------------------------
def _from(A, b, start, *, transpose=False, backend=None):
    from jaxsparse.ops._primitives import DIA_MATMUL

    return DIA_MATMUL.bind(A.data, A.offsets, b, shape=A.shape, transpose=transpose,
                           width=A._width, backend=backend, b_start=start)


def _backends():
    from jaxsparse.ops.native import missing_reason

    return ["xla"] + (["native"] if missing_reason() is None else [])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.complex128])
@pytest.mark.parametrize("transpose", [False, True], ids=["A", "AT"])
@pytest.mark.parametrize("case", DIA_CASES)
def test_dia_b_start_reads_only_the_operand(case, transpose, dtype):
    """``b_start`` rows of NaN before the operand: every backend gives the product of
    the operand alone (the same bits as without them), for one vector and for k
    columns; the rows before it are never read."""
    S, A = _dia(case, dtype)
    x, X = _operands(S.shape[0] if transpose else S.shape[1], dtype)
    for start in (1, 5):
        for v in (x, X):
            pad = np.full((start,) + v.shape[1:], np.nan, dtype)
            b = jnp.asarray(np.concatenate([pad, v]))
            for backend in _backends():
                got = _from(A, b, start, transpose=transpose, backend=backend)
                want = _from(A, jnp.asarray(v), 0, transpose=transpose, backend=backend)
                np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
                M = S.toarray().T if transpose else S.toarray()
                assert_close(got, M @ v, dtype)


@pytest.mark.parametrize("backend", ["xla", "native"])
def test_dia_b_start_grad_jvp_and_vmap(backend):
    """The rules of ``b_start``: the rows before the operand get a zero cotangent, the
    data's cotangent is the unshifted one, and ``jvp`` / ``vmap`` agree with the
    operand bound on its own."""
    if backend not in _backends():
        pytest.skip("the native kernels are not built here (missing_reason() says why)")
    S, A = _dia("irregular_tall")
    x, _ = _operands(S.shape[1], np.float64)
    b = jnp.asarray(np.concatenate([[3.0, -1.0], x]))
    loss = lambda d, v, s: jnp.sum(jnp.sin(_from(A.with_data(d), v, s, backend=backend)))
    g_d, g_b = jax.grad(loss, argnums=(0, 1))(A.data, b, 2)
    w_d, w_x = jax.grad(loss, argnums=(0, 1))(A.data, jnp.asarray(x), 0)
    assert_close(g_d, w_d)
    assert_close(g_b, np.concatenate([[0.0, 0.0], np.asarray(w_x)]))
    t = jnp.asarray(np.random.default_rng(2).standard_normal(b.shape))
    _, tan = jax.jvp(lambda v: _from(A, v, 2, backend=backend), (b,), (t,))
    _, want = jax.jvp(lambda v: _from(A, v, 0, backend=backend), (b[2:],), (t[2:],))
    assert_close(tan, want)
    B = jnp.stack([b, 2 * b])
    assert_close(jax.vmap(lambda v: _from(A, v, 2, backend=backend))(B),
                 np.stack([S @ x, 2 * (S @ x)]))
    D = jnp.stack([A.data, -A.data])
    assert_close(jax.vmap(lambda d: _from(A.with_data(d), b, 2, backend=backend))(D),
                 np.stack([S @ x, -(S @ x)]))
