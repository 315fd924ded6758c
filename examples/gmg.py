"""Geometric multigrid as the preconditioner of conjugate gradients, compiled into the
solver loop, written with jaxsparse's core API; compared with plain CG and with SciPy
running the same V-cycle.

    python examples/gmg.py                # 1023 x 1023 grid (1M unknowns), 9 levels
    python examples/gmg.py --quick        # 63 x 63
    python examples/gmg.py --devices 2    # the fine level sharded over 2 devices

The problem is the 2-D Poisson equation on a ``(2^L - 1)^2`` grid. Each level has its
operator ``A_l``, the prolongation ``P_l`` (bilinear interpolation, a sparse matrix) and
the restriction ``R_l = P_l.T / 4`` (full weighting); coarse operators are Galerkin
products ``R_l A_l P_l`` formed once with ``js.ops.spgemm``. A V-cycle smooths with
weighted Jacobi (two sweeps before and after, weight 4/5) and solves the coarsest level
with a precomputed dense inverse. It is symmetric, so it is a valid CG preconditioner.

The V-cycle is a plain JAX function of sparse products, passed to ``js.linalg.cg`` as
``M``: the whole preconditioned solve is one compiled loop, no host callback. With
``--devices N`` the fine level (most of the work: its smoothing sweeps and residual) is
sharded; the coarser levels, a quarter of the unknowns and less, are replicated.
SciPy's run is the same V-cycle written with ``scipy.sparse``, as
``scipy.sparse.linalg.cg``'s ``M``.
"""

import _common

args = _common.setup(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--levels", type=int, default=10, help="grid (2^L - 1)^2"),
    p.add_argument("--rtol", type=float, default=1e-8)), x64=True)

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
import scipy.sparse.linalg as spla  # noqa: E402

import jaxsparse as js  # noqa: E402

OMEGA, SWEEPS, COARSEST = 0.8, 2, 7  # Jacobi weight, sweeps each way, coarsest side


def laplacian(k: int) -> sps.csr_array:
    t = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    return (sps.kron(t, sps.eye_array(k)) + sps.kron(sps.eye_array(k), t)).tocsr()


def interpolation(k_coarse: int) -> sps.csr_array:
    """1-D linear interpolation from ``k_coarse`` to ``2 k_coarse + 1`` points."""
    cols = np.arange(k_coarse)
    rows = np.concatenate([2 * cols, 2 * cols + 1, 2 * cols + 2])
    vals = np.concatenate([np.full(k_coarse, 0.5), np.ones(k_coarse), np.full(k_coarse, 0.5)])
    return sps.csr_array((vals, (rows, np.tile(cols, 3))), shape=(2 * k_coarse + 1, k_coarse))


def hierarchy(k: int):
    """Per level: ``(A, P, R)`` as jaxsparse CSR, the coarsest level's dense inverse."""
    A = js.CSR.from_scipy(laplacian(k))
    levels = []
    while k > COARSEST:
        kc = (k - 1) // 2
        p1 = interpolation(kc)
        P = js.CSR.from_scipy(sps.kron(p1, p1).tocsr())
        R = js.CSR.from_scipy(sps.kron(p1, p1).T.tocsr() / 4)
        levels.append((A, P, R))
        A = js.ops.spgemm(R, js.ops.spgemm(A, P))  # Galerkin: R A P
        k = kc
    return levels, A, np.linalg.inv(A.todense())


def vcycle(levels, coarse_inv, fine=None):
    """The V-cycle as a JAX function ``r -> M r``. ``fine``: the fine level's sharded
    operator; vectors on it are in its layout and are moved between layouts at the
    first restriction and the last prolongation."""
    diag_inv = [1.0 / A.diagonal() for A, _, _ in levels]
    if fine is not None:
        diag_inv[0] = fine.shard_vector(diag_inv[0])

    def smooth(A, d, b, x, sweeps):
        for _ in range(sweeps):
            x = x + OMEGA * d * (b - A @ x)
        return x

    def cycle(level, b):
        if level == len(levels):
            return coarse_inv @ b
        A, P, R = levels[level]
        sharded = level == 0 and fine is not None
        if sharded:
            A = fine
        d = diag_inv[level]
        x = smooth(A, d, b, OMEGA * d * b, SWEEPS - 1)
        r = b - A @ x
        rc = R @ (fine.unshard_vector(r) if sharded else r)
        xc = P @ cycle(level + 1, rc)
        x = x + (fine.shard_vector(xc) if sharded else xc)
        return smooth(A, d, b, x, SWEEPS)

    return lambda r: cycle(0, r)


