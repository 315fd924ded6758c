"""The backend dispatch point: new backends plug in without touching callers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close, random_scipy

import jaxsparse as js
from jaxsparse.ops import _dispatch, _reference


@pytest.fixture
def native_matmul():
    """Register a stand-in "native" csr_matmul that records its calls."""
    calls = []

    def kernel(data, indices, indptr, b, *, shape, transpose):
        calls.append(transpose)
        return _reference._csr_matmul(data, indices, indptr, b, shape=shape,
                                      transpose=transpose)

    real = _dispatch._IMPLS.get(("csr_matmul", "native"))  # the built kernel, if any
    _dispatch.register("csr_matmul", "native")(kernel)
    yield calls
    if real is None:
        del _dispatch._IMPLS[("csr_matmul", "native")]
    else:
        _dispatch._IMPLS[("csr_matmul", "native")] = real


def test_registered_backend_is_used_and_keeps_autodiff(native_matmul):
    S = random_scipy(6, 5, seed=1)
    A = js.CSR.from_scipy(S)
    x = np.arange(5.0)
    assert_close(js.ops.spmv(A, x, backend="native"), S @ x, np.float64)
    assert native_matmul == [False]
    # grad w.r.t. x runs the transposed product through the same backend.
    g = jax.grad(lambda x: jnp.sum(js.ops.spmv(A, x, backend="native")))(x)
    assert_close(g, S.T @ np.ones(6), np.float64)
    assert True in native_matmul


def test_default_backend_prefers_registered_native_on_cpu(native_matmul):
    assert _dispatch.pick("csr_matmul") == "native"
    assert _dispatch.pick("bsr_matmul") == "xla"  # falls back where none is registered


def test_unknown_or_missing_backend_raises():
    with pytest.raises(ValueError, match="backend must be one of"):
        _dispatch.pick("csr_matmul", "cuda")
    with pytest.raises(ValueError, match="has no kernel for coo_matmul"):
        _dispatch.pick("coo_matmul", "pallas")
    with pytest.raises(ValueError, match="backend must be one of"):
        _dispatch.register("csr_matmul", "triton")


def test_dia_prefers_the_fused_xla_kernel_on_cpu_for_untransposed_vectors_only():
    """A measured per-op exception: XLA's fused shifted-slice DIA loop beats native on a
    vector; the native kernel wins over several columns, and for ``A.T @ x``."""
    vector = jax.ShapeDtypeStruct((50,), np.float32)
    columns = jax.ShapeDtypeStruct((50, 16), np.float32)
    one_column = jax.ShapeDtypeStruct((50, 1), np.float32)
    data = jax.ShapeDtypeStruct((3, 50), np.float32)
    assert _dispatch.pick("dia_matmul") == "xla"
    assert _dispatch.pick("dia_matmul", operands=(data, None, vector), platform="cpu") == "xla"
    assert _dispatch.pick("dia_matmul", operands=(data, None, one_column),
                          platform="cpu") == "xla"
    native = "native" in _dispatch.available("dia_matmul")
    assert _dispatch.pick("dia_matmul", operands=(data, None, columns), platform="cpu") == (
        "native" if native else "xla")
    assert _dispatch.pick("dia_matmul", operands=(data, None, vector), platform="cpu",
                          params={"transpose": True}) == ("native" if native else "xla")
    assert _dispatch.pick("dia_matmul", operands=(data, None, vector), platform="cpu",
                          params={"transpose": False}) == "xla"
    assert _dispatch.pick("dia_matmul", "native") == "native" or not native
    if native:  # and the compiled program calls the kernel that was picked
        A = js.DIA.from_scipy(sps.diags_array([np.ones(49), 2 * np.ones(50)], offsets=[-1, 0]))
        hlo = jax.jit(lambda A, X: A @ X).lower(A, jnp.ones((50, 16))).as_text()
        assert "jaxsparse_dia_matmul" in hlo
        hlo = jax.jit(lambda A, x: A @ x).lower(A, jnp.ones(50)).as_text()
        assert "jaxsparse_dia_matmul" not in hlo
        # x's gradient is the transposed product: native; the forward product stays XLA's.
        grad = jax.jit(jax.value_and_grad(lambda x, A: jnp.sum(A @ x)))
        hlo = grad.lower(jnp.ones(50), A).as_text()
        assert hlo.count("jaxsparse_dia_matmul") == 1
