"""The Pallas GPU kernels against the xla backend and ``jax.experimental.sparse``
(cuSPARSE on a GPU), in achieved GB/s, measured in one run.

    python benchmarks/bench_pallas.py            # on a GPU: full sizes
    python benchmarks/bench_pallas.py --quick    # tiny sizes (what the test runs)

Runs as-is wherever jax sees a GPU. On a CPU-only machine the Pallas kernels run in
Pallas's interpreter, so the script then checks every result at small sizes and prints
the table with a note that its times are not GPU figures (``--quick`` is implied).

Rows: SpMV ``A @ x``, the transposed product ``A.T @ y`` (no conversion), SpMM with 16
columns, each for the banded (11 diagonals), 2-D Poisson and random (10 a row) matrices
of ``benchmarks/_matrices.py``; and SDDMM (n x n, density 1e-3, inner size 64). Columns:

- ``pallas``: the op with ``backend="pallas"``, jitted;
- ``xla``: the same op with ``backend="xla"`` (the jnp reference kernels);
- ``jax-sparse``: ``jax.experimental.sparse`` (BCSR products, which call cuSPARSE on a
  GPU; ``bcoo_dot_general_sampled`` for SDDMM).

Each cell is GB/s: the bytes the op must move at least (``--model`` in docs/kernels.md:
values and indices once, the dense operands read once, the result written once) over
the median time. The last column is the Pallas kernel's fraction of the device's copy
bandwidth, measured first (the practical roofline; H100 / H200 HBM peaks are 3.35 /
4.8 TB/s).
"""

from __future__ import annotations

import os
import sys

import _common
import _matrices

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # the GPU decides; CPU runs stay tidy

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)  # float64 rows need it

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
from jax.experimental import sparse as jsparse  # noqa: E402

import jaxsparse as js  # noqa: E402

COLUMNS = ["pallas", "xla", "jax-sparse"]
LEAD = ["matrix", "op", "dtype", "n", "nnz"]
MATRICES = ("banded", "poisson2d", "random")
SPMM_COLUMNS = 16
_SAMPLED = (([1], [0]), ([], []))


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=20, others=False)
    p.add_argument("--n", type=int, default=4_000_000, help="rows of the SpMV matrices")
    p.add_argument("--sddmm-n", type=int, default=20_000)
    p.add_argument("--dtypes", nargs="+", default=["float32", "float64", "bfloat16"])
    p.add_argument("--matrices", nargs="+", choices=MATRICES, default=list(MATRICES),
                   help="the SpMV matrices (SDDMM always runs)")
    args = p.parse_args(argv)
    args.gpu = jax.default_backend() in ("gpu", "cuda", "rocm")
    if args.quick or not args.gpu:
        args.n, args.sddmm_n, args.repeats = 2048, 1024, 3
    return args


def device_copy_gbs(megabytes: int) -> float:
    """Bytes read + written per second by a jitted copy of a large device array."""
    x = jnp.ones(megabytes * 2**20 // 4, jnp.float32)
    copy = jax.jit(lambda x: x + 1)
    ms = _common.median_ms(lambda: copy(x), 5)
    return 2 * x.nbytes / (ms * 1e-3) / 1e9


def _matrix(name, n, dtype):
    if name == "poisson2d":
        n = _matrices.grid_side(n) ** 2
    indptr, indices, data = _matrices.build_rows(name, n)
    S = sps.csr_array((data, indices.astype(np.int32), indptr.astype(np.int32)), shape=(n, n))
    return S, np.dtype(dtype)


def _spmv_calls(S, dtype, op):
    """``{column: (jitted fn, args)}``, the float64 reference and the bytes moved."""
    n = S.shape[0]
    A = js.CSR.from_scipy(S).astype(dtype)
    B = jsparse.BCSR((jnp.asarray(S.data, dtype), jnp.asarray(S.indices),
                      jnp.asarray(S.indptr)), shape=S.shape)
    k = SPMM_COLUMNS if op == "spmm" else 1
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, k) if op == "spmm" else n)
    xd = jnp.asarray(x, dtype)
    if op == "spmv_T":  # BCSR has no transposed product; BCOO's is cuSPARSE's COO one
        ours = lambda backend: jax.jit(  # noqa: E731
            lambda A, x: js.ops.spmv(A, x, transpose=True, backend=backend))
        theirs = jax.jit(lambda B, x: B.T @ x)
        B = B.to_bcoo()
        want = S.T @ np.asarray(xd, np.float64)
    else:
        product = js.ops.spmm if op == "spmm" else js.ops.spmv
        ours = lambda backend: jax.jit(  # noqa: E731
            lambda A, x: product(A, x, backend=backend))
        theirs = jax.jit(lambda B, x: B @ x)
        want = S @ np.asarray(xd, np.float64)
    calls = {"pallas": (ours("pallas"), (A, xd)), "xla": (ours("xla"), (A, xd)),
             "jax-sparse": (theirs, (B, xd))}
    moved = _matrices.csr_bytes(S.nnz, n, n, dtype.itemsize, k)
    return calls, want, moved


