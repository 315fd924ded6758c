"""``python -m jaxsparse demo``: two SciPy programs run through jaxsparse, side by side.

(a) The SC'23 Legate Sparse paper's Figure 1: estimate the largest eigenvalue of a random
    sparse matrix by power iteration. (b) A 2-D Poisson solve by conjugate gradients.
Each prints SciPy's result and time next to jaxsparse's (the jitted run's time, the
compile timed separately) and how closely the two agree.
"""

from __future__ import annotations

import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

import jax
import jax.numpy as jnp
import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

import jaxsparse as js


@dataclasses.dataclass(frozen=True)
class Comparison:
    """One program run by SciPy and by jaxsparse."""

    title: str
    scipy_value: float  # the eigenvalue estimate / the relative residual
    jax_value: float
    rel_diff: float  # ||x_jax - x_scipy|| / ||x_scipy|| of the result vectors
    scipy_s: float
    jax_s: float  # one run of the compiled program, compile excluded
    compile_s: float
    details: dict[str, Any]


def limit_blas_threads(n_threads: int = 1) -> int:
    """Limit the OpenBLAS libraries NumPy/SciPy loaded to ``n_threads``; returns how many.

    Why: SciPy's ``cg`` and the paper's ``np.linalg.norm`` call BLAS on vectors of a few
    10^4 entries, where extra OpenBLAS threads only spin. On a busy 2-core machine that
    made a 13 us norm take 16 ms and SciPy look 5x slower than it is; one thread is SciPy
    at its best here. Linux only (reads ``/proc/self/maps``); elsewhere a no-op.
    """
    import ctypes

    try:
        with open("/proc/self/maps") as f:
            paths = {line.split()[-1] for line in f if "openblas" in line.lower()}
    except OSError:
        return 0
    done = 0
    for path in sorted(paths):
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in (
            "scipy_openblas_set_num_threads64_",
            "scipy_openblas_set_num_threads",
            "openblas_set_num_threads64_",
            "openblas_set_num_threads",
        ):
            fn = getattr(lib, name, None)
            if fn is not None:
                fn(n_threads)
                done += 1
                break
    return done


def _paired_median_times(scipy_fn: Callable[[], Any], jax_fn: Callable[[], Any],
                         repeats: int, warmup: int = 2) -> tuple[float, Any, float, Any]:
    """``(scipy_s, scipy_out, jax_s, jax_out)``: each program's median time over
    ``repeats`` runs, the two run alternately (SciPy first, then ours, then SciPy...),
    after ``warmup`` untimed rounds of both.
    This machine's speed drifts within minutes; timed one program after the other, a slow
    minute once made the demo report jaxsparse's CG 1.32x slower than SciPy, in a run
    where the five after it measured 1.47-1.68x faster. And the first rounds run slow:
    25 rounds of the power iteration took 28.6, 39.8, 43.2 ms, then 22-29 ms (SciPy
    32.8-34.4 from the first), so three timed rounds from a cold start once reported
    ours 1.07x slower than SciPy."""
    times: tuple[list, list] = ([], [])
    outs: list[Any] = [None, None]
    for round_ in range(warmup + repeats):
        for which, fn in enumerate((scipy_fn, jax_fn)):
            t0 = time.perf_counter()
            outs[which] = jax.block_until_ready(fn())
            if round_ >= warmup:
                times[which].append(time.perf_counter() - t0)
    return statistics.median(times[0]), outs[0], statistics.median(times[1]), outs[1]


def _compile(fn: Callable, *args) -> tuple[float, Callable]:
    t0 = time.perf_counter()
    compiled = jax.jit(fn).lower(*args).compile()
    return time.perf_counter() - t0, compiled


def _rel(a, b) -> float:
    a, b = np.asarray(a), np.asarray(b)
    a = a.astype(np.promote_types(a.dtype, np.float64))
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


