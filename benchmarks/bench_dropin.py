"""The drop-in against SciPy: small-problem latency, and where products are routed.

    python benchmarks/bench_dropin.py              # n = 1000 latency; routing up to 3e6 nnz
    python benchmarks/bench_dropin.py --quick      # tiny (what the test runs)
    python benchmarks/bench_dropin.py --json /tmp/dropin.json

Two tables, each op run on ``scipy.sparse`` and on ``jaxsparse.scipy_compat`` objects
built from the same arrays:

- latency: warm structural operations and a product on a small random CSR matrix, and
  small solves (``sp.linalg``) on a 1-D Poisson matrix (median of ``--repeats`` calls,
  in µs), and the *first* call of each on a fresh object, the cost a script of small
  steps pays (a JAX compile would show here);
- routing: ``A @ x`` for growing random matrices (10 per row): SciPy, the drop-in with
  its default route, and the drop-in forced onto each route (``set_device_min_nnz``),
  so the measured crossover behind the default threshold is visible.

Ratios are the drop-in's time / SciPy's (< 1 is faster than SciPy; the latency target
is at most 2).
"""

from __future__ import annotations

import sys
import time

import _common

_common.setup_env()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as ss  # noqa: E402

jax.config.update("jax_enable_x64", True)  # what the drop-in turns on (silently here)

import jaxsparse.scipy_compat as sp  # noqa: E402

# name -> operation on a CSR matrix (SciPy's or the drop-in's) and a vector x
OPS = {
    "constructor": lambda m, A, x: m.csr_array((A.data, A.indices, A.indptr), shape=A.shape),
    "tocsc": lambda m, A, x: A.tocsc(),
    "transpose": lambda m, A, x: A.T,
    "A.T @ A": lambda m, A, x: A.T @ A,
    "A[:10]": lambda m, A, x: A[:10],
    "A[i, j]": lambda m, A, x: A[3, 7],
    "sum(axis=0)": lambda m, A, x: A.sum(axis=0),
    "A + A": lambda m, A, x: A + A,
    "A * 2": lambda m, A, x: A * 2.0,
    "hstack": lambda m, A, x: m.hstack([A, A], format="csr"),
    "eliminate_zeros": lambda m, A, x: A.copy().eliminate_zeros(),
    "A @ x": lambda m, A, x: A @ x,
}
# name -> a small solve on an SPD matrix P (1-D Poisson) and a vector b
SOLVES = {
    "cg": lambda m, P, b: m.linalg.cg(P, b, rtol=1e-8),
    "gmres": lambda m, P, b: m.linalg.gmres(P, b, rtol=1e-8),
    "eigsh(k=6)": lambda m, P, b: m.linalg.eigsh(P, k=6),
    "eigsh(sigma=0)": lambda m, P, b: m.linalg.eigsh(P, k=3, sigma=0),
    "expm_multiply": lambda m, P, b: m.linalg.expm_multiply(-0.1 * P, b),
    "spsolve": lambda m, P, b: m.linalg.spsolve(P.tocsc(), b),
}
LATENCY_HEADER = ["matrix", "dtype", "n", "nnz", "op", "scipy-us", "dropin-us", "ratio",
                  "first-scipy-us", "first-dropin-us"]
ROUTING_HEADER = ["matrix", "dtype", "n", "nnz", "scipy-us", "dropin-us", "host-us",
                  "device-us", "route"]


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=50, others=False)
    p.add_argument("--n", type=int, default=1000, help="rows of the latency matrix")
    p.add_argument("--sizes", type=float, nargs="+", default=[1e4, 1e5, 1e6, 3e6],
                   help="nnz of the routing matrices")
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.sizes, args.repeats = 200, [1e3, 1e4], 3
    return args


def _random(n: int, per_row: int, seed: int = 0) -> ss.csr_array:
    return ss.random_array((n, n), density=min(1.0, per_row / n), format="csr", rng=seed)


def _first_call_us(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return (time.perf_counter() - t0) * 1e6


def _median_us(fn, repeats: int) -> float:
    """Median of ``repeats`` warm calls. Not ``_common.median_ms``: its
    ``jax.block_until_ready`` would flatten a drop-in result as a pytree, which uploads
    it to the device (results here are host objects, complete on return)."""
    fn()
    return float(np.median([_first_call_us(fn) for _ in range(repeats)]))


def latency(args) -> list[list]:
    n = args.n
    P = ss.diags_array([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)],
                       offsets=[-1, 0, 1], format="csr")
    return (_latency_rows("random", _random(n, 10), np.ones(n), OPS, args.repeats)
            + _latency_rows("poisson1d", P, np.linspace(0.0, 1.0, n), SOLVES, args.repeats))


def _latency_rows(matrix: str, S, x, ops: dict, repeats: int) -> list[list]:
    """One row per op: warm SciPy and drop-in times, and each one's first call on a
    fresh copy of ``S``."""
    rows = []
    for name, op in ops.items():
        ours = sp.csr_array(S.copy())
        fresh_scipy, fresh_ours = S.copy(), sp.csr_array(S.copy())
        first_scipy = _first_call_us(lambda op=op, A=fresh_scipy: op(ss, A, x))
        first_ours = _first_call_us(lambda op=op, A=fresh_ours: op(sp, A, x))
        scipy_us = _median_us(lambda op=op: op(ss, S, x), repeats)
        ours_us = _median_us(lambda op=op, A=ours: op(sp, A, x), repeats)
        rows.append([matrix, "float64", S.shape[0], S.nnz, name, scipy_us, ours_us,
                     ours_us / scipy_us, first_scipy, first_ours])
    return rows


def routing(args) -> list[list]:
    return [_routing_row(int(nnz), args.repeats) for nnz in args.sizes]


def _routing_row(nnz: int, repeats: int) -> list:
    n = max(20, nnz // 10)
    S = _random(n, 10, seed=1)
    A = sp.csr_array(S.copy())
    x = np.ones(n)
    times = {"scipy": _median_us(lambda: S @ x, repeats),
             "dropin": _median_us(lambda: A @ x, repeats)}
    for route, threshold in (("host", 2**62), ("device", 0)):
        sp.set_device_min_nnz(threshold)
        try:
            if not np.allclose(A @ x, S @ x, rtol=1e-10, atol=1e-12):
                raise AssertionError(f"the {route} route differs from SciPy")
            times[route] = _median_us(lambda: A @ x, repeats)
        finally:
            sp.set_device_min_nnz(None)
    chosen = "device" if S.nnz >= sp.device_min_nnz() else "host"
    return ["random", "float64", n, S.nnz, times["scipy"], times["dropin"], times["host"],
            times["device"], chosen]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    print(f"{_common.machine()}; device_min_nnz = {sp.device_min_nnz()}")
    lat, route = latency(args), routing(args)
    print("\nlatency, warm and first call (ratio = drop-in / SciPy, warm; <= 2 is the target)")
    print(_common.format_table(LATENCY_HEADER, lat, decimals=1))
    print("\nA @ x by size: SciPy, the drop-in's default route, and each route forced (µs)")
    print(_common.format_table(ROUTING_HEADER, route, decimals=1))
    print()
    _common.write_json(args.json, {
        "benchmark": "dropin", "device_min_nnz": sp.device_min_nnz(),
        "latency": [dict(zip(LATENCY_HEADER, r, strict=True)) for r in lat],
        "routing": [dict(zip(ROUTING_HEADER, r, strict=True)) for r in route],
    })
    return 0


if __name__ == "__main__":
    sys.exit(main())
