"""SDDMM ``A * (B @ C)`` on A's pattern: jaxsparse, dense-then-mask,
``jax.experimental.sparse`` and SciPy/NumPy side by side, measured in one run.

    python benchmarks/bench_sddmm.py               # 20000 x 20000, density 1e-3, k = 64
    python benchmarks/bench_sddmm.py --n 50000 --k 128 --dtypes float32 float64
    python benchmarks/bench_sddmm.py --quick       # tiny (what the test runs)

``A`` is ``scipy.sparse.random_array`` (seeded), ``B`` is ``(n, k)``, ``C`` is ``(k, n)``.
Columns:

- ``scipy``: NumPy per entry, ``np.einsum('ij,ij->i', B[row], CT[col]) * data`` with
  ``CT = C.T`` made contiguous once, the reference of every ratio;
- ``js``: ``js.ops.sddmm(A, B, C)`` jitted, default backend (named in the header);
- ``dense-mask``: ``(B @ C)[row, col] * data`` in ``jax.numpy``, jitted (forms the
  dense ``n x n`` product: 1.6 GB at the default size);
- ``bcoo-sampled``: ``jax.experimental.sparse.bcoo_dot_general_sampled(B, C, indices)``
  times the values, jitted.

Times are medians of ``--repeats`` calls after a warm-up; values are checked against
the NumPy reference first. Ratios are SciPy's time / the column's (> 1 is faster).
"""

from __future__ import annotations

import sys

import _common

_common.setup_env()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark program may; float64 rows need it

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

import jaxsparse as js  # noqa: E402

COLUMNS = ["js", "dense-mask", "bcoo-sampled"]
LEAD = ["matrix", "dtype", "n", "nnz", "k"]
_NUMBERS = (([1], [0]), ([], []))


@jax.jit
def _js(A, B, C):
    return js.ops.sddmm(A, B, C).data


@jax.jit
def _dense_mask(B, C, row, col, data):
    return (B @ C)[row, col] * data


@jax.jit
def _bcoo_sampled(B, C, indices, data):
    return jsparse.bcoo_dot_general_sampled(B, C, indices, dimension_numbers=_NUMBERS) * data


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=10, others=False)
    p.add_argument("--n", type=int, default=20_000, help="A is n x n")
    p.add_argument("--density", type=float, default=1e-3)
    p.add_argument("--k", type=int, default=64, help="inner size: B is n x k")
    p.add_argument("--dtypes", nargs="+", default=["float32"])
    args = p.parse_args(argv)
    if args.quick:
        args.n, args.repeats = 2000, 3
    return args


def measure(args, cells: _common.Cells) -> dict:
    """Time every column for each dtype; return key -> (n, nnz)."""
    info = {}
    for dtype in args.dtypes:
        info[("sddmm", "random", dtype)] = measure_one(args, dtype, cells)
    return info


def measure_one(args, dtype: str, cells: _common.Cells) -> tuple[int, int]:
    rng = np.random.default_rng(0)
    S = sps.random_array((args.n, args.n), density=args.density, format="csr", rng=rng, dtype=dtype)
    S.sort_indices()
    B = rng.standard_normal((args.n, args.k)).astype(dtype)
    C = rng.standard_normal((args.k, args.n)).astype(dtype)
    coo = S.tocoo()  # CSR order: the order of js.ops.sddmm's values
    row, col, data = coo.row, coo.col, coo.data
    CT = np.ascontiguousarray(C.T)
    key = ("sddmm", "random", dtype)
    Bd, Cd = jnp.asarray(B), jnp.asarray(C)
    rd, cd, dd = jnp.asarray(row), jnp.asarray(col), jnp.asarray(data)
    A, indices = js.CSR.from_scipy(S), jnp.stack([rd, cd], axis=1)
    calls = {
        "scipy": lambda: np.einsum("ij,ij->i", B[row], CT[col]) * data,
        "js": lambda: _js(A, Bd, Cd),
        "dense-mask": lambda: _dense_mask(Bd, Cd, rd, cd, dd),
        "bcoo-sampled": lambda: _bcoo_sampled(Bd, Cd, indices, dd),
    }
    want = calls["scipy"]()
    tol = 1e-4 if dtype == "float32" else 1e-10
    scale = np.abs(B) @ np.abs(C).max(axis=1) + 1.0  # bounds |(B @ C)[i, :]|
    def error(got):
        got = np.asarray(got)[: S.nnz]
        return np.max(np.abs(got - want) / scale[row], initial=0.0)

    for column, call in calls.items():
        _common.check_and_time(cells, key, column, lambda call=call: (call, None), error, tol,
                               args.repeats, f"{column} {dtype}", reference="NumPy")
    return args.n, S.nnz


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = _common.Cells()
    info = measure(args, cells)
    backend = _common.backend_in_use("csr_sampled")
    print(
        f"{_common.machine()}\nmedian of {args.repeats} after one warm-up\n"
        f"jaxsparse backend (csr_sampled): {backend}"
    )
    rows = [(key, [key[1], key[2], n, nnz, args.k]) for key, (n, nnz) in info.items()]
    what = f"SDDMM, {args.n} x {args.n}, density {args.density:g}, k = {args.k}"
    for table in _common.result_tables(cells, rows, LEAD, COLUMNS, what):
        print("\n" + table)
    print()
    for note in cells.notes:
        print(f"note: {note}")
    payload = {
        "benchmark": "sddmm",
        "jax": jax.__version__,
        "backends": {"js": backend},
        "n": args.n,
        "density": args.density,
        "k": args.k,
        "repeats": args.repeats,
        "columns": ["scipy", *COLUMNS],
        "notes": cells.notes,
        "rows": [
            _common.json_row(
                cells, k, COLUMNS, op="sddmm", matrix=k[1], dtype=k[2], n=h[2], nnz=h[3], k=args.k
            )
            for k, h in rows
        ],
    }
    _common.write_json(args.json, payload)
    if args.plot and _common.have_matplotlib():
        import _plots

        _plots.ratio_figure(payload, args.plot, "sddmm", title=what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
