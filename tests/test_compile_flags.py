"""The test process compiles with speed settings (``conftest.py``: no LLVM expensive
passes, XLA:CPU's older elemental emitters in place of its fusion emitters) that must
not change results, or the suite would check numbers users never get. Representative
ops in every dtype are computed here and in a fresh process with the default flags, and
must agree bit for bit, but for the two float16 functions named below."""

from __future__ import annotations

import os
import pathlib
import subprocess
import sys

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]

# Fused multiply-adds, reductions, scans, transcendental functions, a matrix product,
# gathers, scatters and a segment sum in every floating dtype (one program per dtype,
# so the default process's compiles stay few), then the sparse products (xla and native
# backends) and two solves: the ops whose bits depend on code generation (contraction,
# vectorised reductions, inlined math). Saved as raw bytes: NumPy cannot store bfloat16.
_OPS = """
import sys
import jax, jax.numpy as jnp, numpy as np, scipy.sparse as sps
jax.config.update("jax_enable_x64", True)
import jaxsparse as js
rng = np.random.default_rng(0)
a, b, c = (rng.standard_normal(4099) for _ in range(3))
M = rng.standard_normal((64, 64))
S = sps.random_array((500, 400), density=0.02, rng=1, format="csr")
A, x = js.CSR.from_scipy(S), jnp.asarray(rng.standard_normal(400))

def every_op(a, b, c, M):
    pos = jnp.abs(a)
    out = {
        "fma": a * b + c, "sum": jnp.sum(a), "cumsum": jnp.cumsum(a), "dot": jnp.dot(a, b),
        "matmul": M @ M, "div": a / b, "norm": jnp.linalg.norm(a),
        "exp": jnp.exp(a), "expm1": jnp.expm1(a), "log": jnp.log(pos),
        "log1p": jnp.log1p(pos), "sqrt": jnp.sqrt(pos), "rsqrt": jax.lax.rsqrt(pos + 1),
        "pow": pos ** 0.3, "sin": jnp.sin(a), "cos": jnp.cos(a), "tanh": jnp.tanh(a),
        "segment": jax.ops.segment_sum(a, jnp.arange(a.size) % 97, 97),
        "scatter": a.at[jnp.arange(a.size) % 1000].add(b),
        "gather": a[(jnp.arange(a.size) * 7) % a.size] * 2,
    }
    if not jnp.iscomplexobj(a):
        out.update(erf=jax.scipy.special.erf(a), sigmoid=jax.nn.sigmoid(a),
                   atan2=jnp.arctan2(a, b), max=jnp.max(a), sort=jnp.sort(a),
                   softmax=jax.nn.softmax(a), lgamma=jax.lax.lgamma(pos + 0.5))
    return out

out = {}
for dt in ("float64", "float32", "complex128", "complex64", "bfloat16", "float16"):
    args = [jnp.asarray(v, dt) for v in (a, b, c, M)]
    if dt.startswith("complex"):
        args[0] = args[0] + 1j * args[1]
    out.update({f"{k} {dt}": v for k, v in jax.jit(every_op)(*args).items()})
out.update({
    "spmv_xla": js.ops.spmv(A, x, backend="xla"),
    "spmv_T_xla": js.ops.spmv(A, jnp.asarray(rng.standard_normal(500)), transpose=True,
                              backend="xla"),
    "spmv_native": js.ops.spmv(A, x),
    "cg": js.linalg.cg(js.CSR.from_scipy(sps.diags_array([-1.0, 2.5, -1.0], offsets=[-1, 0, 1],
                                                        shape=(300, 300), format="csr")),
                       jnp.ones(300), rtol=1e-12)[0],
    "gmres": js.linalg.gmres(js.CSR.from_scipy(S[:400] + sps.eye_array(400)), x,
                             rtol=1e-12)[0],
})
np.savez(sys.argv[1], **{k: np.frombuffer(np.asarray(v).tobytes(), np.uint8)
                         for k, v in out.items()})
"""

# The elemental emitters round these two float16 functions differently from the fusion
# emitters (jaxlib 0.10.2): 1085 of 4099 log1p values differ, by at most 2 units in the
# last place, and 1345 rsqrt values by 1. Every other result above, float16 and bfloat16
# included, is bit-identical.
_ULPS = {"log1p float16": 2, "rsqrt float16": 1}


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
    assert len(mine.files) > 150  # every dtype's ops were saved
    for name in mine.files:
        if name in _ULPS:
            ulps = np.abs(mine[name].view(np.int16).astype(np.int32)
                          - theirs[name].view(np.int16).astype(np.int32))
            assert ulps.max() <= _ULPS[name], name
        else:
            np.testing.assert_array_equal(mine[name], theirs[name], err_msg=name)
