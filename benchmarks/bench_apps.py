"""Weak scaling of the paper's applications (``examples/``) over 1, 2 and 4 devices, as
in the Legate Sparse paper's figures 9-11.

    python benchmarks/bench_apps.py                      # every application, 1/2/4 devices
    python benchmarks/bench_apps.py --quick --devices 1 2 --apps gcn sparse_mf
    python benchmarks/bench_apps.py --json apps.json --plot plots/

Each application runs as its own process (``python examples/<app>.py --devices D
--scale D``), so the problem grows with the device count and the work per device stays
the same. A row gives the jaxsparse program's time at each device count, its weak-
scaling efficiency ``t(1) / t(D)`` (1.0 is perfect), and the baseline's time from the
same run (SciPy's, or the plain-JAX one for the ML programs). On a CPU machine the
devices are simulated and share the cores and one memory system: with more devices
than cores they only add halo exchanges, so the efficiency here measures that overhead,
not what a GPU cluster would give.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import _common

ROOT = _common.HERE.parent
# application -> (the jaxsparse row, the baseline row) in the example's JSON report
APPS = {
    "power_iteration": ("jaxsparse.scipy_compat", "SciPy"),
    "cg_poisson": ("jaxsparse.scipy_compat, Jacobi", "SciPy, Jacobi"),
    "gmg": ("jaxsparse GMG-CG", "SciPy GMG-CG"),
    "rydberg": ("jaxsparse.integrate DOP853", "scipy.integrate DOP853"),
    "sparse_mf": ("jaxsparse SDDMM", "JAX gathers (baseline)"),
    "gcn": ("sparse adjacency (jaxsparse)", "dense adjacency (jnp)"),
}


def parse_args(argv):
    p = _common.parser(__doc__.splitlines()[0], repeats=3, others=False)
    p.add_argument("--apps", nargs="+", default=list(APPS), choices=list(APPS))
    p.add_argument("--devices", nargs="+", type=int, default=[1, 2, 4])
    p.add_argument("--timeout", type=float, default=1800, help="seconds per run")
    return p.parse_args(argv)


def run_app(app: str, devices: int, args) -> dict:
    """One application run; its JSON report, or ``{"error": ...}``."""
    script = ROOT / "examples" / f"{app}.py"
    if not script.exists():
        return {"error": f"{script.name} not found"}
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "report.json")
        cmd = [sys.executable, str(script), "--devices", str(devices), "--scale",
               str(devices), "--repeats", str(args.repeats), "--json", out]
        if args.quick:
            cmd.append("--quick")
        env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=args.timeout,
                                  env=env, cwd=ROOT)
        except subprocess.TimeoutExpired:
            return {"error": f"timed out after {args.timeout:.0f} s"}
        if not os.path.exists(out):
            return {"error": (proc.stderr or proc.stdout).strip().splitlines()[-1:]}
        report = json.loads(open(out).read())
        report["returncode"] = proc.returncode
        return report


def seconds_of(report: dict, row: str):
    for r in report.get("rows", []):
        if r["program"] == row:
            return r["seconds"]
    return None


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    results = {app: {d: run_app(app, d, args) for d in args.devices} for app in args.apps}
    print(f"{_common.machine()}\nweak scaling: problem size x devices; median of "
          f"{args.repeats}{'; --quick sizes' if args.quick else ''}\n")
    header = ["matrix", "program"]
    for d in args.devices:
        header += [f"{d}dev-ms", f"{d}dev-eff", f"{d}dev-base-ms"]
    rows, notes, status = [], [], 0
    for app, by_devices in results.items():
        ours, base = APPS[app]
        row = [app, ours]
        t1 = seconds_of(by_devices[args.devices[0]], ours)
        for d in args.devices:
            report = by_devices[d]
            if "error" in report:
                notes.append(f"{app} on {d} device(s): {report['error']}")
                row += ["error", "-", "-"]
                status = 1
                continue
            if report.get("returncode"):
                failed = [k for k, ok in report.get("checks", {}).items() if not ok]
                notes.append(f"{app} on {d} device(s): failed checks {failed}")
                status = 1
            t, tb = seconds_of(report, ours), seconds_of(report, base)
            row += [t * 1e3 if t else "-", t1 / t if t and t1 else "-",
                    tb * 1e3 if tb else "-"]
        rows.append(row)
    print("weak scaling (ms of the jaxsparse program; eff = t(1 device) / t(D))")
    print(_common.format_table(header, rows, decimals=2))
    print()
    for note in notes:
        print(f"note: {note}")
    _common.write_json(args.json, {"benchmark": "apps", "devices": args.devices,
                                   "quick": args.quick, "results": results})
    if args.plot and _common.have_matplotlib():
        import _plots

        _plots.weak_scaling(results, APPS, args.devices, args.plot)
    return status


if __name__ == "__main__":
    sys.exit(main())
