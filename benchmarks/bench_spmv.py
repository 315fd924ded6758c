"""SpMV timings: jaxsparse against SciPy and ``jax.experimental.sparse.BCSR``, one run.

    python benchmarks/bench_spmv.py                 # n ~ 1e5 rows, float32 and float64
    python benchmarks/bench_spmv.py --sizes 10000 1000000
    python benchmarks/bench_spmv.py --quick         # a tiny run (what the test uses)

Every timing is the median over ``--repeats`` calls after one warm-up call, each call
``jax.block_until_ready(f(...))`` of a jitted product (SciPy's ``S @ x`` for SciPy).
Ratios below 1 mean jaxsparse is faster. Results are checked against SciPy before timing.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable

import jax

# A benchmark program (not library code) may set global configuration: float64 rows
# need x64. Done before any array exists.
jax.config.update("jax_enable_x64", True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

import jaxsparse as js  # noqa: E402

COLUMNS = (
    "matrix",
    "dtype",
    "n",
    "nnz",
    "scipy ms",
    "jaxsparse ms",
    "bcsr ms",
    "jaxsparse/scipy",
    "jaxsparse/bcsr",
)


# -- matrices -------------------------------------------------------------------------
def tridiagonal(n: int, rng: np.random.Generator) -> sps.csr_array:
    return sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n), format="csr")


def poisson2d(n: int, rng: np.random.Generator) -> sps.csr_array:
    k = max(2, round(n**0.5))
    t = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    eye = sps.eye_array(k)
    return (sps.kron(t, eye) + sps.kron(eye, t)).tocsr()


def random_uniform(n: int, rng: np.random.Generator, per_row: int = 10) -> sps.csr_array:
    return sps.random_array((n, n), density=min(1.0, per_row / n), format="csr", rng=rng)


def power_law(n: int, rng: np.random.Generator, mean_per_row: int = 10) -> sps.csr_array:
    """Row lengths drawn from a Pareto law (a few very long rows), columns uniform."""
    lengths = np.minimum(n, (rng.pareto(1.5, n) + 1) * mean_per_row / 3).astype(np.int64)
    rows = np.repeat(np.arange(n), lengths)
    cols = rng.integers(0, n, rows.size)
    S = sps.coo_array((rng.standard_normal(rows.size), (rows, cols)), shape=(n, n))
    S = S.tocsr()
    S.sum_duplicates()
    return S


MATRICES: dict[str, Callable[[int, np.random.Generator], sps.csr_array]] = {
    "tridiagonal": tridiagonal,
    "poisson2d": poisson2d,
    "random": random_uniform,
    "power_law": power_law,
}


# -- timing ---------------------------------------------------------------------------
def median_ms(fn: Callable[[], object], repeats: int) -> float:
    jax.block_until_ready(fn())  # warm-up: compiles jitted functions
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def bench_one(name: str, S: sps.csr_array, dtype: np.dtype, repeats: int) -> dict:
    S = S.astype(dtype)
    n = S.shape[0]
    x_host = np.random.default_rng(1).standard_normal(S.shape[1]).astype(dtype)
    y_ref = S @ x_host

    A = js.CSR.from_scipy(S)
    B = jsparse.BCSR.from_scipy_sparse(S)
    x = jnp.asarray(x_host)
    js_matvec = jax.jit(lambda A, x: A @ x)
    bcsr_matvec = jax.jit(lambda B, x: B @ x)

    tol = 1e-4 if dtype == np.float32 else 1e-10
    scale = np.abs(S) @ np.abs(x_host) + 1.0
    for label, y in (("jaxsparse", js_matvec(A, x)), ("bcsr", bcsr_matvec(B, x))):
        err = np.max(np.abs(np.asarray(y) - y_ref) / scale)
        if not err < tol:
            raise AssertionError(f"{label} SpMV differs from SciPy on {name}/{dtype}: {err:.2e}")

    scipy_ms = median_ms(lambda: S @ x_host, repeats)
    js_ms = median_ms(lambda: js_matvec(A, x), repeats)
    bcsr_ms = median_ms(lambda: bcsr_matvec(B, x), repeats)
    return {
        "matrix": name,
        "dtype": np.dtype(dtype).name,
        "n": n,
        "nnz": S.nnz,
        "scipy ms": scipy_ms,
        "jaxsparse ms": js_ms,
        "bcsr ms": bcsr_ms,
        "jaxsparse/scipy": js_ms / scipy_ms,
        "jaxsparse/bcsr": js_ms / bcsr_ms,
    }


def format_table(rows: list[dict], columns: tuple[str, ...] = COLUMNS) -> str:
    """Rows as an aligned text table: the first two columns left, the rest right."""

    def cell(key, value):
        if isinstance(value, float):
            return f"{value:.3f}" if key.endswith("ms") else f"{value:.2f}"
        return str(value)

    cells = [[cell(k, r[k]) for k in columns] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(columns)]
    lines = [
        "  ".join(
            h.ljust(w) if i < 2 else h.rjust(w)
            for i, (h, w) in enumerate(zip(columns, widths, strict=True))
        )
    ]
    lines.append("  ".join("-" * w for w in widths))
    for c in cells:
        lines.append(
            "  ".join(
                v.ljust(w) if i < 2 else v.rjust(w)
                for i, (v, w) in enumerate(zip(c, widths, strict=True))
            )
        )
    return "\n".join(lines)


def parse_args(
    description: str, argv: list[str] | None, dtypes: list[str], repeats: int
) -> argparse.Namespace:
    """The options every benchmark table takes (sizes, dtypes, matrices, repeats, quick)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[100_000], help="numbers of rows (default: 100000)"
    )
    parser.add_argument("--dtypes", nargs="+", default=dtypes)
    parser.add_argument("--matrices", nargs="+", default=list(MATRICES), choices=list(MATRICES))
    parser.add_argument("--repeats", type=int, default=repeats, help="timed calls per cell")
    parser.add_argument(
        "--quick", action="store_true", help="a tiny run: n=1000, 3 repeats (for tests)"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes, args.repeats = [1000], 3
    return args


def table_rows(args: argparse.Namespace, bench: Callable[..., dict]) -> list[dict]:
    """``bench(name, S, dtype, repeats)`` for every size, matrix and dtype asked for."""
    rows = []
    for n in args.sizes:
        for name in args.matrices:
            S = MATRICES[name](n, np.random.default_rng(0))
            for dtype in args.dtypes:
                rows.append(bench(name, S, np.dtype(dtype), args.repeats))
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, ["float32", "float64"], 20)
    print(
        f"SpMV, JAX {jax.__version__} on {jax.devices()[0].platform} "
        f"({len(jax.devices())} device(s), jaxsparse uses one), "
        f"median of {args.repeats} after one warm-up"
    )
    print(format_table(table_rows(args, bench_one)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
