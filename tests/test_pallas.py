"""The "pallas" backend: run in Pallas's interpreter on this CPU machine against SciPy
and the xla backend, and lowered for CUDA from it to prove the GPU build compiles."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close

import jaxsparse as js
from jaxsparse.ops import _dispatch
from jaxsparse.ops.pallas import _rowwise, _sampled, _transposed
from jaxsparse.sharding import _sharded_ops

TRITON_CALL = "__gpu$xla.gpu.triton"
LOW_PRECISION = (jnp.bfloat16, np.float16)


def _random(n, m, density, seed):
    rng = np.random.default_rng(seed)
    S = sps.random_array((n, m), density=density, format="csr", rng=rng)
    S.data = rng.standard_normal(S.nnz)
    return S


def _with_empty_rows():
    S = _random(37, 29, 0.25, 1).tolil()
    for r in (0, 5, 6, 7, 36):
        S[r, :] = 0
    return S.tocsr()


def _with_long_row():
    """Row 3 holds most of the nonzeros: longer than any program's row piece, so the
    products cut rows into pieces (``_rows.split_rows``)."""
    rng = np.random.default_rng(2)
    S = _random(60, 2100, 0.0005, 3).tolil()
    S[3, :] = rng.standard_normal(2100)
    return S.tocsr()


def _with_duplicates():
    """Non-canonical CSR: repeated (row, col) entries, some in one row's run."""
    row = np.array([0, 0, 0, 2, 2, 4, 4, 4, 4])
    col = np.array([1, 1, 3, 0, 0, 2, 2, 2, 5])
    indptr = np.concatenate([[0], np.bincount(row, minlength=5).cumsum()])
    return sps.csr_array((np.arange(1.0, 10.0), col, indptr), shape=(5, 6))


MATRICES = {
    "random": lambda: _random(37, 29, 0.2, 0),
    "empty_rows": _with_empty_rows,
    "long_row": _with_long_row,
    "duplicates": _with_duplicates,
    "banded": lambda: sps.diags_array([np.ones(49 - abs(k)) * (k + 2) for k in range(-2, 3)],
                                      offsets=range(-2, 3), shape=(49, 49)).tocsr(),
}


def _padded(S):
    """``S`` as a jaxsparse CSR with padding slots past its entries (capacity > nnz)."""
    extra = 7
    data = np.concatenate([S.data, np.full(extra, 5.0)])
    indices = np.concatenate([S.indices, np.zeros(extra, S.indices.dtype)])
    A = js.CSR.from_arrays(data, indices, S.indptr, shape=S.shape)
    assert A.capacity == S.nnz + extra
    return A


def _operands(S, dtype, k=5, seed=0):
    rng = np.random.default_rng(seed)
    n, m = S.shape
    cast = lambda a: jnp.asarray(a, dtype)  # noqa: E731
    return {"x": cast(rng.standard_normal(m)), "y": cast(rng.standard_normal(n)),
            "B": cast(rng.standard_normal((m, k))), "Y": cast(rng.standard_normal((n, k))),
            "P": cast(rng.standard_normal((n, 6))), "Q": cast(rng.standard_normal((6, m)))}


def _expected(S, op, v):
    """SciPy's answer in float64 from the operands as the kernel sees them."""
    f = {k: np.asarray(a, np.float64) for k, a in v.items()}
    S = S.astype(np.float64)
    return {"spmv": lambda: S @ f["x"], "spmv_T": lambda: S.T @ f["y"],
            "spmm": lambda: S @ f["B"], "spmm_T": lambda: S.T @ f["Y"],
            "sddmm": lambda: (S.multiply(f["P"] @ f["Q"])).toarray()}[op]()


def _run(A, op, v, backend="pallas"):
    return {"spmv": lambda: js.ops.spmv(A, v["x"], backend=backend),
            "spmv_T": lambda: js.ops.spmv(A, v["y"], transpose=True, backend=backend),
            "spmm": lambda: js.ops.spmm(A, v["B"], backend=backend),
            "spmm_T": lambda: js.ops.spmm(A, v["Y"], transpose=True, backend=backend),
            "sddmm": lambda: js.ops.sddmm(A, v["P"], v["Q"], backend=backend).todense()}[op]()