def _operands(S: sps.csr_array, vector: np.ndarray, mesh):
    """``(A, x, to_global, plan)``: a CSR and a vector on one device, or, with a mesh,
    the sharded matrix and the vector in its layout (moved once, before timing)."""
    if mesh is None:
        return js.CSR.from_scipy(S), jnp.asarray(vector), lambda v: v, None
    As = js.sharding.shard(S, mesh, mesh.axis_names[0])
    p = As.plan
    plan = (f"{p.n_shards} shards, nnz imbalance {p.nnz_imbalance:.3f}, halo by "
            f"{p.halo.method}, {p.halo_volume} values per device per product")
    return As, As.shard_vector(vector), As.unshard_vector, plan


def _mesh_context(mesh):
    import contextlib

    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def power_iteration(
    n: int = 20_000, density: float = 5e-4, iters: int = 100, seed: int = 0, repeats: int = 5,
    mesh=None,
) -> Comparison:
    """Figure 1 of the paper: the largest eigenvalue of ``0.5 (A + A.T) + n I``."""
    rng = np.random.default_rng(seed)
    S = sps.random_array((n, n), density=density, format="csr", rng=rng)
    S = (0.5 * (S + S.T) + n * sps.eye_array(n)).tocsr()
    x0 = rng.random(n)

    def scipy_program():
        x = x0.copy()
        for _ in range(iters):
            x = S @ x
            x /= np.linalg.norm(x)
        return x @ (S @ x), x

    A, x0_j, to_global, plan = _operands(S, x0, mesh)

    def jax_program(A, x):
        def step(_, x):
            y = A @ x
            return y / jnp.sqrt(jnp.sum(y * y))

        x = jax.lax.fori_loop(0, iters, step, x)
        return jnp.sum(x * (A @ x)), x

    with _mesh_context(mesh):
        compile_s, compiled = _compile(jax_program, A, x0_j)
        scipy_s, (lam_ref, x_ref), jax_s, (lam, x) = _paired_median_times(
            scipy_program, lambda: compiled(A, x0_j), repeats)
    x = to_global(x)
    return Comparison(
        title=f"power iteration (paper's Figure 1): n={n}, nnz={S.nnz}, {iters} iterations",
        scipy_value=float(lam_ref),
        jax_value=float(lam),
        rel_diff=_rel(x, x_ref),
        scipy_s=scipy_s,
        jax_s=jax_s,
        compile_s=compile_s,
        details={
            "eig_rel_diff": abs(float(lam) - float(lam_ref)) / abs(float(lam_ref)),
            "dtype": str(x.dtype),
            "plan": plan,
        },
    )


def poisson2d(k: int) -> sps.csr_array:
    """The 5-point Laplacian on a ``k x k`` grid (Dirichlet boundary)."""
    t = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    eye = sps.eye_array(k)
    return (sps.kron(t, eye) + sps.kron(eye, t)).tocsr()


def poisson_cg(k: int = 256, rtol: float = 1e-8, seed: int = 0, repeats: int = 5,
               mesh=None) -> Comparison:
    """Solve the 2-D Poisson equation ``A x = b`` by CG, in SciPy and in jaxsparse."""
    S = poisson2d(k)
    b = np.random.default_rng(seed).standard_normal(S.shape[0])
    bnorm = np.linalg.norm(b)

    iterations = [0]

    def count(_):
        iterations[0] += 1

    def scipy_program():
        iterations[0] = 0
        return spla.cg(S, b, rtol=rtol, callback=count)

    A, b_j, to_global, plan = _operands(S, b, mesh)
    with _mesh_context(mesh):
        compile_s, compiled = _compile(lambda A, b: js.linalg.cg(A, b, rtol=rtol), A, b_j)
        scipy_s, (x_ref, info_ref), jax_s, (x, info) = _paired_median_times(
            scipy_program, lambda: compiled(A, b_j), repeats)
    res_ref = np.linalg.norm(b - S @ x_ref) / bnorm
    x = to_global(x)
    res = float(np.linalg.norm(b - S @ np.asarray(x)) / bnorm)
    return Comparison(
        title=f"2-D Poisson by CG: {k}x{k} grid, n={S.shape[0]}, nnz={S.nnz}, rtol={rtol:g}",
        scipy_value=float(res_ref),
        jax_value=res,
        rel_diff=_rel(x, x_ref),
        scipy_s=scipy_s,
        jax_s=jax_s,
        compile_s=compile_s,
        details={
            "info": int(info),
            "scipy_info": int(info_ref),
            "scipy_iterations": iterations[0],
            "dtype": str(x.dtype),
            "plan": plan,
        },
    )


