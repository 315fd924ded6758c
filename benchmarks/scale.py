"""Scale without hidden copies: build a large banded matrix, shard it over 2 devices,
multiply and run CG, reporting each phase's time and the peak resident memory it
reached, relative to the matrix's own bytes.

    python benchmarks/scale.py                    # 50M nonzeros (n = 4.5M, 11 diagonals)
    python benchmarks/scale.py --nnz 22e6         # the size the issue measured
    python benchmarks/scale.py --quick            # 1M nonzeros
    python benchmarks/scale.py --dropin           # through jaxsparse.scipy_compat too

Phases: ``build`` (SciPy CSR from the diagonals: the reference the others are held to),
``plan`` (``js.sharding.plan``: the host-side partition and halo), ``place`` (building
the blocks and moving them to the devices: ``js.sharding.shard`` is plan + place),
``first product`` (compile and run ``A @ x``), ``steady product`` (median of warm
products), ``cg x10`` (10 CG iterations, compiled). Peak RSS is sampled every 2 ms by a
thread reading ``/proc/self/statm``; "growth" is the peak during the phase minus the
RSS before the build, in units of the matrix's bytes (SciPy CSR with int32 indices).
The goal is a peak of at most 2.5x the matrix's bytes through the sharded path and no
full copy per device.
"""

from __future__ import annotations

import os
import sys
import threading
import time

import _common

_common.setup_env()
os.environ["JAX_NUM_CPU_DEVICES"] = os.environ.get("JAXSPARSE_SCALE_DEVICES", "2")

import jax  # noqa: E402

jax.config.update("jax_enable_x64", True)

import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402

import jaxsparse as js  # noqa: E402

_PAGE = os.sysconf("SC_PAGE_SIZE")


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE


class PeakRSS:
    """Samples RSS in a thread; ``phase(name)`` closes the current phase."""

    def __init__(self):
        self.base = rss()
        self.peak = self.base
        self.phases: list[tuple[str, float, int, int]] = []
        self._stop = False
        self._t0 = time.perf_counter()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self):
        while not self._stop:
            self.peak = max(self.peak, rss())
            time.sleep(0.002)

    def phase(self, name: str) -> None:
        now = rss()
        self.peak = max(self.peak, now)
        self.phases.append((name, time.perf_counter() - self._t0, self.peak, now))
        self.peak = now
        self._t0 = time.perf_counter()

    def stop(self):
        self._stop = True
        self._thread.join()


def banded(n: int, half: int = 5) -> sps.csr_array:
    offsets = np.arange(-half, half + 1)
    diags = [np.full(n - abs(k), 10.0 if k == 0 else -1.0 / abs(k)) for k in offsets]
    return sps.diags_array(diags, offsets=offsets, shape=(n, n), format="csr",
                           dtype=np.float64)


def run(args) -> list:
    n = int(args.nnz / 11)
    meter = PeakRSS()
    S = banded(n)
    S.indices = S.indices.astype(np.int32)
    S.indptr = S.indptr.astype(np.int32)
    matrix_bytes = S.data.nbytes + S.indices.nbytes + S.indptr.nbytes
    meter.phase("build (SciPy)")
    mesh = jax.make_mesh((len(jax.devices()),), ("x",))
    x = np.ones(n)
    if args.dropin:
        import jaxsparse.scipy_compat as sp

        A = sp.csr_array(S)
        meter.phase("drop-in wrap")
        jax.block_until_ready(A @ jax.numpy.asarray(x))
        meter.phase("first product (drop-in)")
        _, _ = sp.linalg.cg(A, x, maxiter=10)
        meter.phase("cg x10 (drop-in)")
    else:
        plan = js.sharding.plan(S, mesh, "x")
        meter.phase("plan")
        del plan  # shard plans again: it needs none from the caller
        As = js.sharding.shard(S, mesh, "x")
        meter.phase("plan + place (shard)")
        xs = As.shard_vector(x)
        with jax.set_mesh(mesh):
            product = jax.jit(lambda A, v: A @ v)
            jax.block_until_ready(product(As, xs))
            meter.phase("first product")
            _common.median_ms(lambda: product(As, xs), 5)
            meter.phase("steady product x6")
            cg = jax.jit(lambda A, v: js.linalg.cg(A, v, maxiter=10))
            jax.block_until_ready(cg(As, xs))
            meter.phase("cg x10")
    meter.stop()
    rows = [(name, seconds, (peak - meter.base) / matrix_bytes, (end - meter.base) / matrix_bytes)
            for name, seconds, peak, end in meter.phases]
    print(f"{_common.machine()}\nbanded matrix: n = {n}, nnz = {S.nnz}, "
          f"{matrix_bytes / 1e6:.0f} MB as SciPy CSR (int32 indices); "
          f"{len(jax.devices())} devices{'; through the drop-in' if args.dropin else ''}\n")
    print("time and peak RSS growth per phase (x the matrix's bytes; after-x: RSS at the "
          "phase's end, which keeps memory the allocator has not returned)")
    print(_common.format_table(["matrix", "phase", "seconds", "peak-x", "after-x"],
                               [("banded", name, s, p, e) for name, s, p, e in rows],
                               decimals=2) + "\n")
    return rows


def main(argv=None) -> int:
    p = _common.parser(__doc__.splitlines()[0], repeats=5, others=False)
    p.add_argument("--nnz", type=float, default=50e6)
    p.add_argument("--dropin", action="store_true")
    args = p.parse_args(argv)
    if args.quick:
        args.nnz = 1e6
    rows = run(args)
    _common.write_json(args.json, {"benchmark": "scale", "nnz": args.nnz,
                                   "dropin": args.dropin,
                                   "phases": [dict(zip(("phase", "seconds", "peak_x",
                                                        "after_x"), r, strict=True))
                                              for r in rows]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
