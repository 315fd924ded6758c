"""What the examples share: their command line, device set-up, timing and the report.

Every example takes ``--quick`` (small sizes, under a minute on 2 cores), ``--devices
N`` (run on N devices: on a CPU machine N simulated CPU devices, which must be set
before jax is imported, so :func:`setup` runs first), ``--json PATH`` (also write the
results) and ``--scale S`` (multiply the problem size; the weak-scaling benchmark
passes the device count). The report prints each program's result and time next to
the baseline's from the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

_ROOT = pathlib.Path(__file__).resolve().parents[1]


def setup(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None,
          argv: list[str] | None = None, x64: bool = False) -> argparse.Namespace:
    """Parse the command line and prepare the devices; call before importing jax.
    ``x64``: turn on float64 (SciPy programs compute in it)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="small sizes (under a minute)")
    p.add_argument("--devices", type=int, default=1, help="devices to run on (default 1)")
    p.add_argument("--scale", type=float, default=1.0, help="multiply the problem size")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    p.add_argument("--repeats", type=int, default=3, help="timed runs (median)")
    p.add_argument("--device-always", action="store_true",
                   help="route every drop-in product and solve to the device, whatever "
                        "its size (--quick does this, so small runs take the device path)")
    if extra is not None:
        extra(p)
    args = p.parse_args(argv)
    if args.devices < 1:
        p.error("--devices must be at least 1")
    # N simulated CPU devices when the machine has no accelerator; a GPU machine shows
    # its GPUs and ignores this.
    os.environ["JAX_NUM_CPU_DEVICES"] = str(args.devices)
    if args.quick or args.device_always:  # the drop-in's routing thresholds (dropin.md)
        os.environ["JAXSPARSE_DEVICE_MIN_NNZ"] = "0"
        os.environ["JAXSPARSE_SOLVER_MIN_NNZ"] = "0"
    # NumPy/SciPy's BLAS on one thread: its spinning threads on busy cores make SciPy
    # look slower than it is (see jaxsparse._demo.limit_blas_threads).
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    if str(_ROOT) not in sys.path:  # run from a checkout without installing
        sys.path.insert(0, str(_ROOT))
    if x64:
        import jax

        jax.config.update("jax_enable_x64", True)
    if args.quick or args.device_always:
        import jaxsparse.sharding

        jaxsparse.sharding.MIN_SHARDED_NNZ = 0  # shard small matrices too
    return args


def device_copy(A) -> str:
    """Where the drop-in keeps matrix ``A``'s products (its device copy), in words."""
    from jaxsparse.scipy_compat import _thresholds

    operator = A.__dict__.get("_device", {}).get("operator")
    if operator is None:
        return (f"in SciPy ({A.nnz} stored entries, below the drop-in's device threshold "
                f"{_thresholds.device_min_nnz()})")
    plan = getattr(operator, "plan", None)
    if plan is not None:
        return (f"on the device, sharded over {plan.n_shards} devices "
                f"({plan.local_format.upper()} blocks, halo by {plan.halo.method})")
    return f"on the device, as {type(operator).__name__}"


def devices(n: int):
    """The first ``n`` devices, or a clear error when there are fewer."""
    import jax

    found = jax.devices()
    if len(found) < n:
        raise SystemExit(f"--devices {n}: only {len(found)} device(s) visible")
    return found[:n]


def mesh(n: int, auto: bool = False):
    """A 1-D mesh ``("x",)`` over the first ``n`` devices, or None for one device."""
    import jax

    if n == 1:
        return None
    kind = jax.sharding.AxisType.Auto if auto else jax.sharding.AxisType.Explicit
    return jax.make_mesh((n,), ("x",), axis_types=(kind,), devices=devices(n))


def mesh_context(mesh):
    """``jax.set_mesh(mesh)``, or nothing for one device."""
    import contextlib

    import jax

    return contextlib.nullcontext() if mesh is None else jax.set_mesh(mesh)


def median_time(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """Median seconds of ``fn()`` over ``repeats`` runs (results waited for), and the
    last result."""
    import jax

    times, out = [], None
    for _ in range(max(1, repeats)):
        t0 = time.perf_counter()
        out = jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


class Report:
    """Rows of (program, result, seconds) printed as a table and written as JSON."""

    def __init__(self, title: str, args: argparse.Namespace, **facts):
        self.title, self.args, self.facts = title, args, facts
        self.rows: list[dict] = []

    def add(self, program: str, seconds: float, **results) -> None:
        self.rows.append({"program": program, "seconds": seconds, **results})

    def show(self, *, checks: dict[str, bool]) -> int:
        """Print the table and the checks; write JSON; exit status 1 if a check failed."""
        import jax

        print(f"{self.title}\n{_machine(jax)}; devices used: {self.args.devices}")
        for k, v in self.facts.items():
            print(f"  {k}: {v}")
        keys = [k for k in self.rows[0] if k not in ("program", "seconds")]
        header = ["program", "time"] + keys
        lines = [[r["program"], f"{r['seconds'] * 1e3:.1f} ms"]
                 + [_fmt(r.get(k, "")) for k in keys] for r in self.rows]
        widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
        for line in [header, ["-" * w for w in widths], *lines]:
            print("  ".join(v.ljust(w) for v, w in zip(line, widths, strict=True)).rstrip())
        for name, ok in checks.items():
            print(f"check: {name}: {'ok' if ok else 'FAILED'}")
        if self.args.json:
            path = pathlib.Path(self.args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps({
                "title": self.title, "devices": self.args.devices, "scale": self.args.scale,
                "quick": self.args.quick, "facts": self.facts, "rows": self.rows,
                "checks": checks}, indent=1, default=str) + "\n")
        return 0 if all(checks.values()) else 1


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _machine(jax) -> str:
    import numpy as np
    import scipy

    return (f"JAX {jax.__version__} on {jax.default_backend()}, NumPy {np.__version__}, "
            f"SciPy {scipy.__version__}, {len(os.sched_getaffinity(0))} cores")
