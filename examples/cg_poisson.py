"""Conjugate gradients on a 2-D Poisson problem, with and without a Jacobi
preconditioner, written by a SciPy user; SciPy and the drop-in side by side.

    python examples/cg_poisson.py                # 700 x 700 grid (2.4M nonzeros)
    python examples/cg_poisson.py --quick        # 120 x 120, every solve on the device
    python examples/cg_poisson.py --devices 2

The operator is ``-div(c grad u)`` on the unit square (Dirichlet boundary, 5-point
stencil) with a coefficient ``c`` that varies over two orders of magnitude, so the
matrix's diagonal varies and Jacobi preconditioning (``M = diag(A)^-1``) pays: the
constant-coefficient Laplacian has a constant diagonal, where Jacobi changes nothing.
``solve`` below is plain SciPy code; it runs once with ``scipy.sparse`` and once with
``jaxsparse.scipy_compat``. Iterations are counted with ``callback`` in a separate run,
because a callback costs a device-to-host copy per iteration on the device path.
"""

import _common

args = _common.setup(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--k", type=int, default=700, help="grid points a side"),
    p.add_argument("--rtol", type=float, default=1e-8)), x64=True)

import numpy as np  # noqa: E402
import scipy.sparse  # noqa: E402
import scipy.sparse.linalg  # noqa: E402

import jaxsparse.scipy_compat  # noqa: E402
import jaxsparse.scipy_compat.linalg  # noqa: E402


# -- the SciPy user's program (``sp``/``spla`` are the caller's imports) ----------------
def poisson(sp, k, contrast=2.0, seed=0):
    """``-div(c grad u)`` on a k x k grid: ``G.T @ diag(c_faces) @ G``."""
    rng = np.random.default_rng(seed)
    h = 1.0 / (k + 1)
    x = (np.arange(k + 1) + 0.5) * h
    phase = rng.uniform(0, 2 * np.pi, 2)
    def c(X, Y):
        return 10.0 ** (contrast / 2 * np.sin(2 * np.pi * X + phase[0])
                        * np.sin(2 * np.pi * Y + phase[1]))
    d = sp.diags([np.ones(k), -np.ones(k)], [0, -1], shape=(k + 1, k)) / h  # one axis
    eye = sp.eye(k)
    gx, gy = sp.kron(eye, d), sp.kron(d, eye)  # differences along x and along y
    centres = (np.arange(k) + 1) * h
    cx = c(*np.meshgrid(x, centres, indexing="xy")).ravel()  # x-faces, row by row
    cy = c(*np.meshgrid(centres, x, indexing="xy")).ravel()
    A = gx.T @ sp.diags(cx) @ gx + gy.T @ sp.diags(cy) @ gy
    return A.tocsr()


def solve(sp, spla, A, b, rtol, jacobi, callback=None):
    M = sp.diags(1.0 / A.diagonal()) if jacobi else None
    x, info = spla.cg(A, b, rtol=rtol, M=M, maxiter=int(20 * A.shape[0] ** 0.5),
                      callback=callback)
    return x, info
# -----------------------------------------------------------------------------------------


def main() -> int:
    k = int((120 if args.quick else args.k) * args.scale ** 0.5)
    if args.devices > 1:
        _common.devices(args.devices)
    libraries = {"SciPy": (scipy.sparse, scipy.sparse.linalg),
                 "jaxsparse.scipy_compat": (jaxsparse.scipy_compat,
                                            jaxsparse.scipy_compat.linalg)}
    matrices = {name: poisson(sp, k) for name, (sp, _) in libraries.items()}
    b = np.ones(k * k)
    nnz = matrices["SciPy"].nnz
    report = _common.Report(
        f"CG on -div(c grad u), {k} x {k} grid: n = {k * k}, nnz = {nnz}, rtol = {args.rtol:g}",
        args, note="the first solve of each kind (device upload and compile) is run "
                   "before the timing")
    results, checks = {}, {}
    for jacobi in (False, True):
        for name, (sp, spla) in libraries.items():
            A = matrices[name]
            count = [0]
            solve(sp, spla, A, b, args.rtol, jacobi,
                  callback=lambda xk, count=count: count.__setitem__(0, count[0] + 1))
            seconds, (x, info) = _common.median_time(
                lambda sp=sp, spla=spla, A=A, j=jacobi: solve(sp, spla, A, b, args.rtol, j),
                args.repeats)
            residual = float(np.linalg.norm(b - matrices["SciPy"] @ np.asarray(x))
                             / np.linalg.norm(b))
            label = f"{name}{', Jacobi' if jacobi else ''}"
            results[label] = (seconds, count[0], np.asarray(x))
            scipy_s = results[f"SciPy{', Jacobi' if jacobi else ''}"][0]
            report.add(label, seconds, iterations=count[0], info=int(info),
                       residual=residual, speedup=scipy_s / seconds)
            checks[f"{label} converged (info 0, residual {residual:.1e})"] = (
                int(info) == 0 and residual < 10 * args.rtol)
    plain, jac = results["jaxsparse.scipy_compat"][1], results["jaxsparse.scipy_compat, Jacobi"][1]
    checks[f"Jacobi saves iterations ({plain} -> {jac})"] = jac < plain
    report.facts["matrix"] = _common.device_copy(matrices["jaxsparse.scipy_compat"])
    for tag in ("", ", Jacobi"):
        a, s = results[f"jaxsparse.scipy_compat{tag}"], results[f"SciPy{tag}"]
        # CG's rounding differs between the two summation orders; over a thousand
        # iterations the counts drift by a few (well under 1%).
        checks[f"iterations match SciPy's{tag} ({a[1]} vs {s[1]})"] = (
            abs(a[1] - s[1]) <= 2 + 0.01 * s[1])
    return report.show(checks=checks)


if __name__ == "__main__":
    raise SystemExit(main())
