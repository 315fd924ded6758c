"""The SpMV and triangular-solve benchmarks run and print their tables (timings are never
asserted)."""

from __future__ import annotations

import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
COLUMNS = [
    "matrix",
    "dtype",
    "n",
    "nnz",
    "scipy ms",
    "jaxsparse ms",
    "bcsr ms",
    "jaxsparse/scipy",
    "jaxsparse/bcsr",
]


def _quick_table(script: str, columns: list[str]) -> list[list[str]]:
    """Run ``benchmarks/<script> --quick``; check its header and return the table's rows."""
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("matrix"))
    cols = [c for c in lines[header].split("  ") if c.strip()]
    assert [c.strip() for c in cols] == columns
    assert set(lines[header + 1]) <= {"-", " "}
    return [line.split() for line in lines[header + 2 :]]


def test_bench_spmv_quick_table():
    rows = _quick_table("bench_spmv.py", COLUMNS)
    assert [(r[0], r[1]) for r in rows] == [
        (m, d)
        for m in ("tridiagonal", "poisson2d", "random", "power_law")
        for d in ("float32", "float64")
    ]
    for r in rows:
        assert len(r) == len(COLUMNS)
        int(r[2]), int(r[3])  # n and nnz are integers
        assert all(float(v) > 0 for v in r[4:])  # times and ratios are positive numbers


def test_bench_triangular_quick_table():
    columns = ["matrix", "dtype", "n", "nnz", "scipy ms", "jaxsparse ms", "jaxsparse/scipy"]
    rows = _quick_table("bench_triangular.py", columns)
    assert [r[0] for r in rows] == ["tridiagonal", "poisson2d", "random", "power_law"]
    for r in rows:
        assert len(r) == len(columns)
        assert all(float(v) > 0 for v in r[4:])  # times and ratios are positive numbers
