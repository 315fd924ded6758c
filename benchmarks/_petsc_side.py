"""PETSc timings for the benchmarks, run under MPI by the system Python:

    mpirun --allow-run-as-root --oversubscribe -n 2 /usr/bin/python3 \\
        benchmarks/_petsc_side.py --matrix banded poisson2d --n 2000000 1960000 \\
        --op spmv spmv_t spmm --repeats 10

Each rank builds only its own rows (PETSc's default row split) with ``_matrices`` (NumPy
only), assembles an MPIAIJ matrix and times, per matrix and op, the median over
``--repeats`` calls after one warm-up, each call between two barriers:

- ``spmv``: ``A.mult(x, y)``; ``spmv_t``: ``A.multTranspose(y, x)``;
- ``spmm``: ``A.matMult(X, Y)`` with a dense ``X`` of ``--k`` columns;
- ``cg``: ``KSPCG`` with ``-pc_type none``, ``rtol = atol = 0``, exactly ``--maxiter``
  iterations, ``b`` the test vector.

Rank 0 prints one JSON object per (matrix, op) on stdout, with a norm of the result for
the parent to check against SciPy. The real PETSc build is float64 only.

With ``--paced PATH`` (how the benchmarks run it) each timed call waits for the
benchmark's word over the socket at PATH, and the benchmark times SciPy's call between
two of them (``_paced.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import _matrices
import _paced
import numpy as np


def _timed(comm, fn, args, op: str) -> float:
    fn()
    if args.link is not None:
        args.link.ready(op, args.repeats)
    times = []
    for _ in range(args.repeats):
        if args.link is not None:
            args.link.wait()
        comm.barrier()
        t0 = time.perf_counter()
        fn()
        comm.barrier()
        times.append(time.perf_counter() - t0)
        if args.link is not None:
            args.link.report(times[-1] * 1e3)
    return statistics.median(times) * 1e3


def _matrix(PETSc, name: str, n: int):
    comm = PETSc.COMM_WORLD
    start, stop = _matrices.ownership(n, comm.size, comm.rank)
    indptr, indices, data = _matrices.build_rows(name, n, start, stop, "float64")
    it = PETSc.IntType
    A = PETSc.Mat().createAIJ(
        size=((stop - start, n), (stop - start, n)),
        csr=(indptr.astype(it), indices.astype(it), data.astype(PETSc.ScalarType)),
        comm=comm,
    )
    A.assemble()
    return A, start, stop


def _vec(A, n, start, stop, seed=1):
    v = A.createVecRight()
    v.setArray(_matrices.vector(n, seed, start, stop))
    return v


def _run(PETSc, A, n, start, stop, op, args) -> dict:
    comm = PETSc.COMM_WORLD
    if op in ("spmv", "spmv_t"):
        x = _vec(A, n, start, stop)
        y = A.createVecLeft()
        fn = (lambda: A.mult(x, y)) if op == "spmv" else (lambda: A.multTranspose(x, y))
        ms = _timed(comm, fn, args, op)
        return {"ms": ms, "norm": y.norm()}
    if op == "spmm":
        X = PETSc.Mat().createDense(size=((stop - start, n), (None, args.k)), comm=comm)
        X.setUp()
        cols = [_matrices.vector(n, 1 + j, start, stop) for j in range(args.k)]
        X.getDenseArray()[:] = np.stack(cols, axis=1)
        X.assemble()
        Y = A.matMult(X)
        ms = _timed(comm, lambda: A.matMult(X, Y), args, op)
        return {"ms": ms, "norm": Y.norm(PETSc.NormType.FROBENIUS)}
    if op == "cg":
        ksp = PETSc.KSP().create(comm)
        ksp.setOperators(A)
        ksp.setType("cg")
        ksp.getPC().setType("none")
        ksp.setTolerances(rtol=0.0, atol=0.0, divtol=1e300, max_it=args.maxiter)  # all its
        b, x = _vec(A, n, start, stop), A.createVecLeft()
        ms = _timed(comm, lambda: ksp.solve(b, x), args, op)
        return {"ms": ms, "norm": x.norm(), "iterations": ksp.getIterationNumber()}
    raise ValueError(f"unknown op {op!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--matrix", nargs="+", required=True, choices=_matrices.NAMES)
    parser.add_argument("--n", type=int, nargs="+", required=True, help="rows, per matrix")
    parser.add_argument("--op", nargs="+", default=["spmv"])
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--k", type=int, default=16, help="columns of X for spmm")
    parser.add_argument("--maxiter", type=int, default=300, help="CG iterations")
    parser.add_argument("--paced", help="the benchmark's socket: wait for it before each call")
    args = parser.parse_args(argv)
    if len(args.n) != len(args.matrix):
        parser.error("give one --n per --matrix")

    import petsc4py

    petsc4py.init([])  # PETSc must not parse this script's options
    from petsc4py import PETSc

    rank, size = PETSc.COMM_WORLD.rank, PETSc.COMM_WORLD.size
    args.link = None if args.paced is None else _paced.SideLink(args.paced, rank)
    for name, n in zip(args.matrix, args.n, strict=True):
        A, start, stop = _matrix(PETSc, name, n) if args.dtype == "float64" else (None, 0, 0)
        for op in args.op:
            out = {"matrix": name, "n": n, "op": op, "dtype": args.dtype, "np": size}
            if A is None:
                out["na"] = "the real PETSc build is float64 only"
            else:
                try:
                    out.update(_run(PETSc, A, n, start, stop, op, args))
                except Exception as error:  # report, keep going with the other ops
                    out["error"] = f"{type(error).__name__}: {error}"
            if rank == 0:
                print(json.dumps(out), flush=True)
        if A is not None:
            A.destroy()
    return 0


if __name__ == "__main__":
    sys.exit(main())
