"""Run under the launcher: a 2-D Poisson matrix assembled from each process's own rows
(an unbalanced split: process 0 holds 90% of them), and the same matrix through
``shard`` with the whole matrix on every process; SpMV and CG checked against SciPy on
every rank (one OK line per check)."""

import jaxsparse as js

js.distributed.initialize()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402

jax.config.update("jax_enable_x64", True)
k = 30
T = sps.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1])
S = (sps.kron(T, sps.eye_array(k)) + sps.kron(sps.eye_array(k), T)).tocsr()
n = S.shape[0]
P, rank = jax.process_count(), jax.process_index()
cut = int(0.9 * n)  # process 0: rows [0, cut); the rest share what is left
bounds = [0, cut, *(cut + (n - cut) * (p + 1) // (P - 1) for p in range(P - 1))]
mine = S[bounds[rank]:bounds[rank + 1]]  # only this process's rows are built
mesh = jax.make_mesh((jax.device_count(),), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
x = np.linspace(-1.0, 1.0, n)
for how in ("local_rows", "whole"):
    if how == "local_rows":
        As = js.sharding.from_local_rows(mine, row_start=bounds[rank], shape=S.shape,
                                         mesh=mesh, axis="x")
    else:
        As = js.sharding.shard(S, mesh, "x")
    assert As.plan.nnz_imbalance <= 1.10, As.plan.nnz_imbalance
    # each process passes only its own piece of x
    xs = As.shard_vector(x[bounds[rank]:bounds[rank + 1]], start=bounds[rank])
    y = js.distributed.gather(As.unshard_vector(As @ xs))
    assert np.allclose(y, S @ x, rtol=1e-12), f"{how}: SpMV differs from SciPy"
    xs, info = js.linalg.cg(As, As.shard_vector(x), rtol=1e-10)
    sol = js.distributed.gather(As.unshard_vector(xs))
    assert int(info) == 0 and np.allclose(S @ sol, x, atol=1e-8), f"{how}: CG did not solve"
    print(f"OK {how} imbalance {As.plan.nnz_imbalance:.3f} layout {As.plan.local_format}")
