"""Sparse triangular solve timings: ``jaxsparse.linalg.spsolve_triangular`` against SciPy.

    python benchmarks/bench_triangular.py            # n ~ 1e5 rows, float64
    python benchmarks/bench_triangular.py --quick    # a tiny run (what the test uses)

The lower triangle (diagonal made dominant) of each SpMV benchmark matrix; ``b`` is a
vector. ``jax.experimental.sparse`` has no triangular solve, so SciPy is the only
reference. Timings as in ``bench_spmv.py``: median after one warm-up, jitted jaxsparse
call. Results are checked against SciPy before timing.
"""

from __future__ import annotations

import sys

import jax

jax.config.update("jax_enable_x64", True)  # a benchmark program may; float64 rows need it

import argparse  # noqa: E402
from collections.abc import Callable  # noqa: E402

import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
from _common import format_table, median_ms  # noqa: E402

import jaxsparse as js  # noqa: E402

COLUMNS = ("matrix", "dtype", "n", "nnz", "scipy ms", "jaxsparse ms", "jaxsparse/scipy")


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


def lower_triangle(S: sps.csr_array, dtype) -> sps.csr_array:
    """``tril(S)`` with a diagonal that dominates its row (a well-conditioned solve)."""
    L = sps.tril(S, k=-1).tocsr()
    diagonal = np.asarray(abs(L).sum(axis=1)).ravel() + 1.0
    return (L + sps.diags_array(diagonal)).astype(dtype).tocsr()


def bench_one(name: str, S: sps.csr_array, dtype: np.dtype, repeats: int) -> dict:
    L = lower_triangle(S, dtype)
    b = np.random.default_rng(1).standard_normal(L.shape[0]).astype(dtype)
    A = js.CSR.from_scipy(L)
    solve = jax.jit(lambda A, b: js.linalg.spsolve_triangular(A, b))
    expected = sla.spsolve_triangular(L, b)
    err = np.max(np.abs(np.asarray(solve(A, b)) - expected) / (np.abs(expected) + 1.0))
    tol = 1e-4 if dtype == np.float32 else 1e-10
    if not err < tol:
        raise AssertionError(f"triangular solve differs from SciPy on {name}/{dtype}: {err:.2e}")
    scipy_ms = median_ms(lambda: sla.spsolve_triangular(L, b), repeats)
    js_ms = median_ms(lambda: solve(A, b), repeats)
    return {
        "matrix": name,
        "dtype": np.dtype(dtype).name,
        "n": L.shape[0],
        "nnz": L.nnz,
        "scipy ms": scipy_ms,
        "jaxsparse ms": js_ms,
        "jaxsparse/scipy": js_ms / scipy_ms,
    }


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
    args = parse_args(__doc__.splitlines()[0], argv, ["float64"], 10)
    print(
        f"spsolve_triangular, JAX {jax.__version__} on {jax.devices()[0].platform}, "
        f"median of {args.repeats} after one warm-up"
    )
    rows = table_rows(args, bench_one)
    print(format_table(COLUMNS, [[r[c] for c in COLUMNS] for r in rows]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