def _print_comparison(c: Comparison, value_label: str, fmt: str, out: TextIO) -> None:
    d = c.details
    print(f"\n{c.title}", file=out)
    if d.get("plan"):
        print(f"  sharding plan: {d['plan']}", file=out)
    print(f"  {'':10} {value_label:>22} {'time':>10}", file=out)
    print(f"  {'SciPy':10} {c.scipy_value:>22{fmt}} {c.scipy_s * 1e3:>8.1f} ms", file=out)
    print(
        f"  {'jaxsparse':10} {c.jax_value:>22{fmt}} {c.jax_s * 1e3:>8.1f} ms"
        f"   (+ compile {c.compile_s:.2f} s, once)",
        file=out,
    )
    extra = ""
    if "eig_rel_diff" in d:
        extra = f", eigenvalue relative difference {d['eig_rel_diff']:.1e}"
    if "info" in d:
        extra = (
            f"; info: SciPy {d['scipy_info']} ({d['scipy_iterations']} iterations), "
            f"jaxsparse {d['info']}"
        )
    print(
        f"  agreement: ||x_jaxsparse - x_scipy|| / ||x_scipy|| = {c.rel_diff:.1e}{extra}", file=out
    )
    print(f"  speed: {speed_verdict(c.scipy_s, c.jax_s)}  ({d['dtype']})", file=out)


def speed_verdict(scipy_s: float, jax_s: float) -> str:
    """``"jaxsparse is 1.73x faster than SciPy"`` (or slower), from the two times."""
    if jax_s <= scipy_s:
        return f"jaxsparse is {scipy_s / jax_s:.2f}x faster than SciPy"
    return f"jaxsparse is {jax_s / scipy_s:.2f}x slower than SciPy"


def backend_line() -> str:
    """Which kernels the products run on, e.g. "native CPU kernels, 2 threads per device"."""
    from .ops import _dispatch
    from .ops.native import missing_reason, num_threads

    backend = _dispatch.pick("csr_matmul")
    if backend == "native":
        return f"products on the native CPU kernels, {num_threads()} thread(s) per device"
    why = f" (native kernels unavailable: {missing_reason()})" if missing_reason() else ""
    return f"products on the {backend!r} backend{why}"


def run(
    *,
    n: int = 20_000,
    density: float = 5e-4,
    iters: int = 100,
    grid: int = 256,
    rtol: float = 1e-8,
    out: TextIO = sys.stdout,
    n_devices: int | None = None,
) -> tuple[Comparison, Comparison]:
    """Run both programs and print the comparison; returns the two results.

    With more than one device (``n_devices``, default all), the matrices are sharded by
    rows over a 1-D mesh (``js.sharding.shard``) and every product moves only the halo.
    """
    devices = jax.devices()[: n_devices or None]
    print(f"jaxsparse {js.__version__} demo, JAX {jax.__version__}", file=out)
    print(f"devices: {devices}", file=out)
    mesh = None
    if len(devices) > 1:
        mesh = jax.make_mesh((len(devices),), ("x",), devices=devices)
        simulated = (" (simulated CPU devices sharing this machine's cores: times show "
                     "the overhead of sharding, not a speed-up)"
                     if devices[0].platform == "cpu" else "")
        print(f"sharded by rows over a {len(devices)}-device mesh{simulated}: each product "
              "moves only the halo", file=out)
    else:
        print(f"running on a single device ({devices[0].platform})", file=out)
    print(backend_line(), file=out)
    if limit_blas_threads(1):
        print("SciPy's OpenBLAS limited to 1 thread (more only spin on these vectors)", file=out)
    power = power_iteration(n=n, density=density, iters=iters, mesh=mesh)
    _print_comparison(power, "eigenvalue estimate", ".10f", out)
    cg = poisson_cg(k=grid, rtol=rtol, mesh=mesh)
    _print_comparison(cg, "||b - A x|| / ||b||", ".3e", out)
    return power, cg
