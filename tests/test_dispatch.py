"""The backend dispatch point: new backends plug in without touching callers."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
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


def test_dia_prefers_the_fused_xla_kernel_on_cpu():
    """A measured per-op exception: XLA's fused shifted-slice DIA loop beats native."""
    assert _dispatch.pick("dia_matmul") == "xla"
    assert _dispatch.pick("dia_matmul", "native") == "native" or (
        "native" not in _dispatch.available("dia_matmul"))
