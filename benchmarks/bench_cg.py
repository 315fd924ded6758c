"""Conjugate gradients, a fixed number of iterations: jaxsparse, SciPy, ``jax.scipy`` and
PETSc side by side, measured in one run; then the small-problem numbers.

    python benchmarks/bench_cg.py                 # 2-D Poisson 500^2, 300 iterations
    python benchmarks/bench_cg.py --grid 1000     # a 1000^2 grid
    python benchmarks/bench_cg.py --quick         # tiny (what the test runs)

Every solver runs exactly ``--iters`` iterations from ``x0 = 0`` (``rtol = atol = 0``,
no preconditioner) on the 5-point Poisson matrix of ``_matrices.py``. Columns:

- ``scipy``: ``scipy.sparse.linalg.cg``, the reference of every ratio;
- ``js-1t``, ``js``: ``js.linalg.cg`` jitted on 1 device, on one core (a child process
  with ``JAXSPARSE_NUM_THREADS=1``, pinned to one core) and with the default threads;
- ``js-2dev``: the same on ``js.sharding.shard(A, mesh, axis="x")`` over 2 CPU devices
  (a child with ``JAX_NUM_CPU_DEVICES=2``), ``b`` laid out with ``As.shard_vector``;
- ``js-dia``: ``js.linalg.cg`` jitted on 1 device with the matrix as ``js.DIA`` (the
  layout the drop-in and the sharding planner choose for this stencil: fewer bytes);
- ``jax-bcsr``: ``jax.scipy.sparse.linalg.cg`` with a ``jax.experimental.sparse.BCSR``
  (XLA splits its loops over the cores), and ``jax-bcsr-1t`` the same in the one-core
  child;
- ``petsc-np1``, ``petsc-np2``: ``KSPCG`` with ``-pc_type none`` under ``mpirun -n 1/2``.

Times are medians of ``--repeats`` solves after a warm-up; solutions are checked against
SciPy's after the same iterations. Every column alternates its solves with SciPy's, and
its speed-up is taken against that SciPy time: in the column's own process, or for
PETSc, a separate program, by starting each of its solves from this process
(``_paced.py``). The GB/s table counts, per iteration, the bytes of a CSR SpMV with
int32 indices plus 9 vectors (the updates of x, r and p, each read and written once in
a fused implementation): a lower bound on the traffic, so roofline-ms (those bytes /
the copy bandwidth measured in the same run) bounds the time from below.

Small problems (n = 1000, 1-D Poisson, float64): an eager drop-in product
``sp.csr_array(S) @ x`` with a NumPy ``x`` (``import jaxsparse.scipy_compat as sp``)
and a jitted ``js.CSR`` product (result left on the device) beside SciPy's ``S @ x``,
and the time per CG iteration of SciPy, of jitted ``js.linalg.cg`` and of the drop-in's
eager ``sp.linalg.cg``.
"""

from __future__ import annotations

import functools
import sys

import _common

CHILD = _common.setup_env()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark program may; float64 rows need it

import _matrices  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
import scipy.sparse.linalg as sla  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

import jaxsparse as js  # noqa: E402

COLUMNS = ["js-1t", "js", "js-2dev", "js-dia", "jax-bcsr-1t", "jax-bcsr", "petsc-np1",
           "petsc-np2"]
# What each child process times (_common.CHILDREN); jaxsparse's column first.
CHILD_COLUMNS = {"threads1": ["js-1t", "jax-bcsr-1t"], "sharded2": ["js-2dev"]}
LEAD = ["matrix", "dtype", "n", "nnz", "iters"]
SMALL_N = 1000


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=5)
    p.add_argument("--grid", type=int, default=500, help="Poisson grid side (n = grid^2)")
    p.add_argument("--iters", type=int, default=300, help="CG iterations (fixed)")
    p.add_argument("--dtypes", nargs="+", default=["float64", "float32"])
    args = p.parse_args(argv)
    if args.quick:  # few iterations: a tiny grid would converge to round-off in 300
        args.grid, args.iters, args.repeats = 32, 30, 3
    return args


