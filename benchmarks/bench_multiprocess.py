"""Weak scaling over processes: SpMV and CG on a 2-D Poisson matrix assembled from each
process's own rows (``js.sharding.from_local_rows``), 1 and 2 processes on this host.

    python benchmarks/bench_multiprocess.py                   # 1e6 rows per process
    python benchmarks/bench_multiprocess.py --rows 250000 --procs 1 2 4
    python benchmarks/bench_multiprocess.py --quick           # tiny (what the test runs)

The problem grows with the process count: each process builds ``--rows`` rows of a
square grid (the grid side is the integer square root of ``rows * P``), so with
perfect weak scaling every column's time stays flat. Each process runs with one CPU
device and the same number of threads in every run, the host's cores over the largest
process count (``JAXSPARSE_NUM_THREADS``), so each process's resources stay fixed as
the process count grows.
Times are medians over ``--repeats`` calls after one warm-up, measured on rank 0 after
a barrier; ``efficiency`` is the 1-process time over the P-process time. Each rank
checks its own rows of ``A @ x`` against SciPy before anything is timed.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys

import _common

CHILD_FLAG = "--child"
TAG = "BENCH_MP "


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=10, others=False)
    p.add_argument("--rows", type=int, default=1_000_000, help="rows per process")
    p.add_argument("--procs", type=int, nargs="+", default=[1, 2])
    p.add_argument("--cg-iters", type=int, default=100)
    p.add_argument(CHILD_FLAG, action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.quick:
        args.rows, args.repeats, args.cg_iters = 2500, 3, 10
    return args


def poisson_rows(n: int, start: int, stop: int):
    """Rows ``[start, stop)`` of the 2-D Poisson matrix with ``n`` rows (CSR, global
    columns), built without the rest of the matrix (``_matrices.build_rows``)."""
    import _matrices
    import scipy.sparse as sps

    indptr, indices, data = _matrices.build_rows("poisson2d", n, start, stop)
    return sps.csr_array((data, indices, indptr), shape=(stop - start, n))


def child(args) -> int:
    """One rank: assemble, check, time; rank 0 reports."""
    import jaxsparse as js

    js.distributed.initialize()
    import jax
    import numpy as np
    from jax.experimental import multihost_utils

    jax.config.update("jax_enable_x64", True)
    P, rank = jax.process_count(), jax.process_index()
    k = math.isqrt(args.rows * P)
    n = k * k
    start, stop = rank * n // P, (rank + 1) * n // P
    mesh = jax.make_mesh((jax.device_count(),), ("x",),
                         axis_types=(jax.sharding.AxisType.Auto,))
    As = js.sharding.from_local_rows(poisson_rows(n, start, stop), row_start=start,
                                     shape=(n, n), mesh=mesh, axis="x")
    x = np.linspace(-1.0, 1.0, n)
    xs = As.shard_vector(x)
    spmv = jax.jit(lambda A, v: A @ v)
    y = js.distributed.gather(As.unshard_vector(spmv(As, xs)))
    # each rank checks its own rows against SciPy (no rank builds the whole matrix)
    assert np.allclose(y[start:stop], poisson_rows(n, start, stop) @ x, rtol=1e-12), \
        "SpMV differs from SciPy"

    def cg():
        return js.linalg.cg(As, xs, rtol=0.0, atol=0.0, maxiter=args.cg_iters)[0]

    def timed(fn):
        multihost_utils.sync_global_devices("bench")
        return _common.median_ms(fn, args.repeats)

    spmv_ms = timed(lambda: spmv(As, xs))
    cg_ms = timed(cg)
    if rank == 0:
        print(TAG + json.dumps({"procs": P, "n": n, "nnz": int(sum(As.plan.nnz_per_shard)),
                                "imbalance": As.plan.nnz_imbalance, "spmv_ms": spmv_ms,
                                "cg_ms": cg_ms, "layout": As.plan.local_format}),
              flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.child:
        return child(args)
    print(f"{_common.machine()}; {args.rows} rows per process, CG {args.cg_iters} "
          f"iterations, median of {args.repeats}")
    threads = max(1, (os.cpu_count() or 1) // max(args.procs))
    env = dict(os.environ, JAXSPARSE_NUM_THREADS=str(threads))
    print(f"{threads} native-kernel threads per process in every run")
    rows = []
    for P in args.procs:
        cmd = [sys.executable, "-m", "jaxsparse.launch", "-n", str(P), "--timeout", "900",
               "--", sys.executable, __file__, CHILD_FLAG, *argv]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=1000, env=env)
        found = [json.loads(line.split(TAG, 1)[1]) for line in done.stdout.splitlines()
                 if TAG in line]
        if done.returncode != 0 or not found:
            print(f"{P} processes failed:\n{done.stdout[-1500:]}{done.stderr[-1500:]}")
            return 1
        rows.append(found[0])
    base = rows[0]
    table = [["poisson2d", "float64", r["n"], r["nnz"], r["procs"], r["imbalance"],
              r["spmv_ms"], base["spmv_ms"] / r["spmv_ms"], r["cg_ms"],
              base["cg_ms"] / r["cg_ms"]] for r in rows]
    print("\nweak scaling (efficiency = 1-process time / P-process time; 1.00 is perfect)")
    print(_common.format_table(["matrix", "dtype", "n", "nnz", "procs", "imbalance",
                                "spmv-ms", "spmv-efficiency", "cg-ms", "cg-efficiency"],
                               table))
    print()
    _common.write_json(args.json, {"benchmark": "multiprocess", "rows_per_process": args.rows,
                                   "results": rows})
    return 0


if __name__ == "__main__":
    sys.exit(main())
