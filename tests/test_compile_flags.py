"""The test process compiles without LLVM's expensive passes (``conftest.py``): a speed
setting that must not change results, or the suite would check numbers users never get.
Representative ops are computed here and in a fresh process with the default flags, and
must agree bit for bit."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Fused multiply-adds, reductions, transcendental functions, a matrix product, a segment
# sum and the sparse products (xla and native backends): the ops whose bits depend on
# code generation (contraction, vectorised reductions, inlined math).
_OPS = """
import sys
import jax, jax.numpy as jnp, numpy as np, scipy.sparse as sps
jax.config.update("jax_enable_x64", True)
import jaxsparse as js
rng = np.random.default_rng(0)
a, b, c = (jnp.asarray(rng.standard_normal(4099)) for _ in range(3))
M = jnp.asarray(rng.standard_normal((64, 64)))
S = sps.random_array((500, 400), density=0.02, rng=1, format="csr")
A, x = js.CSR.from_scipy(S), jnp.asarray(rng.standard_normal(400))
out = {
    "fma": jax.jit(lambda a, b, c: a * b + c)(a, b, c),
    "sum": jax.jit(jnp.sum)(a), "sum32": jax.jit(jnp.sum)(a.astype(jnp.float32)),
    "dot": jax.jit(jnp.dot)(a, b), "matmul": jax.jit(jnp.matmul)(M, M),
    "exp": jax.jit(jnp.exp)(a), "log": jax.jit(lambda a: jnp.log(jnp.abs(a)))(a),
    "sin": jax.jit(jnp.sin)(a), "tanh": jax.jit(jnp.tanh)(a),
    "pow": jax.jit(lambda a: jnp.abs(a) ** 0.3)(a),
    "segment": jax.jit(lambda a: jax.ops.segment_sum(a, jnp.arange(a.size) % 97, 97))(a),
    "spmv_xla": js.ops.spmv(A, x, backend="xla"),
    "spmv_T_xla": js.ops.spmv(A, jnp.asarray(rng.standard_normal(500)), transpose=True,
                              backend="xla"),
    "cg": js.linalg.cg(js.CSR.from_scipy(sps.diags_array([-1.0, 2.5, -1.0], offsets=[-1, 0, 1],
                                                        shape=(300, 300), format="csr")),
                       jnp.ones(300), rtol=1e-12)[0],
}
np.savez(sys.argv[1], **{k: np.asarray(v) for k, v in out.items()})
"""


def test_the_test_processes_compile_flags_change_no_bits(tmp_path):
    here, there = tmp_path / "here.npz", tmp_path / "default.npz"
    env = {k: v for k, v in os.environ.items() if k != "XLA_FLAGS"}
    result = subprocess.run([sys.executable, "-c", _OPS, str(there)], capture_output=True,
                            text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    saved = sys.argv
    try:
        sys.argv = ["ops", str(here)]
        exec(compile(_OPS, "ops", "exec"), {"__name__": "ops"})
    finally:
        sys.argv = saved
    mine, theirs = np.load(here), np.load(there)
    assert sorted(mine.files) == sorted(theirs.files)
    for name in mine.files:
        np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