def scipy_vcycle(levels, coarse_inv):
    """The same V-cycle with scipy.sparse, for scipy.sparse.linalg.cg's ``M``."""
    mats = [(A.to_scipy(), P.to_scipy(), R.to_scipy()) for A, P, R in levels]
    diag_inv = [1.0 / A.diagonal() for A, _, _ in mats]

    def cycle(level, b):
        if level == len(mats):
            return coarse_inv @ b
        (A, P, R), d = mats[level], diag_inv[level]
        x = OMEGA * d * b
        for _ in range(SWEEPS - 1):
            x = x + OMEGA * d * (b - A @ x)
        x = x + P @ cycle(level + 1, R @ (b - A @ x))
        for _ in range(SWEEPS):
            x = x + OMEGA * d * (b - A @ x)
        return x

    n = mats[0][0].shape[0]
    return spla.LinearOperator((n, n), matvec=lambda r: cycle(0, r), dtype=np.float64)


def main() -> int:
    levels_wanted = 6 if args.quick else args.levels
    k = 2 ** levels_wanted - 1
    k = int(round((k + 1) * args.scale ** 0.5)) - 1 if args.scale != 1 else k
    k = 2 ** int(np.log2(k + 1)) - 1  # the V-cycle needs (2^L - 1) points a side
    mesh = _common.mesh(args.devices)
    levels, coarse, coarse_inv = hierarchy(k)
    S = levels[0][0].to_scipy()
    n = S.shape[0]
    b_host = np.random.default_rng(0).standard_normal(n)
    A = levels[0][0] if mesh is None else js.sharding.shard(S, mesh)
    b = jnp.asarray(b_host) if mesh is None else A.shard_vector(b_host)
    to_global = (lambda x: x) if mesh is None else A.unshard_vector
    M = vcycle(levels, jnp.asarray(coarse_inv), fine=None if mesh is None else A)
    maxiter = 4 * k

    def counted(solve):  # iterations, from a run with a callback (not timed)
        count = [0]
        solve(lambda _: count.__setitem__(0, count[0] + 1))
        return count[0]

    runs = {
        "jaxsparse CG": (jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=args.rtol,
                                                          maxiter=maxiter)),
                         lambda cb: js.linalg.cg(A, b, rtol=args.rtol, maxiter=maxiter,
                                                 callback=cb)),
        "jaxsparse GMG-CG": (jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=args.rtol, M=M,
                                                              maxiter=maxiter)),
                             lambda cb: js.linalg.cg(A, b, rtol=args.rtol, M=M,
                                                     maxiter=maxiter, callback=cb)),
    }
    Ms = scipy_vcycle(levels, coarse_inv)
    scipy_runs = {
        "SciPy CG": lambda cb=None: spla.cg(S, b_host, rtol=args.rtol, maxiter=maxiter,
                                            callback=cb),
        "SciPy GMG-CG": lambda cb=None: spla.cg(S, b_host, rtol=args.rtol, M=Ms,
                                                maxiter=maxiter, callback=cb),
    }
    report = _common.Report(
        f"GMG-preconditioned CG, 2-D Poisson {k} x {k}: n = {n}, nnz = {S.nnz}, "
        f"{len(levels) + 1} levels, rtol = {args.rtol:g}", args,
        fine_level="one device" if mesh is None else
        f"sharded over {args.devices} devices ({A.plan.local_format.upper()} blocks)")
    results, checks = {}, {}
    with _common.mesh_context(mesh):
        for name, (fn, with_callback) in runs.items():
            fn(A, b)  # compile
            seconds, (x, info) = _common.median_time(lambda fn=fn: fn(A, b), args.repeats)
            results[name] = (seconds, counted(with_callback), np.asarray(to_global(x)),
                             int(info))
    for name, run in scipy_runs.items():
        seconds, (x, info) = _common.median_time(run, args.repeats)
        results[name] = (seconds, counted(run), x, int(info))
    for name, (seconds, its, x, info) in results.items():
        residual = float(np.linalg.norm(b_host - S @ x) / np.linalg.norm(b_host))
        base = results["SciPy GMG-CG" if "GMG" in name else "SciPy CG"][0]
        report.add(name, seconds, iterations=its, info=info, residual=residual,
                   speedup_vs_scipy=base / seconds)
        checks[f"{name} converged (residual {residual:.1e})"] = (
            info == 0 and residual < 10 * args.rtol)
    gmg, cg = results["jaxsparse GMG-CG"][1], results["jaxsparse CG"][1]
    checks[f"the V-cycle cuts iterations ({cg} -> {gmg})"] = gmg * 5 < cg
    checks["GMG iterations equal SciPy's with the same V-cycle "
           f"({gmg} vs {results['SciPy GMG-CG'][1]})"] = (
        abs(gmg - results["SciPy GMG-CG"][1]) <= 1)
    return report.show(checks=checks)


if __name__ == "__main__":
    raise SystemExit(main())
