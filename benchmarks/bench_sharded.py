"""Sharded SpMV: per-device memory, halo traffic and time on 1/2/4 simulated devices.

    python benchmarks/bench_sharded.py            # n ~ 2e5
    python benchmarks/bench_sharded.py --quick    # a tiny run

Columns:
- ``bytes/dev``: bytes of the sharded matrix on each device (values + indices + indptr
  of the owned and halo blocks, padded to the common capacity), and ``ratio`` = that over
  ``1/D`` of the same matrix as one single-device CSR (values + indices + indptr, the
  same dtypes): the cost of sharding, goal <= 1.15 (halo buffers are reported apart);
- ``halo B/spmv``: bytes each device receives per SpMV (padding included);
- times: median of jitted ``As @ xs`` (after a warm-up) and SciPy's ``S @ x`` in the
  same run. Simulated CPU devices share 2 cores here, so the times show overhead, not
  speed-up; on real devices the same program runs unchanged.
"""

from __future__ import annotations

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402

import jaxsparse.sharding as jsh  # noqa: E402


def banded(n, rng):
    return sps.diags_array(
        [np.full(n - abs(k), 1.0) for k in range(-3, 4)], offsets=range(-3, 4), format="csr"
    )


def poisson2d(n, rng):
    k = max(2, round(n**0.5))
    t = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return sps.csr_array(sps.kronsum(t, t))


def random_uniform(n, rng):
    return sps.random_array((n, n), density=min(1.0, 8 / n), format="csr", rng=rng)


def power_law(n, rng):
    deg = np.minimum(n, (rng.pareto(1.5, n) + 1).astype(int) * 2)
    rows = np.repeat(np.arange(n), deg)
    S = sps.csr_array((np.ones(rows.size), (rows, rng.integers(0, n, rows.size))), shape=(n, n))
    S.sum_duplicates()
    return S


MATRICES = {
    "banded": banded,
    "poisson2d": poisson2d,
    "random": random_uniform,
    "power_law": power_law,
}


def _median_ms(fn, repeats):
    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def device_bytes(As) -> int:
    per = 0
    for name in (
        "own_data",
        "own_indices",
        "own_indptr",
        "halo_data",
        "halo_indices",
        "halo_indptr",
    ):
        leaf = getattr(As, name)
        per += leaf.dtype.itemsize * int(np.prod(leaf.shape[1:]))
    return per


def run(n, repeats, devices):
    rng = np.random.default_rng(0)
    rows = []
    for name, build in MATRICES.items():
        S = build(n, rng).astype(np.float32)
        x = rng.standard_normal(S.shape[1]).astype(np.float32)
        scipy_ms = _median_ms(lambda S=S, x=x: S @ x, repeats)
        for D in devices:
            mesh = jax.make_mesh((D,), ("x",), devices=jax.devices()[:D])
            As = jsh.shard(S, mesh, "x")
            xs = As.shard_vector(x)
            f = jax.jit(lambda A, v: A @ v)
            got = np.asarray(As.unshard_vector(f(As, xs)))
            np.testing.assert_allclose(got, S @ x, rtol=1e-4, atol=1e-4)
            ms = _median_ms(lambda As=As, xs=xs, f=f: f(As, xs), repeats)
            per_entry = As.own_data.dtype.itemsize + As.own_indices.dtype.itemsize
            ideal = (S.nnz * per_entry + (S.shape[0] + 1) * As.own_indices.dtype.itemsize) / D
            nbytes = device_bytes(As)
            halo = As.plan.halo_volume * As.own_data.dtype.itemsize
            rows.append(
                (
                    name,
                    S.shape[0],
                    S.nnz,
                    D,
                    As.plan.halo.method,
                    f"{As.plan.nnz_imbalance:.3f}",
                    nbytes,
                    f"{nbytes / ideal:.3f}",
                    halo,
                    f"{ms:.3f}",
                    f"{scipy_ms:.3f}",
                    f"{ms / scipy_ms:.2f}",
                )
            )
    return rows


COLUMNS = (
    "matrix",
    "n",
    "nnz",
    "D",
    "halo",
    "imbalance",
    "bytes/dev",
    "ratio",
    "halo B/spmv",
    "sharded ms",
    "scipy ms",
    "sharded/scipy",
)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="tiny sizes, 2 repeats")
    args = parser.parse_args(argv)
    n, repeats = (2000, 2) if args.quick else (args.n, args.repeats)
    devices = [d for d in (1, 2, 4) if d <= len(jax.devices())]
    rows = run(n, repeats, devices)
    widths = [max(len(str(c)), *(len(str(r[i])) for r in rows)) for i, c in enumerate(COLUMNS)]
    print("  ".join(str(c).rjust(w) for c, w in zip(COLUMNS, widths, strict=True)))
    for r in rows:
        print("  ".join(str(v).rjust(w) for v, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
