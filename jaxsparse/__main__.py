"""Command line: ``python -m jaxsparse demo`` (see ``--help``)."""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m jaxsparse",
        description="jaxsparse: SciPy-compatible sparse matrices on JAX.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = commands.add_parser(
        "demo",
        help="run the paper's power iteration and a 2-D Poisson CG solve next to SciPy",
        description="Run (a) the SC'23 Legate Sparse paper's Figure 1 power iteration and "
        "(b) a 2-D Poisson solve by conjugate gradients, through SciPy and through "
        "jaxsparse, and print results, agreement and times side by side.",
    )
    demo.add_argument("--n", type=int, default=20_000, help="power iteration size (20000)")
    demo.add_argument("--density", type=float, default=5e-4, help="random density (5e-4)")
    demo.add_argument("--iters", type=int, default=100, help="power iterations (100)")
    demo.add_argument("--grid", type=int, default=256, help="Poisson grid side (256)")
    demo.add_argument("--rtol", type=float, default=1e-8, help="CG tolerance (1e-8)")
    demo.add_argument(
        "--devices",
        type=int,
        default=None,
        help="devices to shard over (default: every accelerator, or one CPU device whose "
        "native kernels use every core, measured faster than one simulated device per "
        "core; N > 1 on a CPU-only machine simulates N CPU devices)",
    )
    demo.add_argument(
        "--float32",
        action="store_true",
        help="run in float32 (default: float64, to compare with SciPy)",
    )
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2

    import os

    import jax

    # A program's choice, before JAX's backends start: simulate devices on a CPU-only
    # machine (it changes nothing where accelerators are present: theirs come first).
    if args.devices is not None and "JAX_NUM_CPU_DEVICES" not in os.environ:
        jax.config.update("jax_num_cpu_devices", max(args.devices, 1))

    # A program's choice, made before any array exists: the demo compares with SciPy's
    # float64 results. (The library itself never changes global configuration.)
    jax.config.update("jax_enable_x64", not args.float32)
    from . import _demo

    _demo.run(n=args.n, density=args.density, iters=args.iters, grid=args.grid, rtol=args.rtol,
              n_devices=args.devices)
    return 0


if __name__ == "__main__":
    sys.exit(main())
