"""Run under the launcher: a sharded SpMV and CG over every process's devices, checked
against SciPy on every rank (prints one OK line per check)."""

import jaxsparse as js

assert js.distributed.initialize()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402

jax.config.update("jax_enable_x64", True)
k = 12
T = sps.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1])
S = (sps.kron(T, sps.eye_array(k)) + sps.kron(sps.eye_array(k), T)).tocsr()
n = S.shape[0]
mesh = jax.make_mesh((jax.device_count(),), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
As = js.sharding.shard(S, mesh, "x")
x = np.linspace(-1.0, 1.0, n)
y = js.distributed.gather(As.unshard_vector(As @ As.shard_vector(x)))
assert np.allclose(y, S @ x, rtol=1e-12), "SpMV differs from SciPy"
# unshard_vector's result is replicated on every device: NumPy reads it on any process
assert np.allclose(np.asarray(As.unshard_vector(As @ As.shard_vector(x))), S @ x)
print(f"OK spmv process {jax.process_index()} of {jax.process_count()}, "
      f"{jax.device_count()} devices")
yt = js.distributed.gather(As.unshard_vector(As.T @ As.shard_vector(x, "rows"), "cols"))
assert np.allclose(yt, S.T @ x, rtol=1e-12), "A.T @ y differs from SciPy"
X = np.stack([x, x**2, np.ones(n)], axis=1)
Y = js.distributed.gather(As.unshard_vector(As @ As.shard_vector(X)))
assert np.allclose(Y, S @ X, rtol=1e-12), "SpMM differs from SciPy"
B, C = X, X.T  # SDDMM: S * (B @ C) on S's pattern
vals = js.sharding.sddmm(As, B, C)
dense = js.distributed.gather(As.unshard_vector(vals @ As.shard_vector(np.ones(n))))
assert np.allclose(dense, S.multiply(B @ C) @ np.ones(n), rtol=1e-10), "SDDMM differs"
print("OK transpose spmm sddmm")
R = sps.random_array((n, n), density=0.3, rng=np.random.default_rng(5), format="csr")
for method in ("ppermute", "all_to_all", "all_gather"):  # scattered reads, every exchange
    Ar = js.sharding.shard(R, mesh, "x", halo=method)
    y = js.distributed.gather(Ar.unshard_vector(Ar @ Ar.shard_vector(x)))
    yt = js.distributed.gather(Ar.unshard_vector(Ar.T @ Ar.shard_vector(x, "rows"), "cols"))
    assert np.allclose(y, R @ x) and np.allclose(yt, R.T @ x), f"halo={method} differs"
print("OK every halo method")
for solver in ("gmres", "bicgstab"):
    xs, info = getattr(js.linalg, solver)(As, As.shard_vector(x), rtol=1e-10)
    sol = js.distributed.gather(As.unshard_vector(xs))
    assert int(info) == 0 and np.allclose(S @ sol, x, atol=1e-7), f"{solver} did not solve"
print("OK gmres bicgstab")
xs, info = js.linalg.cg(As, As.shard_vector(x), rtol=1e-10)
sol = js.distributed.gather(As.unshard_vector(xs))
assert int(info) == 0 and np.allclose(S @ sol, x, atol=1e-8), "CG did not solve"
print("OK cg")
# (in a multi-process run a sharded matrix is a jit argument: it cannot be closed over)
g = jax.jit(jax.grad(lambda v, A: jax.numpy.sum((A @ v) ** 2)))(As.shard_vector(x), As)
assert np.allclose(js.distributed.gather(As.unshard_vector(g)), 2 * S.T @ (S @ x))
gb = jax.jit(jax.grad(lambda b, A: jax.numpy.sum(js.linalg.cg(A, b, rtol=1e-12)[0])))(
    As.shard_vector(x), As)  # through the solver: A^-T 1
want = np.linalg.solve(S.toarray().T, np.ones(n))
assert np.allclose(js.distributed.gather(As.unshard_vector(gb)), want, rtol=1e-6)
print("OK grad")
js.distributed.print_once("OK once")