OPS = ("spmv", "spmv_T", "spmm", "spmm_T", "sddmm")


# Each (matrix, op) runs once, with or without padding slots past the entries in
# alternation, so every matrix and every op meets both (each is a separate interpreted
# program, the slowest compiles in the suite).
@pytest.mark.parametrize("name,op,padded", [
    (name, op, (i + j) % 2 == 1)
    for i, name in enumerate(sorted(MATRICES)) for j, op in enumerate(OPS)])
def test_interpreted_kernels_match_scipy(name, op, padded):
    S = MATRICES[name]()
    v = _operands(S, np.float64)
    A = _padded(S) if padded else js.CSR.from_scipy(S)  # padding changes nothing
    assert_close(_run(A, op, v), _expected(S, op, v), np.float64)


# float32 on every op; bf16 and f16 share one path (read as is, summed in float32), so
# they split the ops between them.
@pytest.mark.parametrize("dtype,op", [(np.float32, op) for op in OPS] + [
    (LOW_PRECISION[j % len(LOW_PRECISION)], op) for j, op in enumerate(OPS)])
def test_dtypes_accumulate_like_the_xla_backend(dtype, op):
    """float32 as is; bf16/f16 read as they are and summed in float32, like xla."""
    S = _with_long_row() if op.startswith("spmv") else _with_empty_rows()
    A = js.CSR.from_scipy(S).astype(dtype)
    v = _operands(S, dtype)
    got = _run(A, op, v)
    assert got.dtype == np.dtype(dtype)
    ref = _run(A, op, v, backend="xla")
    scale = 4.0 if dtype in LOW_PRECISION else 10.0  # different summation orders
    assert_close(np.asarray(got, np.float64), np.asarray(ref, np.float64), dtype, scale)


@pytest.mark.parametrize("blocks", [
    _rowwise.Blocks(rows=1, lanes=1, piece=1),
    _rowwise.Blocks(rows=8, lanes=4, piece=16),
    _rowwise.Blocks(rows=64, lanes=32, piece=64),
])
def test_rowwise_block_sizes(blocks):
    S = _with_long_row()
    A = js.CSR.from_scipy(S)
    v = _operands(S, np.float64)
    for b, expected in ((v["x"], S @ np.asarray(v["x"])), (v["B"], S @ np.asarray(v["B"]))):
        got = jax.jit(lambda d, i, p, b: _rowwise.csr_matmul(
            d, i, p, b, n_rows=S.shape[0], acc=np.float64, blocks=blocks))(
            A.data, A.indices, A.indptr, b)
        assert_close(got, expected, np.float64)


@pytest.mark.parametrize("blocks", [
    _transposed.Blocks(lanes=1, chunks=1, columns=1),
    _transposed.Blocks(lanes=4, chunks=3, columns=2),
    _transposed.Blocks(lanes=64, chunks=2, columns=8),
])
def test_transposed_block_sizes(blocks):
    """Small chunks put a row's slots in many chunks; large chunks put several rows of a
    banded matrix, sharing columns, in one (added in rounds)."""
    S = MATRICES["banded"]()
    A = js.CSR.from_scipy(S)
    v = _operands(S, np.float64)
    for b, expected in ((v["y"], S.T @ np.asarray(v["y"])),
                        (v["Y"], S.T @ np.asarray(v["Y"]))):
        got = jax.jit(lambda d, i, p, b: _transposed.csr_matmul_transposed(
            d, i, p, b, n_rows=S.shape[0], n_cols=S.shape[1], acc=np.float64,
            blocks=blocks))(A.data, A.indices, A.indptr, b)
        assert_close(got, expected, np.float64)


@pytest.mark.parametrize("blocks", [_sampled.Blocks(slots=1, depth=1),
                                    _sampled.Blocks(slots=16, depth=4)])