def poisson(n: int, dtype: str) -> sps.csr_array:
    indptr, indices, data = _matrices.build_rows("poisson2d", n, dtype=dtype)
    return sps.csr_array((data, indices.astype(np.int32), indptr.astype(np.int32)), (n, n))


def solvers(column: str, S, b, iters: int):
    """``(call, to_host)``: ``call()`` runs ``iters`` CG iterations on ``S x = b``."""
    if column == "scipy":
        return (lambda: sla.cg(S, b, rtol=0.0, atol=0.0, maxiter=iters)[0]), None
    if column in ("jax-bcsr", "jax-bcsr-1t"):
        B, bd = jsparse.BCSR.from_scipy_sparse(S), jnp.asarray(b)
        solve = jax.jit(
            lambda B, b: jax.scipy.sparse.linalg.cg(
                lambda v: B @ v, b, tol=0.0, atol=0.0, maxiter=iters
            )[0]
        )
        return (lambda: solve(B, bd)), None
    solve = jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=0.0, atol=0.0, maxiter=iters)[0])
    A = js.CSR.from_scipy(S)
    if column == "js-dia":
        D, bd = js.DIA.from_scipy(S.todia()), jnp.asarray(b)
        return (lambda: solve(D, bd)), None
    if column in ("js", "js-1t"):
        bd = jnp.asarray(b)
        return (lambda: solve(A, bd)), None
    if column == "js-2dev":
        mesh = jax.make_mesh((2,), ("x",))
        As = js.sharding.shard(A, mesh, axis="x")
        bs = As.shard_vector(b)

        def call():
            with jax.set_mesh(mesh):
                return solve(As, bs)

        return call, As.unshard_vector
    raise ValueError(column)


def measure(columns, args, cells: _common.Cells) -> dict:
    """Time ``columns`` per dtype; return key -> (n, nnz, norm of SciPy's x)."""
    info = {}
    n = args.grid**2
    for dtype in args.dtypes:
        S = poisson(n, dtype)
        b = _matrices.vector(n, 1).astype(dtype)
        key = ("cg", "poisson2d", dtype)
        want = np.asarray(solvers("scipy", S, b, args.iters)[0]())
        info[key] = (n, S.nnz, float(np.linalg.norm(want)))
        tol = 5e-2 if dtype == "float32" else 1e-6  # after many iterations, round-off grows
        def error(got, want=want):
            return np.max(np.abs(np.asarray(got) - want)) / np.max(np.abs(want))

        scipy_cg = solvers("scipy", S, b, args.iters)[0]
        for column in columns:
            _common.check_and_time(
                cells, key, column, functools.partial(solvers, column, S, b, args.iters),
                error, tol, args.repeats, f"{column} {dtype}: x",
                baseline=None if column == "scipy" else scipy_cg)
    return info


def run_petsc(args, cells, info) -> None:
    def side(names):
        return ["--matrix", *names, "--n", str(args.grid**2), "--op", "cg",
                "--maxiter", str(args.iters), "--repeats", str(args.repeats)]

    def scipy_calls(name):  # SciPy's float64 solve, timed around each PETSc run
        S = poisson(args.grid**2, "float64")
        b = _matrices.vector(args.grid**2, 1)
        return {("cg", name, "float64"): solvers("scipy", S, b, args.iters)[0]}

    _common.petsc_cells(cells, info, side, 1800.0, args.no_petsc, tol=1e-6, iters=args.iters,
                        baseline=scipy_calls)


