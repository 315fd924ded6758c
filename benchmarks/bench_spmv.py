"""SpMV, ``A.T @ y`` and SpMM: jaxsparse, SciPy, ``jax.experimental.sparse`` and PETSc
side by side, measured in one run.

    python benchmarks/bench_spmv.py                  # full size: banded n=2M (22M nnz),
                                                     # Poisson 1400^2, random n=1M
    python benchmarks/bench_spmv.py --scale 0.1      # a tenth of the rows
    python benchmarks/bench_spmv.py --quick          # tiny (what the test runs)
    python benchmarks/bench_spmv.py --op spmv --json /tmp/spmv.json --plot /tmp/plots

Matrices from ``_matrices.py`` (banded with 11 diagonals, 2-D 5-point Poisson, random
with 10 per row) in float32, float64 and (for ``A @ x``) complex128. Columns:

- ``scipy``: SciPy's CSR product, the reference of every ratio;
- ``js-1t``: jaxsparse CSR on 1 device and one core: a child process with
  ``JAXSPARSE_NUM_THREADS=1``, pinned to one core;
- ``js``: jaxsparse CSR on 1 device, default threads;
- ``js-2dev``: ``js.sharding.shard(A, mesh, axis="x")`` over 2 CPU devices, timed as
  ``As @ xs`` on ``xs = As.shard_vector(x)`` (a child with ``JAX_NUM_CPU_DEVICES=2``);
- ``js-dia``: the same matrix as ``js.DIA`` (banded and Poisson only);
- ``dropin``: ``jaxsparse.scipy_compat.csr_array(A) @ x`` on NumPy operands, a NumPy
  result: what a SciPy program gets from the changed import on 1 device (the layout by
  structure, and the copies of x and y between host and device, included);
- ``bcsr``: ``jax.experimental.sparse.BCSR`` (no transpose there: n/a), on both cores
  (XLA splits its loops over the cores);
- ``bcsr-1t``: the same in the one-core child, ``js-1t``'s counterpart;
- ``petsc-np1``, ``petsc-np2``: PETSc MPIAIJ under ``mpirun -n 1``/``-n 2``
  (``_petsc_side.py``; the real build is float64 only).

jaxsparse calls the public API with the default backend; the header says which backend
that is (``_dispatch.pick("csr_matmul")``) in each process. Every time is the median of
``--repeats`` calls after one warm-up call, jitted where JAX is involved, waited for with
``jax.block_until_ready``; every result is checked against SciPy first. Every column is
timed alternately with SciPy's call, and its speed-up is taken against that SciPy time
(the machine's speed drifts over minutes): in the column's own process, or for PETSc,
a separate program run one matrix at a time, by telling it from this process when to
make each call (``_paced.py``). Three tables per
operation: speed-up over SciPy (SciPy's time / the column's, > 1 is faster), times, and
achieved GB/s beside the memory roofline (a NumPy copy's bandwidth measured in the same
run; bytes are those of a CSR product with int32 indices, also for ``js-dia``, which
moves fewer and so can pass the roofline).
"""

from __future__ import annotations

import sys

import _common

CHILD = _common.setup_env()

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # a benchmark program may; float64 rows need it

import _matrices  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

import jaxsparse as js  # noqa: E402

OPS = {"spmv": "A @ x", "spmv_t": "A.T @ y", "spmm": "A @ X (16 columns)"}
K = 16  # columns of X
COLUMNS = ["js-1t", "js", "js-2dev", "js-dia", "dropin", "bcsr-1t", "bcsr", "petsc-np1",
           "petsc-np2"]
# What each child process times (_common.CHILDREN); jaxsparse's column first.
CHILD_COLUMNS = {"threads1": ["js-1t", "bcsr-1t"], "sharded2": ["js-2dev"]}
LEAD = ["matrix", "dtype", "n", "nnz"]

_mv = jax.jit(lambda A, v: A @ v)
_mv_t = jax.jit(lambda A, v: js.ops.spmv(A, v, transpose=True))
_sharded_mv_t = jax.jit(lambda A, v: A.T @ v)


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=10)
    p.add_argument("--scale", type=float, default=1.0, help="fraction of the full rows")
    p.add_argument("--op", nargs="+", default=list(OPS), choices=list(OPS))
    p.add_argument(
        "--matrices", nargs="+", default=list(_matrices.NAMES), choices=list(_matrices.NAMES)
    )
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64", "complex128"])
    args = p.parse_args(argv)
    if args.quick:
        args.scale, args.repeats = 1e-3, 3
    return args