@pytest.mark.parametrize("is_csr", [True, False])
def test_sampled_block_sizes(blocks, is_csr):
    S = _with_empty_rows()
    v = _operands(S, np.float64)
    A = js.CSR.from_scipy(S)
    coo = S.tocoo()
    i0 = A.indptr if is_csr else jnp.asarray(coo.row, A.indices.dtype)
    i1 = A.indices if is_csr else jnp.asarray(coo.col, A.indices.dtype)
    got = _sampled.sampled(i0, i1, v["P"], v["Q"], is_csr=is_csr, n_rows=S.shape[0],
                           n_cols=S.shape[1], acc=np.float64, blocks=blocks)
    P, Q = np.asarray(v["P"]), np.asarray(v["Q"])
    rows, cols = (np.repeat(np.arange(S.shape[0]), np.diff(S.indptr)), S.indices) if is_csr \
        else (coo.row, coo.col)
    assert_close(got, np.einsum("kj,jk->k", P[rows], Q[:, cols]), np.float64)


def test_csc_and_coo_reach_the_kernels_they_have():
    """CSC runs the CSR kernels on its own arrays with the product flipped; COO's SDDMM
    has a kernel, its product goes to xla and says so when pallas is forced."""
    S = _with_empty_rows()
    v = _operands(S, np.float64)
    C = js.CSC.from_scipy(S.tocsc())
    assert_close(js.ops.spmv(C, v["x"], backend="pallas"), S @ np.asarray(v["x"]))
    assert_close(js.ops.spmv(C, v["y"], transpose=True, backend="pallas"),
                 S.T @ np.asarray(v["y"]))
    assert_close(_run(C, "sddmm", v), _expected(S, "sddmm", v))
    Co = js.COO.from_scipy(S.tocoo())
    assert_close(_run(Co, "sddmm", v), _expected(S, "sddmm", v))
    with pytest.raises(ValueError, match="no kernel for coo_matmul"):
        js.ops.spmv(Co, v["x"], backend="pallas")


@pytest.mark.parametrize("dtype", [np.complex128, np.int32])
def test_types_without_a_kernel_use_the_xla_lowering(dtype):
    S = _random(20, 15, 0.3, 4)
    S.data = (S.data * 3).astype(dtype) if dtype == np.int32 else S.data * (1 + 2j)
    A = js.CSR.from_scipy(S)
    x = np.arange(15).astype(dtype)
    f = jax.jit(lambda A, x: js.ops.spmv(A, x, backend="pallas"))
    assert_close(f(A, x), S @ x, dtype)
    assert TRITON_CALL not in f.trace(A, x).lower(lowering_platforms=("cuda",)).as_text()


def test_empty_matrix_uses_the_xla_lowering():
    S = sps.csr_array((4, 3))
    assert_close(js.ops.spmv(js.CSR.from_scipy(S), np.ones(3), backend="pallas"), np.zeros(4))


# -- autodiff and batching come from the primitives ------------------------------------
def test_gradients_through_pallas_equal_the_reference():
    S = _with_empty_rows()
    A = js.CSR.from_scipy(S)
    v = _operands(S, np.float64)

    def loss(backend):
        def f(data, x, P, Q):
            M = A.with_data(data)
            y = js.ops.spmv(M, x, backend=backend)
            s = js.ops.sddmm(M, P, Q, backend=backend).data
            return jnp.sum(y ** 2) + jnp.sum(jnp.sin(s))
        return jax.grad(f, argnums=(0, 1, 2, 3))(A.data, v["x"], v["P"], v["Q"])

    for got, ref in zip(loss("pallas"), loss("xla"), strict=True):
        assert_close(got, ref, np.float64)
    jvp = lambda backend: jax.jvp(  # noqa: E731
        lambda x: js.ops.spmv(A, x, transpose=True, backend=backend), (v["y"],), (v["y"],))
    for got, ref in zip(jvp("pallas"), jvp("xla"), strict=True):
        assert_close(got, ref, np.float64)


def test_vmap_folds_into_one_matrix_product():
    S = _with_long_row()
    A = js.CSR.from_scipy(S)
    X = np.random.default_rng(5).standard_normal((3, S.shape[1]))
    f = jax.vmap(lambda x: js.ops.spmv(A, x, backend="pallas"))
    assert_close(f(X), (S @ X.T).T, np.float64)