def _sddmm_calls(n, dtype, inner=64):
    rng = np.random.default_rng(0)
    S = sps.random_array((n, n), density=1e-3, format="csr", rng=rng)
    S.sort_indices()
    P = jnp.asarray(rng.standard_normal((n, inner)), dtype)
    Q = jnp.asarray(rng.standard_normal((inner, n)), dtype)
    A = js.CSR.from_scipy(S).astype(dtype)
    coo = S.tocoo()
    idx = jnp.stack([jnp.asarray(coo.row), jnp.asarray(coo.col)], axis=1)
    data = jnp.asarray(coo.data, dtype)
    ours = lambda backend: jax.jit(  # noqa: E731
        lambda A, P, Q: js.ops.sddmm(A, P, Q, backend=backend).data)
    theirs = jax.jit(
        lambda P, Q, idx, d: jsparse.bcoo_dot_general_sampled(P, Q, idx,
                                                             dimension_numbers=_SAMPLED) * d)
    Pf, Qf = np.asarray(P, np.float64), np.asarray(Q, np.float64)
    want = np.einsum("ij,ji->i", Pf[coo.row], Qf[:, coo.col]) * coo.data
    calls = {"pallas": (ours("pallas"), (A, P, Q)), "xla": (ours("xla"), (A, P, Q)),
             "jax-sparse": (theirs, (P, Q, idx, data))}
    # indices, values and the result once; a row of P and a column of Q per entry
    moved = S.nnz * (8 + 2 * dtype.itemsize + 2 * inner * dtype.itemsize)
    return S, calls, want, moved


def _tolerance(dtype) -> float:
    return {"float64": 1e-10, "float32": 1e-4}.get(dtype.name, 5e-2)


def _relative_error(want):
    """Error of a result (cut to ``want``'s length: SDDMM values may carry padding)
    relative to the largest entry of ``want``."""
    scale = max(1.0, float(np.max(np.abs(want), initial=0.0)))

    def error(got):
        got = np.asarray(got, np.float64)[: want.shape[0]]
        return np.max(np.abs(got - want), initial=0.0) / scale

    return error


def measure(args, cells: _common.Cells) -> list:
    rows = []
    jobs = [(name, op, dtype) for name in args.matrices for op in ("spmv", "spmv_T", "spmm")
            for dtype in args.dtypes]
    jobs += [("sddmm", "sddmm", dtype) for dtype in args.dtypes]
    for name, op, dtype in jobs:
        dtype = np.dtype(jnp.dtype(dtype))
        if op == "sddmm":
            S, calls, want, moved = _sddmm_calls(args.sddmm_n, dtype)
        else:
            S, _ = _matrix(name, args.n, dtype)
            calls, want, moved = _spmv_calls(S, dtype, op)
        key = (name, op, dtype.name)
        error = _relative_error(want)
        for column, (fn, fargs) in calls.items():
            _common.check_and_time(
                cells, key, column,
                lambda fn=fn, fargs=fargs: ((lambda: fn(*fargs)), None), error,
                _tolerance(dtype), args.repeats, f"{column} {name} {op} {dtype.name}",
                reference="float64 SciPy")
        rows.append((key, [name, op, dtype.name, S.shape[0], S.nnz], moved))
    return rows


def table(cells, rows, copy_gbs) -> tuple[str, list]:
    out, payload = [], []
    for key, lead, moved in rows:
        values = {}
        for column in COLUMNS:
            mark = cells.marks.get(key, {}).get(column)
            ms = cells.ms.get(key, {}).get(column)
            values[column] = mark if mark else moved / (ms * 1e-3) / 1e9
        pallas = values["pallas"]
        frac = pallas / copy_gbs if not isinstance(pallas, str) else "-"
        out.append(lead + [values[c] for c in COLUMNS] + [frac])
        payload.append({"key": key, "bytes": moved, "gbs": values, "of_copy": frac})
    header = LEAD + [f"{c} GB/s" for c in COLUMNS] + ["pallas/copy"]
    return _common.format_table(header, out, decimals=2), payload


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    copy_gbs = device_copy_gbs(64 if args.quick or not args.gpu else 2048)
    cells = _common.Cells()
    rows = measure(args, cells)
    device = jax.devices()[0]
    print(f"{_common.machine()}\ndevice: {device.device_kind} ({jax.default_backend()}); "
          f"copy bandwidth {copy_gbs:.0f} GB/s; median of {args.repeats} after one warm-up")
    text, payload = table(cells, rows, copy_gbs)
    print("\nGB/s achieved (bytes that must move / median time)\n" + text + "\n")
    if not args.gpu:
        cells.note("no GPU: the Pallas kernels ran in Pallas's interpreter on the CPU, so "
                   "these are correctness checks at small sizes, not GPU figures")
    for note in cells.notes:
        print(f"note: {note}")
    _common.write_json(args.json, {"benchmark": "pallas", "jax": jax.__version__,
                                   "device": device.device_kind, "copy_gbs": copy_gbs,
                                   "gpu": args.gpu, "rows": payload, "notes": cells.notes})
    return 0


if __name__ == "__main__":
    sys.exit(main())