def applies(op: str, dtype: str) -> bool:
    return op == "spmv" or np.dtype(dtype).kind != "c"


def scipy_matrix(name: str, n: int, dtype: str) -> sps.csr_array:
    indptr, indices, data = _matrices.build_rows(name, n, dtype=dtype)
    return sps.csr_array((data, indices.astype(np.int32), indptr.astype(np.int32)), (n, n))


def operands(n: int, dtype: str, spmm: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """``x`` (also the ``y`` of ``A.T @ y``) and, if ``spmm``, ``X`` with K columns."""
    x = _matrices.vector(n, 1)
    if np.dtype(dtype).kind == "c":
        x = x + 1j * _matrices.vector(n, 2)
    if not spmm:
        return x.astype(dtype), None
    X = np.stack([_matrices.vector(n, 1 + j) for j in range(K)], axis=1)
    return x.astype(dtype), X.astype(dtype)


def products(column: str, S, x, X) -> dict:
    """op -> (call, to_host) for one column; ``call()`` returns the (device) result."""
    if column == "scipy":
        ST = S.T
        return {
            "spmv": (lambda: S @ x, None),
            "spmv_t": (lambda: ST @ x, None),
            "spmm": (lambda: S @ X, None),
        }
    xd, Xd = jnp.asarray(x), None if X is None else jnp.asarray(X)
    if column in ("js", "js-1t", "js-dia"):
        A = js.DIA.from_scipy(S) if column == "js-dia" else js.CSR.from_scipy(S)
        return {
            "spmv": (lambda: _mv(A, xd), None),
            "spmv_t": (lambda: _mv_t(A, xd), None),
            "spmm": (lambda: _mv(A, Xd), None),
        }
    if column == "dropin":
        import jaxsparse.scipy_compat as sp

        A = sp.csr_array(S)
        AT = A.T
        return {
            "spmv": (lambda: A @ x, None),
            "spmv_t": (lambda: AT @ x, None),
            "spmm": (lambda: A @ X, None),
        }
    if column in ("bcsr", "bcsr-1t"):
        B = jsparse.BCSR.from_scipy_sparse(S)
        return {"spmv": (lambda: _mv(B, xd), None), "spmm": (lambda: _mv(B, Xd), None)}
    if column == "js-2dev":
        mesh = jax.make_mesh((2,), ("x",))
        As = js.sharding.shard(js.CSR.from_scipy(S), mesh, axis="x")
        xs, ys = As.shard_vector(x), As.shard_vector(x, side="rows")
        Xs = None if X is None else As.shard_vector(X)
        rows, cols = As.unshard_vector, lambda v: As.unshard_vector(v, side="cols")
        return {
            "spmv": (lambda: _mv(As, xs), rows),
            "spmv_t": (lambda: _sharded_mv_t(As, ys), cols),
            "spmm": (lambda: _mv(As, Xs), rows),
        }
    raise ValueError(column)


def error(got, want) -> float:
    return float(np.max(np.abs(np.asarray(got) - want)) / (np.max(np.abs(want)) + 1.0))


def measure(columns, args, cells: _common.Cells) -> dict:
    """Time ``columns`` for every matrix, dtype and op; return key -> (n, nnz, reference
    norm) where key = (op, matrix, dtype)."""
    info = {}
    for name in args.matrices:
        n = _matrices.rows_at_scale(name, args.scale)
        for dtype in args.dtypes:
            S = scipy_matrix(name, n, dtype)
            ops = [op for op in args.op if applies(op, dtype)]
            x, X = operands(n, dtype, "spmm" in ops)
            want = {op: products("scipy", S, x, X)[op][0]() for op in ops}
            tol = 1e-4 if np.dtype(dtype) in (np.float32, np.complex64) else 1e-10
            for op in ops:
                info[(op, name, dtype)] = (n, S.nnz, float(np.linalg.norm(want[op])))
            for column in columns:
                if column == "js-dia" and name == "random":
                    for op in ops:
                        cells.put((op, name, dtype), column, mark="-")
                    continue
                _measure_column(column, S, x, X, ops, want, tol, args.repeats, cells, name)
    return info


def _measure_column(column, S, x, X, ops, want, tol, repeats, cells, name):
    dtype = S.dtype.name
    scipy_calls = products("scipy", S, x, X) if column != "scipy" else {}
    try:
        calls = products(column, S, x, X)
    except Exception as e:  # a failing column must not stop the others
        for op in ops:
            cells.put((op, name, dtype), column, mark="error")
        cells.note(f"{column} {name} {dtype}: {type(e).__name__}: {str(e)[:200]}")
        return
    for op in ops:
        key = (op, name, dtype)
        if op not in calls:
            cells.put(key, column, mark="n/a")
            cells.note("bcsr: jax.experimental.sparse.BCSR has no transpose")
            continue
        _common.check_and_time(
            cells, key, column, lambda op=op: calls[op],
            lambda got, op=op: error(got, want[op]), tol, repeats,
            f"{column} {op} {name} {dtype}", baseline=scipy_calls.get(op, (None,))[0])


def child_argv(args) -> list[str]:
    return [
        "--scale",
        repr(args.scale),
        "--repeats",
        str(args.repeats),
        "--op",
        *args.op,
        "--matrices",
        *args.matrices,
        "--dtypes",
        *args.dtypes,
    ]


def run_petsc(args, cells: _common.Cells, info: dict) -> None:
    def side(names):
        ns = [str(_matrices.rows_at_scale(m, args.scale)) for m in names]
        return ["--matrix", *names, "--n", *ns, "--op", *args.op,
                "--repeats", str(args.repeats), "--k", str(K)]

    def scipy_calls(name):  # SciPy's float64 calls for the matrix PETSc runs next
        n = _matrices.rows_at_scale(name, args.scale)
        S = scipy_matrix(name, n, "float64")
        x, X = operands(n, "float64", "spmm" in args.op)
        calls = products("scipy", S, x, X)
        return {(op, name, "float64"): calls[op][0] for op in args.op}

    timeout = max(300.0, 3600.0 * args.scale)
    _common.petsc_cells(cells, info, side, timeout, args.no_petsc, tol=1e-8,
                        baseline=scipy_calls)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    cells = _common.Cells()
    if CHILD:
        measure(CHILD_COLUMNS[CHILD], args, cells)
        _common.report_cells(cells)
        return 0

    backends = {"js": _common.backend_in_use(), "js-dia": _common.backend_in_use("dia_matmul")}
    bandwidth = _common.copy_bandwidth(32 if args.quick else 400)
    _common.run_children(
        "bench_spmv.py",
        CHILD_COLUMNS,
        child_argv(args),
        max(300.0, 3600.0 * args.scale),
        cells,
        backends,
        args.no_children,
    )
    # One process at a time holds the big matrices: the children, then this process's
    # own columns, then PETSc.
    info = measure(["scipy", "js", "js-dia", "dropin", "bcsr"], args, cells)
    run_petsc(args, cells, info)

    print(
        f"{_common.machine()}\nscale {args.scale:g}; median of {args.repeats} after one warm-up\n"
        f"jaxsparse backend per column: {backends}\ncopy bandwidth {bandwidth:.1f} GB/s"
    )
    payload = {
        "benchmark": "spmv",
        "jax": jax.__version__,
        "backends": backends,
        "copy_gbps": bandwidth,
        "scale": args.scale,
        "repeats": args.repeats,
        "columns": ["scipy", *COLUMNS],
        "rows": [],
        "notes": cells.notes,
    }
    for op in args.op:
        rows = [(k, [k[1], k[2], v[0], v[1]]) for k, v in info.items() if k[0] == op]
        nbytes = {
            k: _matrices.csr_bytes(
                head[3], head[2], head[2], np.dtype(k[2]).itemsize, K if op == "spmm" else 1
            )
            for k, head in rows
        }
        for table in _common.result_tables(cells, rows, LEAD, COLUMNS, OPS[op], bandwidth, nbytes):
            print("\n" + table)
        for k, head in rows:
            payload["rows"].append(
                _common.json_row(
                    cells,
                    k,
                    COLUMNS,
                    op=op,
                    matrix=k[1],
                    dtype=k[2],
                    n=head[2],
                    nnz=head[3],
                    bytes=nbytes[k],
                    roofline_ms=nbytes[k] / bandwidth / 1e6,
                )
            )
    print()
    for note in cells.notes:
        print(f"note: {note}")
    _common.write_json(args.json, payload)
    if args.plot and _common.have_matplotlib():
        import _plots

        _plots.spmv_figures(payload, args.plot, OPS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
