"""Figure 1 of the Legate Sparse paper, unmodified but for the import.

    python examples/power_iteration.py             # n = 20000, 8M nonzeros
    python examples/power_iteration.py --quick     # n = 3000
    python examples/power_iteration.py --devices 2

The program estimates the largest eigenvalue of a random symmetric matrix by power
iteration. ``figure1_build`` and ``figure1_iterate`` below are the paper's code, cut in
two so each part can be timed. It runs twice in one process, once with ``import numpy
as np; import scipy.sparse as sp`` and once with ``import jaxsparse.scipy_compat as
sp``, from the same random state; the eigenvalues and iteration times are printed side
by side. The first products, which move the matrix to the device and compile, run
before the timing; building the matrix is timed apart. The drop-in runs the products
on the device (sharded over ``--devices``) once the matrix is large enough, and in
SciPy below that (``docs/dropin.md``, "Routing by cost").
"""

import _common

args = _common.setup(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--n", type=int, default=20_000),
    p.add_argument("--iters", type=int, default=100),
    p.add_argument("--density", type=float, default=0.01, help="the paper's default")),
    x64=True)

import numpy  # noqa: E402
import scipy.sparse  # noqa: E402

import jaxsparse.scipy_compat  # noqa: E402


# -- the paper's Figure 1, in two parts so that each can be timed (the imports are the
#    caller's) ------------------------------------------------------------------------
def figure1_build(np, sp, n, density):
    # Generate a random sparse matrix.
    A = sp.random(n, n, format='csr', density=density)
    # Make a positive semi-definite matrix from A.
    A = 0.5 * (A + A.T) + n * sp.eye(n)
    return A


def figure1_iterate(np, A, iters):
    # Estimate the maximum eigen-value via the Raleigh quotient.
    x = np.random.rand(A.shape[0])
    for _ in range(iters):
        x = A @ x
        x /= np.linalg.norm(x)
    result = np.dot(x.T, A @ x)
    return result
# -- end of Figure 1 --------------------------------------------------------------------


def main() -> int:
    n = int((3000 if args.quick else args.n) * args.scale ** 0.5)  # nnz ~ n^2: weak scaling
    iters = 30 if args.quick else args.iters
    if args.devices > 1:
        _common.devices(args.devices)

    def build(sp):
        numpy.random.seed(0)  # the same matrix and start vector for both
        return figure1_build(numpy, sp, n, args.density)

    def iterate(A):
        numpy.random.seed(1)
        return figure1_iterate(numpy, A, iters)

    build_scipy_s, S = _common.median_time(lambda: build(scipy.sparse), 1)
    build_js_s, A = _common.median_time(lambda: build(jaxsparse.scipy_compat), 1)
    iterate(A)  # the first products move the matrix to the device (and compile)
    scipy_s, lam_scipy = _common.median_time(lambda: iterate(S), args.repeats)
    js_s, lam_js = _common.median_time(lambda: iterate(A), args.repeats)
    report = _common.Report(
        f"power iteration (the paper's Figure 1): n = {n}, nnz = {S.nnz}, {iters} iterations",
        args, products=_common.device_copy(A),
        build=f"SciPy {build_scipy_s:.2f} s, jaxsparse.scipy_compat {build_js_s:.2f} s "
              "(SciPy's own code in both)")
    report.add("SciPy", scipy_s, eigenvalue=float(lam_scipy))
    report.add("jaxsparse.scipy_compat", js_s, eigenvalue=float(lam_js),
               speedup=scipy_s / js_s)
    rel = abs(float(lam_js) - float(lam_scipy)) / abs(float(lam_scipy))
    return report.show(checks={f"eigenvalues agree (relative difference {rel:.1e})": rel < 1e-8,
                               "the drop-in matrix is a SciPy matrix": isinstance(
                                   A, scipy.sparse.csr_array | scipy.sparse.csr_matrix)})


if __name__ == "__main__":
    raise SystemExit(main())