def small_problems(iters: int, repeats: int) -> list[list]:
    """Rows of the small-problem table (times in microseconds)."""
    import jaxsparse.scipy_compat as sp

    n = SMALL_N
    S = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    x = _matrices.vector(n, 1)
    D = sp.csr_array(S)
    A = js.CSR.from_scipy(S)
    solve = jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=0.0, atol=0.0, maxiter=iters)[0])
    matvec = jax.jit(lambda A, v: A @ v)
    xd = jnp.asarray(x)
    scipy_mv = _common.median_ms(lambda: S @ x, 20 * repeats)
    scipy_cg = (
        _common.median_ms(lambda: sla.cg(S, x, rtol=0.0, atol=0.0, maxiter=iters)[0], repeats)
        / iters
    )
    cases = [
        ("A@x-dropin", scipy_mv, _common.median_ms(lambda: D @ x, 20 * repeats)),
        ("A@x-jit", scipy_mv, _common.median_ms(lambda: matvec(A, xd), 20 * repeats)),
        ("cg-iter-jit", scipy_cg, _common.median_ms(lambda: solve(A, xd), repeats) / iters),
        (
            "cg-iter-dropin",
            scipy_cg,
            _common.median_ms(
                lambda: sp.linalg.cg(D, x, rtol=0.0, atol=0.0, maxiter=iters)[0], repeats
            )
            / iters,
        ),
    ]
    return [
        ["poisson1d", "float64", n, S.nnz, case, s * 1e3, j * 1e3, s / j] for case, s, j in cases
    ]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = _common.Cells()
    if CHILD:
        measure(CHILD_COLUMNS[CHILD], args, cells)
        _common.report_cells(cells)
        return 0

    backends = {"js": _common.backend_in_use(), "js-dia": _common.backend_in_use("dia_matmul")}
    bandwidth = _common.copy_bandwidth(32 if args.quick else 400)
    argv = [
        "--grid",
        str(args.grid),
        "--iters",
        str(args.iters),
        "--repeats",
        str(args.repeats),
        "--dtypes",
        *args.dtypes,
    ]
    _common.run_children("bench_cg.py", CHILD_COLUMNS, argv, 1800.0, cells, backends,
                         args.no_children)
    info = measure(["scipy", "js", "js-dia", "jax-bcsr"], args, cells)
    run_petsc(args, cells, info)
    small = small_problems(args.iters, args.repeats)

    print(
        f"{_common.machine()}\nmedian of {args.repeats} solves after one warm-up\n"
        f"jaxsparse backend per column: {backends}\ncopy bandwidth {bandwidth:.1f} GB/s"
    )
    rows = [(k, [k[1], k[2], v[0], v[1], args.iters]) for k, v in info.items()]
    nbytes = {
        k: args.iters
        * (
            _matrices.csr_bytes(v[1], v[0], v[0], np.dtype(k[2]).itemsize)
            + 9 * v[0] * np.dtype(k[2]).itemsize
        )
        for k, v in info.items()
    }
    what = f"CG, {args.iters} iterations, 2-D Poisson {args.grid}^2"
    for table in _common.result_tables(cells, rows, LEAD, COLUMNS, what, bandwidth, nbytes):
        print("\n" + table)
    print(
        f"\nsmall problems (n = {SMALL_N}): SciPy beside jaxsparse, microseconds "
        "(cg: per iteration); speedup = SciPy's time / jaxsparse's"
    )
    small_cols = ["matrix", "dtype", "n", "nnz", "case", "scipy-us", "jaxsparse-us", "speedup"]
    print(_common.format_table(small_cols, small))
    print()
    for note in cells.notes:
        print(f"note: {note}")

    payload = {
        "benchmark": "cg",
        "jax": jax.__version__,
        "backends": backends,
        "copy_gbps": bandwidth,
        "grid": args.grid,
        "iters": args.iters,
        "repeats": args.repeats,
        "columns": ["scipy", *COLUMNS],
        "notes": cells.notes,
        "rows": [
            _common.json_row(
                cells,
                k,
                COLUMNS,
                op="cg",
                matrix=k[1],
                dtype=k[2],
                n=h[2],
                nnz=h[3],
                iters=args.iters,
                bytes=nbytes[k],
                roofline_ms=nbytes[k] / bandwidth / 1e6,
            )
            for k, h in rows
        ],
        "small": [dict(zip(small_cols, r, strict=True)) for r in small],
    }
    _common.write_json(args.json, payload)
    if args.plot and _common.have_matplotlib():
        import _plots

        _plots.cg_figures(payload, args.plot, what)
    return 0


if __name__ == "__main__":
    sys.exit(main())
