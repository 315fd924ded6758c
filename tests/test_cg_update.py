"""``cg_update``, the vector update of a CG step (``x + alpha p, r - alpha q, |r'|^2``):
its native kernel against the ``jnp`` reference, its transformations, and where ``cg``
uses which."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps

import jaxsparse as js
from jaxsparse.linalg import _cg
from jaxsparse.ops import _cg_update
from jaxsparse.ops._cg_update import cg_update
from jaxsparse.ops.native import missing_reason

native = pytest.mark.skipif(
    missing_reason() is not None,
    reason=f"native kernels unavailable here: {missing_reason()} (CI requires them)",
)

CHUNK = 1 << 14  # the kernel's fixed summation chunk (csrc/cg_update.cc)
DTYPES = [np.float32, np.float64, np.complex64, np.complex128]


def _vectors(n, dtype, seed=0):
    rng = np.random.default_rng(seed)

    def one():
        v = rng.standard_normal(n)
        if np.dtype(dtype).kind == "c":
            v = v + 1j * rng.standard_normal(n)
        return jnp.asarray(v.astype(dtype))

    return [one() for _ in range(4)], jnp.asarray(np.asarray(0.37 - 0.2j).astype(dtype)
                                                  if np.dtype(dtype).kind == "c"
                                                  else np.asarray(0.37, dtype))


def _run(backend, vectors, alpha):
    return jax.jit(lambda *v: cg_update(*v, backend=backend))(*vectors, alpha)


@native
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, CHUNK - 1, CHUNK + 3, 3 * CHUNK + 11])
def test_native_matches_the_reference(dtype, n):
    vectors, alpha = _vectors(n, dtype)
    want = _run("xla", vectors, alpha)
    got = _run("native", vectors, alpha)
    eps = np.finfo(dtype).eps
    for g, w in zip(got[:2], want[:2], strict=True):
        assert g.dtype == w.dtype and g.shape == w.shape
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=4 * eps, atol=4 * eps)
    assert got[2].dtype == want[2].dtype == np.finfo(dtype).dtype and got[2].shape == ()
    np.testing.assert_allclose(float(got[2]), float(want[2]), rtol=(n + 16) * eps)
    # and against NumPy in float64/complex128
    x, r, p, q = (np.asarray(v).astype(np.complex128) for v in vectors)
    a = complex(alpha)
    np.testing.assert_allclose(float(got[2]), np.sum(np.abs(r - a * q) ** 2),
                               rtol=(n + 16) * eps)


@native
def test_inputs_survive_an_eager_call():
    """The kernel writes x and r in place when XLA may; an eager call must still leave
    the caller's arrays as they were."""
    vectors, alpha = _vectors(CHUNK + 5, np.float64)
    before = [np.asarray(v).copy() for v in vectors]
    cg_update(*vectors, alpha, backend="native")
    for v, b in zip(vectors, before, strict=True):
        np.testing.assert_array_equal(np.asarray(v), b)


@native
@pytest.mark.parametrize("dtype", [np.float32, np.complex128])
def test_results_do_not_depend_on_the_thread_count(monkeypatch, dtype):
    vectors, alpha = _vectors(5 * CHUNK + 3, dtype, seed=2)
    out = []
    for threads in (1, 2, 3):
        monkeypatch.setenv("JAXSPARSE_NUM_THREADS", str(threads))  # read when traced
        out.append([np.asarray(v) for v in _run("native", vectors, alpha)])
    for other in out[1:]:
        for a, b in zip(out[0], other, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("backend", [None, "xla"])
def test_jvp_and_vmap_equal_the_reference(backend):
    vectors, alpha = _vectors(40, np.float64, seed=3)
    tangents, _ = _vectors(40, np.float64, seed=4)
    dalpha = jnp.asarray(0.5)
    got = jax.jvp(lambda *a: cg_update(*a, backend=backend), (*vectors, alpha),
                  (*tangents, dalpha))
    want = jax.jvp(_cg_update.reference, (*vectors, alpha), (*tangents, dalpha))
    for g, w in zip(jax.tree.leaves(got), jax.tree.leaves(want), strict=True):
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-13, atol=1e-13)
    stacked = [jnp.stack([v, 2 * v]) for v in vectors]
    alphas = jnp.asarray([0.37, -1.5])
    got = jax.vmap(lambda *a: cg_update(*a, backend=backend))(*stacked, alphas)
    for k in range(2):
        want = _cg_update.reference(*(s[k] for s in stacked), alphas[k])
        for g, w in zip(got, want, strict=True):
            np.testing.assert_allclose(np.asarray(g[k]), np.asarray(w), rtol=1e-13)


def test_dtypes_without_a_kernel_use_the_reference():
    vectors, _ = _vectors(100, np.float32)
    vectors = [v.astype(jnp.float16) for v in vectors]
    alpha = jnp.asarray(0.5, jnp.float16)
    got = cg_update(*vectors, alpha)
    want = _cg_update.reference(*vectors, alpha)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(np.asarray(g), np.asarray(w))


def _poisson(n):
    return sps.diags_array([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)],
                           offsets=[-1, 0, 1], format="csr")


def _targets(fn, *args) -> str:
    return jax.jit(fn).lower(*args).as_text()


@native
def test_cg_runs_the_native_update_on_one_device_and_the_jnp_one_when_sharded():
    S = _poisson(64)
    b = jnp.asarray(np.linspace(1.0, 2.0, 64))
    A = js.CSR.from_scipy(S)
    one = _targets(lambda A, b: js.linalg.cg(A, b, rtol=1e-12), A, b)
    assert "jaxsparse_cg_update" in one
    x, info = js.linalg.cg(A, b, rtol=1e-12)
    assert int(info) == 0
    np.testing.assert_allclose(S @ np.asarray(x), np.asarray(b), rtol=1e-10)

    mesh = jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])
    As = js.sharding.shard(S, mesh, "x")
    assert _cg._update_backend(As, b) == "xla"
    spread = jax.device_put(
        b, jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x")))
    assert _cg._update_backend(A, spread) == "xla"
    assert _cg._update_backend(A, b) is None
    xs, info = js.linalg.cg(As, b, rtol=1e-12)
    assert int(info) == 0
    np.testing.assert_allclose(np.asarray(xs), np.asarray(x), rtol=1e-9)
