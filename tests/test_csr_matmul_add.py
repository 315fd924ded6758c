"""``csr_matmul_add``: ``c + A @ b`` as one primitive (the sharded product's halo step).

On every backend it must give the bits of ``c + csr_matmul(...)`` on that backend: the
native kernel adds each row's rounded sum into ``c``'s buffer (one vector; several
columns are composed); the others compose the two. Checked on padded CSR (garbage past
the last row, an out-of-range column, empty rows), vectors and 3 / 8 / 11 columns,
every value dtype, 1-3 threads; its JVP, transpose and batching rules against the
composition's; and the
sharded product that uses it (halo blocks over every row) against SciPy, on CPU and
lowered for CUDA, where the composition keeps the Pallas product.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, random_scipy

import jaxsparse as js
from jaxsparse.ops import _dispatch
from jaxsparse.ops._csr_matmul_add import CSR_MATMUL_ADD, csr_matmul_add
from jaxsparse.ops._primitives import CSR_KERNELS
from jaxsparse.ops.native import missing_reason

BACKENDS = ["xla"] + (["native"] if missing_reason() is None else [])


def _padded(S: sps.csr_array):
    """``S``'s CSR arrays with 5 garbage slots past the last row (huge values, columns
    in and out of range) and one stored entry whose column is out of range (dropped)."""
    garbage = 1e30 if S.dtype.kind in "fc" else 999_999
    data = np.concatenate([S.data, np.full(5, garbage, S.dtype)])
    indices = np.concatenate([S.indices, [0, 1, S.shape[1], -1, 2]]).astype(np.int32)
    indptr = S.indptr.astype(np.int32)
    if S.nnz:
        indices[S.nnz // 2] = S.shape[1] + 3  # out of range: contributes nothing
    return jnp.asarray(data), jnp.asarray(indices), jnp.asarray(indptr)


def _matrix(dtype, n=37, m=53, seed=1):
    S = random_scipy(n, m, density=0.2, dtype=np.float64, seed=seed).tocsr()
    keep = np.ones(n)
    keep[::4] = 0  # every fourth row empty
    S = sps.csr_array(sps.diags_array(keep) @ S)
    if np.dtype(dtype).kind == "c":
        S = S + 1j * sps.csr_array(S)
    return sps.csr_array(S.astype(dtype))


def _operands(S, dtype, k, seed=0):
    rng = np.random.default_rng(seed)
    shape_b = (S.shape[1],) if k is None else (S.shape[1], k)
    shape_c = (S.shape[0],) if k is None else (S.shape[0], k)
    b, c = rng.uniform(-1, 1, shape_b), rng.uniform(-1, 1, shape_c)
    if np.dtype(dtype).kind == "c":
        b, c = b + 1j * rng.uniform(-1, 1, shape_b), c - 0.5j
    if np.dtype(dtype).kind == "i":
        b, c = np.round(b * 9), np.round(c * 9)
    return jnp.asarray(b.astype(dtype)), jnp.asarray(c.astype(dtype))


def _scipy_without_the_dropped_entry(S):
    T = S.copy()
    if T.nnz:
        T.data[T.nnz // 2] = 0
    return T


def _pair(backend, shape):
    """(fused, composed) on ``backend``, as one jitted function."""
    def both(data, indices, indptr, b, c):
        fused = csr_matmul_add(data, indices, indptr, b, c, shape=shape, backend=backend)
        product = CSR_KERNELS.matmul.bind(data, indices, indptr, b, shape=shape,
                                          transpose=False, backend=backend)
        return fused, c + product

    return jax.jit(both)


CASES = [(np.float64, None), (np.float64, 11), (np.float64, 8), (np.float32, None),
         (np.float32, 3), (np.complex128, None), (np.complex128, 3), (np.int32, None),
         (jnp.bfloat16, None), (jnp.bfloat16, 3)]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize(("dtype", "k"), CASES)
def test_fused_add_gives_the_bits_of_c_plus_the_product(backend, dtype, k):
    S = _matrix(np.float64 if dtype == jnp.bfloat16 else dtype)
    arrays = _padded(S)
    if dtype == jnp.bfloat16:
        arrays = (arrays[0].astype(dtype),) + arrays[1:]
    b, c = _operands(S, dtype, k)
    fused, composed = _pair(backend, S.shape)(*arrays, b, c)
    assert fused.dtype == c.dtype and fused.shape == c.shape
    np.testing.assert_array_equal(np.asarray(fused), np.asarray(composed))
    T = _scipy_without_the_dropped_entry(S)
    want = np.asarray(c, np.float64 if dtype == jnp.bfloat16 else None) + T @ np.asarray(
        b, np.float64 if dtype == jnp.bfloat16 else None)
    # bfloat16: inputs and result rounded to 8 bits (sums of ~10 terms, up to ~6): 0.03
    assert_close(np.asarray(fused, want.dtype), want, np.float32 if dtype == jnp.bfloat16
                 else dtype, scale=3000.0 if dtype == jnp.bfloat16 else 1.0)


@pytest.mark.skipif(missing_reason() is not None,
                    reason=f"native kernels unavailable here: {missing_reason()}")
def test_native_lowering_of_a_vector_is_one_kernel_call_into_cs_buffer():
    S = _matrix(np.float64)
    b, c = _operands(S, np.float64, None)
    f = jax.jit(lambda *a: csr_matmul_add(*a, shape=S.shape, backend="native"))
    text = f.lower(*_padded(S), b, c).compile().as_text()
    assert "jaxsparse_csr_matmul_add" in text
    assert "output_to_operand_aliasing" in text
    xla_text = jax.jit(lambda *a: csr_matmul_add(*a, shape=S.shape, backend="xla")).lower(
        *_padded(S), b, c).as_text()
    assert "jaxsparse_csr_matmul_add" not in xla_text
    B, C = _operands(S, np.float64, 16)  # columns: the product kernel, then an add
    panel_text = f.lower(*_padded(S), B, C).as_text()
    assert "jaxsparse_csr_matmul_add" not in panel_text
    assert "jaxsparse_csr_matmul" in panel_text


@pytest.mark.parametrize("backend", BACKENDS)
def test_c_stays_as_it_was(backend):
    """``c``'s buffer is the output's only where XLA may give it up: a caller's ``c`` (an
    argument, also returned) is left as it was."""
    S = _matrix(np.float64)
    b, c = _operands(S, np.float64, None)
    before = np.asarray(c).copy()
    y, c_again = jax.jit(lambda *a: (csr_matmul_add(*a, shape=S.shape, backend=backend),
                                     a[-1]))(*_padded(S), b, c)
    np.testing.assert_array_equal(np.asarray(c), before)
    np.testing.assert_array_equal(np.asarray(c_again), before)
    assert_close(y, before + _scipy_without_the_dropped_entry(S) @ np.asarray(b))


@pytest.mark.skipif(missing_reason() is not None,
                    reason=f"native kernels unavailable here: {missing_reason()}")
@pytest.mark.parametrize("k", [None, 11])
def test_native_results_do_not_depend_on_the_thread_count(monkeypatch, k):
    S = random_scipy(400, 300, density=0.4, dtype=np.float64, seed=5).tocsr()  # ~48k
    b, c = _operands(S, np.float64, k, seed=3)
    runs = []
    for threads in (1, 2, 3):
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))
        f = jax.jit(lambda *a: csr_matmul_add(*a, shape=S.shape, backend="native"))
        runs.append(np.asarray(f(*_padded(S), b, c)))  # a fresh trace per count
    np.testing.assert_array_equal(runs[0], runs[1])
    np.testing.assert_array_equal(runs[0], runs[2])
    assert_close(runs[0], np.asarray(c) + _scipy_without_the_dropped_entry(S) @ np.asarray(b))


@pytest.mark.parametrize("backend", BACKENDS)
def test_grad_jvp_vmap_equal_the_composition(backend):
    S = _matrix(np.float64)
    data, indices, indptr = _padded(S)
    b, c = _operands(S, np.float64, None, seed=4)

    def loss(fused):
        def f(data, b, c):
            if fused:
                y = csr_matmul_add(data, indices, indptr, b, c, shape=S.shape,
                                   backend=backend)
            else:
                y = c + CSR_KERNELS.matmul.bind(data, indices, indptr, b, shape=S.shape,
                                                transpose=False, backend=backend)
            return jnp.sum(jnp.sin(y) * y)
        return f

    grads = jax.grad(loss(True), (0, 1, 2))(data, b, c)
    wants = jax.grad(loss(False), (0, 1, 2))(data, b, c)
    for got, want in zip(grads, wants, strict=True):
        assert_close(got, want, np.float64)
    tangents = (jnp.ones_like(data), jnp.cos(b), jnp.sin(c))
    assert_close(jax.jvp(loss(True), (data, b, c), tangents)[1],
                 jax.jvp(loss(False), (data, b, c), tangents)[1], np.float64)

    def fused(data, b, c):
        return csr_matmul_add(data, indices, indptr, b, c, shape=S.shape, backend=backend)

    def composed(data, b, c):
        return c + CSR_KERNELS.matmul.bind(data, indices, indptr, b, shape=S.shape,
                                           transpose=False, backend=backend)

    B = jnp.stack([b, 2 * b, -b], axis=1)
    C = jnp.stack([c, c - 1, 3 * c], axis=0)
    datas = jnp.stack([data, 0.5 * data])
    for in_axes, args in [((None, 1, None), (data, B, c)), ((None, None, 0), (data, b, C)),
                          ((None, 1, 0), (data, B, C)), ((0, None, None), (datas, b, c)),
                          ((0, None, 1), (datas, b, C[:2].T))]:
        got = jax.vmap(fused, in_axes=in_axes)(*args)
        want = jax.vmap(composed, in_axes=in_axes)(*args)
        assert got.shape == want.shape, in_axes
        assert_close(got, want, np.float64)


def test_c_of_another_shape_or_dtype_is_refused():
    S = _matrix(np.float64)
    b, c = _operands(S, np.float64, None)
    with pytest.raises(ValueError, match="c must have the product's shape"):
        csr_matmul_add(*_padded(S), b, c[:-1], shape=S.shape)
    with pytest.raises(ValueError, match="c must have the product's shape"):
        csr_matmul_add(*_padded(S), b, c.astype(np.float32), shape=S.shape)


def test_backends_without_a_fused_kernel_compose_their_own_product():
    assert "pallas" not in _dispatch.available("csr_matmul_add")
    S = _matrix(np.float64)
    b, c = _operands(S, np.float64, None)
    fused, composed = _pair("pallas", S.shape)(*_padded(S), b, c)
    np.testing.assert_array_equal(np.asarray(fused), np.asarray(composed))


# -- the sharded product: halo blocks over every row ---------------------------------
def _scattered(n=96, seed=11):
    """Every row reads columns all over: every shard's halo block holds every row."""
    rng = np.random.default_rng(seed)
    rows = np.repeat(np.arange(n), 6)
    cols = rng.integers(0, n, rows.size)
    return sps.csr_array((rng.uniform(-1, 1, rows.size), (rows, cols)), shape=(n, n))


