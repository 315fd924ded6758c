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

import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
from bench_spmv import format_table, median_ms, parse_args, table_rows  # noqa: E402

import jaxsparse as js  # noqa: E402

COLUMNS = ("matrix", "dtype", "n", "nnz", "scipy ms", "jaxsparse ms", "jaxsparse/scipy")


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


def main(argv: list[str] | None = None) -> int:
    args = parse_args(__doc__.splitlines()[0], argv, ["float64"], 10)
    print(
        f"spsolve_triangular, JAX {jax.__version__} on {jax.devices()[0].platform}, "
        f"median of {args.repeats} after one warm-up"
    )
    print(format_table(table_rows(args, bench_one), COLUMNS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
