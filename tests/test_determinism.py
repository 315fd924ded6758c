"""Reproducibility: the same inputs on the same device and thread counts give bitwise
identical results run to run, for products and for whole solver runs (sharded too);
across device and thread counts they agree to 1e-12 relative (float64). README,
"Reproducible", states the same."""

from __future__ import annotations

import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from jax.sharding import AxisType

import jaxsparse as js
import jaxsparse.scipy_compat as sp

RTOL = 1e-12


def _random(n=300, seed=0):
    rng = np.random.default_rng(seed)
    S = sps.random_array((n, n), density=0.03, format="csr", rng=rng)
    S.data = rng.standard_normal(S.nnz)
    return S


def _spd(k=20):
    t = sps.diags_array([-1.0, 2.5, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return (sps.kron(t, sps.eye_array(k)) + sps.kron(sps.eye_array(k), t)).tocsr()


def _mesh(d):
    return jax.make_mesh((d,), ("x",), axis_types=(AxisType.Explicit,), devices=jax.devices()[:d])


def _twice(fn):
    """Two runs of ``fn`` from the same inputs, as NumPy arrays (the second after the
    first finished: no overlap)."""
    first = jax.tree.map(np.asarray, jax.block_until_ready(fn()))
    second = jax.tree.map(np.asarray, jax.block_until_ready(fn()))
    return first, second


def _bitwise(a, b):
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        assert x.dtype == y.dtype and x.shape == y.shape
        assert np.array_equal(np.atleast_1d(x).view(np.uint8), np.atleast_1d(y).view(np.uint8)), (
            "not bitwise identical")


@pytest.mark.parametrize("op", ["spmv", "spmv_T", "spmm", "spmm_T", "sddmm"])
def test_products_are_bitwise_reproducible(op):
    S = _random()
    A = js.CSR.from_scipy(S)
    rng = np.random.default_rng(1)
    x, B = jnp.asarray(rng.standard_normal(300)), jnp.asarray(rng.standard_normal((300, 4)))
    fn = {"spmv": lambda: js.ops.spmv(A, x), "spmv_T": lambda: js.ops.spmv(A, x, transpose=True),
          "spmm": lambda: js.ops.spmm(A, B), "spmm_T": lambda: js.ops.spmm(A, B, transpose=True),
          "sddmm": lambda: js.ops.sddmm(A, B, B.T).data}[op]
    _bitwise(*_twice(jax.jit(fn)))


@pytest.mark.parametrize("solver", ["cg", "bicgstab", "gmres"])
def test_whole_solver_runs_are_bitwise_reproducible(solver):
    S = _spd()
    A = js.CSR.from_scipy(S)
    b = jnp.asarray(np.random.default_rng(2).standard_normal(S.shape[0]))
    solve = getattr(js.linalg, solver)
    _bitwise(*_twice(lambda: solve(A, b, rtol=1e-10)))


@pytest.mark.parametrize("devices", [2, 4])
def test_sharded_runs_are_bitwise_reproducible_and_match_one_device(devices):
    S = _spd()
    b = np.random.default_rng(3).standard_normal(S.shape[0])
    mesh = _mesh(devices)
    As = js.sharding.shard(S, mesh, "x")
    bs = As.shard_vector(b)
    with jax.set_mesh(mesh):
        product = jax.jit(lambda A, v: A @ v)
        solve = jax.jit(lambda A, v: js.linalg.cg(A, v, rtol=1e-12))
        _bitwise(*_twice(lambda: product(As, bs)))
        (x1, i1), (x2, i2) = _twice(lambda: solve(As, bs))
        _bitwise((x1, i1), (x2, i2))
        y = As.unshard_vector(product(As, bs))
        x = As.unshard_vector(jnp.asarray(x1))
    A1 = js.CSR.from_scipy(S)
    y1 = js.ops.spmv(A1, jnp.asarray(b))
    x_one, _ = js.linalg.cg(A1, jnp.asarray(b), rtol=1e-12)
    np.testing.assert_allclose(y, y1, rtol=RTOL, atol=RTOL * np.abs(y1).max())
    np.testing.assert_allclose(x, x_one, rtol=1e-9)  # a solve amplifies rounding by cond(A)


def test_drop_in_products_and_solves_are_bitwise_reproducible():
    S = _spd()
    A = sp.csr_array(S)
    b = np.random.default_rng(4).standard_normal(S.shape[0])
    _bitwise(*_twice(lambda: A @ jnp.asarray(b)))
    _bitwise(*_twice(lambda: sp.linalg.cg(A, jnp.asarray(b), rtol=1e-10)))


_THREADS_SCRIPT = """
import jax; jax.config.update("jax_enable_x64", True)
import numpy as np, scipy.sparse as sps, jaxsparse as js, sys
rng = np.random.default_rng(0)
S = sps.random_array((4000, 4000), density=0.004, format="csr", rng=rng)
A = js.CSR.from_scipy(S)
x = rng.standard_normal(4000)
y = np.asarray(js.ops.spmv(A, x)); z = np.asarray(js.ops.spmv(A, x, transpose=True))
sys.stdout.write(y.tobytes().hex()[:64] + " " + z.tobytes().hex()[:64] + " "
                 + str(float(np.abs(y).sum())) + " " + str(float(np.abs(z).sum())))
"""


def test_native_results_do_not_depend_on_the_thread_count():
    """Each thread count in its own process (the count is read when a product is
    traced): the printed result bytes are identical."""
    outs = []
    for threads in ("1", "2", "3"):
        env = {"JAX_PLATFORMS": "cpu", "JAXSPARSE_NUM_THREADS": threads, "PATH": "/usr/bin"}
        r = subprocess.run([sys.executable, "-c", _THREADS_SCRIPT], capture_output=True,
                           text=True, timeout=120, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        outs.append(r.stdout)
    assert outs[0] == outs[1] == outs[2]