@pytest.fixture(scope="module")
def mesh2():
    return jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])


def test_sharded_product_adds_the_halo_block_in_its_kernel(mesh2):
    S = _scattered()
    As = js.sharding.shard(js.CSR.from_scipy(S), mesh2, axis="x")
    assert As.plan.halo_block_rows == As.plan.rows.block
    x = np.linspace(-1, 1, S.shape[1])
    xs = As.shard_vector(x)
    f = jax.jit(lambda A, v: A @ v)
    assert "csr_matmul_add" in str(jax.make_jaxpr(f)(As, xs))
    assert_close(As.unshard_vector(f(As, xs)), S @ x)
    X = np.stack([x, x ** 2, -x], axis=1)
    assert_close(As.unshard_vector(f(As, As.shard_vector(X))), S @ X)
    with jax.set_mesh(mesh2):
        g = jax.grad(lambda v: jnp.sum(f(As, v) ** 2))(xs)
    assert_close(As.unshard_vector(g, side="cols"), 2 * S.T @ (S @ x))


def test_sharded_band_still_adds_its_few_halo_rows(mesh2):
    n = 96
    S = sps.csr_array(sps.diags_array([np.ones(n - 1), 2 * np.ones(n), np.ones(n - 1)],
                                      offsets=[-1, 0, 1]))
    As = js.sharding.shard(js.CSR.from_scipy(S), mesh2, axis="x", local_format="csr")
    assert As.plan.halo_block_rows < As.plan.rows.block
    x = np.linspace(-1, 1, n)
    f = jax.jit(lambda A, v: A @ v)
    assert "csr_matmul_add" not in str(jax.make_jaxpr(f)(As, As.shard_vector(x)))
    assert_close(As.unshard_vector(f(As, As.shard_vector(x))), S @ x)


def test_sharded_product_lowered_for_cuda_keeps_the_pallas_product(mesh2):
    S = _scattered()
    As = js.sharding.shard(js.CSR.from_scipy(S), mesh2, axis="x")
    xs = As.shard_vector(np.ones(S.shape[1]))
    traced = jax.jit(lambda A, v: A @ v).trace(As, xs)
    cuda = traced.lower(lowering_platforms=("cuda",)).as_text()
    assert "__gpu$xla.gpu.triton" in cuda and "jaxsparse_csr_matmul_add" not in cuda
    if missing_reason() is None:
        assert "jaxsparse_csr_matmul_add" in traced.lower().as_text()
    assert CSR_MATMUL_ADD.name == "csr_matmul_add"
