"""The backend dispatch point: new backends plug in without touching callers."""

from __future__ import annotations

import dataclasses

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
    # csr_matmul itself: without the offsets, whose primitive test_diagonal_offsets tests
    A = dataclasses.replace(js.CSR.from_scipy(S), diagonal_offsets=None)
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


def test_dia_products_pick_the_native_kernel_on_cpu():
    """DIA products over vectors, columns and transposed all run the native kernel on CPU
    (dia_matmul.cc measured faster than XLA's fused loop on each), in the compiled
    program as well."""
    if "native" not in _dispatch.available("dia_matmul"):
        pytest.skip("the native library is not built here; test_native checks the build")
    vector = jax.ShapeDtypeStruct((50,), np.float32)
    columns = jax.ShapeDtypeStruct((50, 16), np.float32)
    data = jax.ShapeDtypeStruct((3, 50), np.float32)
    for b in (vector, columns):
        for transpose in (False, True):
            assert _dispatch.pick("dia_matmul", operands=(data, None, b), platform="cpu",
                                  params={"transpose": transpose}) == "native"
    A = js.DIA.from_scipy(sps.diags_array([np.ones(49), 2 * np.ones(50)], offsets=[-1, 0]))
    for b in (jnp.ones(50), jnp.ones((50, 16))):
        assert "jaxsparse_dia_matmul" in jax.jit(lambda A, b: A @ b).lower(A, b).as_text()
    # x's gradient is the transposed product: both products native.
    grad = jax.jit(jax.value_and_grad(lambda x, A: jnp.sum(A @ x)))
    assert grad.lower(jnp.ones(50), A).as_text().count("jaxsparse_dia_matmul") == 2


def test_a_per_op_preference_sees_the_operands_and_params(monkeypatch):
    """The seam for a measured per-op exception (``_dispatch._OP_PREFERENCE``): a function
    of the operands' avals and the op's params, consulted when a primitive is lowered
    with ``backend=None``; here XLA for vectors, native otherwise."""
    if "native" not in _dispatch.available("dia_matmul"):
        pytest.skip("the native library is not built here; test_native checks the build")
    seen = []

    def vectors_to_xla(operands, params):
        seen.append((operands[-1].shape, params.get("transpose")))
        return ("xla", "native") if len(operands[-1].shape) == 1 else ("native", "xla")

    monkeypatch.setitem(_dispatch._OP_PREFERENCE, ("dia_matmul", "cpu"), vectors_to_xla)
    A = js.DIA.from_scipy(sps.diags_array([np.ones(49), 2 * np.ones(50)], offsets=[-1, 0]))
    product = jax.jit(lambda A, b: A @ b)
    assert "jaxsparse_dia_matmul" not in product.lower(A, jnp.ones(50)).as_text()
    assert "jaxsparse_dia_matmul" in product.lower(A, jnp.ones((50, 16))).as_text()
    assert seen == [((50,), False), ((50, 16), False)]