# -- inside shard_map ------------------------------------------------------------------
@pytest.fixture(scope="module")
def mesh2():
    return jax.make_mesh((2,), ("x",), axis_types=(jax.sharding.AxisType.Explicit,),
                         devices=jax.devices()[:2])


def test_sharded_products_use_the_kernels_as_local_products(mesh2):
    S = _random(64, 64, 0.1, 6)
    As = js.sharding.shard(S, mesh2, local_format="csr")
    v = _operands(S, np.float64)
    x, y = np.asarray(v["x"]), np.asarray(v["y"])
    assert_close(_sharded_ops.matmul(As, x, backend="pallas"), S @ x)
    assert_close(_sharded_ops.matmul_transposed(As, y, backend="pallas"), S.T @ y)
    R = js.sharding.sddmm(As, v["P"], v["Q"], backend="pallas")
    ref = js.sharding.sddmm(As, v["P"], v["Q"], backend="xla")
    for got, want in zip(R.vals, ref.vals, strict=True):
        assert_close(got, want, np.float64)
    with jax.set_mesh(mesh2):
        g = jax.grad(lambda x: jnp.sum(_sharded_ops.matmul(As, x, backend="pallas") ** 2))(x)
    assert_close(g, 2 * S.T @ (S @ x))


# -- lowered for CUDA on this CPU machine ----------------------------------------------
def _cuda_text(f, *args):
    return jax.jit(f).trace(*args).lower(lowering_platforms=("cuda",)).as_text()


@pytest.mark.parametrize("dtype", [np.float32, np.float64, jnp.bfloat16])
@pytest.mark.parametrize("op", OPS)
def test_kernels_lower_for_cuda(op, dtype):
    S = _with_empty_rows()
    v = _operands(S, dtype)
    A = js.CSR.from_scipy(S).astype(dtype)
    text = _cuda_text(lambda A, v: _run(A, op, v), A, v)
    assert TRITON_CALL in text


def test_one_jitted_function_interprets_on_cpu_and_lowers_triton_for_cuda():
    S = _with_empty_rows()
    A = js.CSR.from_scipy(S)
    x = np.ones(S.shape[1])
    f = jax.jit(lambda A, x: js.ops.spmv(A, x, backend="pallas"))
    assert TRITON_CALL not in f.trace(A, x).lower().as_text()
    assert TRITON_CALL in f.trace(A, x).lower(lowering_platforms=("cuda",)).as_text()


def test_jitted_cg_on_a_sharded_matrix_lowers_to_triton_for_cuda(mesh2):
    """backend=None is resolved when lowered: native kernels for the CPU, Pallas for
    CUDA, from one trace of ``cg``."""
    n = 12
    T = sps.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], offsets=[-1, 0, 1])
    S = (sps.kron(sps.eye_array(n), T) + sps.kron(T, sps.eye_array(n))).tocsr()
    As = js.sharding.shard(S, mesh2, local_format="csr")
    b = np.ones(n * n)
    f = jax.jit(lambda A, b: js.linalg.cg(A, b, maxiter=30)[0])
    assert TRITON_CALL in f.trace(As, b).lower(lowering_platforms=("cuda",)).as_text()
    assert TRITON_CALL not in f.trace(As, b).lower().as_text()


# -- backend choice ---------------------------------------------------------------------
def test_none_picks_pallas_on_gpus_and_xla_where_it_has_no_kernel():
    for platform in ("cuda", "rocm", "gpu"):
        assert _dispatch.pick("csr_matmul", platform=platform) == "pallas"
        assert _dispatch.pick("csr_sampled", platform=platform) == "pallas"
        assert _dispatch.pick("coo_matmul", platform=platform) == "xla"
        assert _dispatch.pick("dia_matmul", platform=platform) == "xla"
    with _dispatch.lowering_for("cuda"):
        assert _dispatch.pick("csr_matmul") == "pallas"
    assert _dispatch.pick("csr_matmul", platform="cpu") in ("native", "xla")
