"""The benchmarks run in their ``--quick`` mode and print tables that parse, with every
result checked (a cell is a positive number or a known mark, never "wrong" or "error").
Timings are never asserted."""

from __future__ import annotations

import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
MATRICES = ("banded", "poisson2d", "random")
SPMV_COLUMNS = ["js-1t", "js", "js-2dev", "js-dia", "dropin", "bcsr-1t", "bcsr", "petsc-np1",
                "petsc-np2"]
PETSC = ("petsc-np1", "petsc-np2")
MARKS = {"n/a", "-", "not installed"}  # what a cell may say instead of a number


def _run(script: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), "--quick", *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def _tables(stdout: str) -> list[tuple[str, list[str], list[list[str]]]]:
    """Every table as (title, header, rows): a title line, a header starting with
    "matrix", a line of dashes, then rows up to a blank line; cells are split at runs of
    two or more spaces (a cell such as "not installed" holds one)."""
    lines = stdout.splitlines()
    tables = []
    for i, line in enumerate(lines):
        if not line.startswith("matrix"):
            continue
        assert set(lines[i + 1]) <= {"-", " "}, lines[i + 1]
        header = re.split(r"\s{2,}", line.strip())
        rows = []
        for row in lines[i + 2 :]:
            if not row.strip() or row.startswith("note:"):
                break
            rows.append(re.split(r"\s{2,}", row.strip()))
            assert len(rows[-1]) == len(header), (header, row)
        tables.append((lines[i - 1], header, rows))
    return tables


def _check_cells(header, rows, first_value: int) -> None:
    for row in rows:
        int(row[2]), int(row[3])  # n and nnz are integers
        for name, cell in zip(header[first_value:], row[first_value:], strict=True):
            if cell in MARKS:
                continue
            # A number (never "wrong" or "error"); a ratio of a tiny, noisy timing can
            # print as 0.00, so only its sign is checked: timings are not asserted.
            assert float(cell) >= 0, (name, row)


def test_bench_spmv_quick_tables(tmp_path):
    out = _run("bench_spmv.py", "--json", str(tmp_path / "spmv.json"))
    tables = _tables(out)
    ops = ["A @ x", "A.T @ y", "A @ X (16 columns)"]
    assert len(tables) == 3 * len(ops)
    lead = ["matrix", "dtype", "n", "nnz"]
    headers = [  # speed-up, times, GB/s
        [*lead, "scipy-ms", *SPMV_COLUMNS],
        [*lead, "scipy", *SPMV_COLUMNS],
        [*lead, "MB", "roofline-ms", "scipy", *SPMV_COLUMNS],
    ]
    for t, (title, header, rows) in enumerate(tables):
        op = ops[t // 3]
        assert title.startswith(op + ":")
        assert header == headers[t % 3]
        dtypes = ("float32", "float64", "complex128") if op == "A @ x" else ("float32", "float64")
        assert [(r[0], r[1]) for r in rows] == [(m, d) for m in MATRICES for d in dtypes]
        _check_cells(header, rows, 4)
        for row in rows:
            cell = dict(zip(header, row, strict=True))
            assert (cell["js-dia"] == "-") == (row[0] == "random")
            assert (cell["bcsr"] == "n/a") == (op == "A.T @ y")
            assert (cell["bcsr-1t"] == "n/a") == (op == "A.T @ y")
            for column in PETSC:
                if row[1] != "float64":
                    assert cell[column] in ("n/a", "not installed")
                else:
                    # a number (a loaded machine may round a ratio to 0.00: no timing
                    # is asserted), or the reason PETSc is absent
                    assert cell[column] == "not installed" or float(cell[column]) >= 0
    payload = json.loads((tmp_path / "spmv.json").read_text())
    assert payload["benchmark"] == "spmv" and payload["copy_gbps"] > 0
    assert set(payload["backends"]) == {"js", "js-dia", "js-1t", "js-2dev"}
    assert len(payload["rows"]) == 9 + 6 + 6
    # Every timed column has SciPy's time taken beside it, alternately with its calls: in
    # its own process (the children's too), or call by call with PETSc's side process,
    # and its speed-up is taken against that time.
    speedups = {(t[0].split(":")[0], r[0], r[1]): dict(zip(t[1], r, strict=True))
                for t in tables[::3] for r in t[2]}
    op_names = {"spmv": ops[0], "spmv_t": ops[1], "spmm": ops[2]}
    for row in payload["rows"]:
        timed = set(row["ms"]) - {"scipy"}
        assert timed and set(row["scipy_ms_paired"]) == timed, row
        cell = speedups[(op_names[row["op"]], row["matrix"], row["dtype"])]
        for column in timed:
            want = row["scipy_ms_paired"][column] / row["ms"][column]
            assert abs(float(cell[column]) - want) <= 0.0051 * max(1.0, want), (column, row)


def test_bench_cg_quick_tables():
    tables = _tables(_run("bench_cg.py"))
    assert len(tables) == 4
    columns = ["js-1t", "js", "js-2dev", "js-dia", "jax-bcsr-1t", "jax-bcsr", "petsc-np1",
               "petsc-np2"]
    lead = ["matrix", "dtype", "n", "nnz", "iters"]
    headers = [
        [*lead, "scipy-ms", *columns],
        [*lead, "scipy", *columns],
        [*lead, "MB", "roofline-ms", "scipy", *columns],
    ]
    for (_, header, rows), expected in zip(tables[:3], headers, strict=True):
        assert header == expected
        assert [(r[0], r[1]) for r in rows] == [("poisson2d", "float64"), ("poisson2d", "float32")]
        _check_cells(header, rows, 5)
    _, header, rows = tables[3]
    assert header == ["matrix", "dtype", "n", "nnz", "case", "scipy-us", "jaxsparse-us", "speedup"]
    assert [r[4] for r in rows] == ["A@x-dropin", "A@x-jit", "cg-iter-jit", "cg-iter-dropin"]
    _check_cells(header, rows, 5)


def test_bench_sddmm_quick_tables(tmp_path):
    out = _run("bench_sddmm.py", "--plot", str(tmp_path))
    tables = _tables(out)
    columns = ["js", "dense-mask", "bcoo-sampled"]
    lead = ["matrix", "dtype", "n", "nnz", "k"]
    assert [h for _, h, _ in tables] == [[*lead, "scipy-ms", *columns], [*lead, "scipy", *columns]]
    for _, header, rows in tables:
        assert [(r[0], r[1]) for r in rows] == [("random", "float32")]
        _check_cells(header, rows, 5)
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        assert "note: plots skipped, matplotlib is not installed" in out
    else:
        assert (tmp_path / "sddmm_speedup.png").is_file()


def test_bench_triangular_quick_table():
    columns = ["matrix", "dtype", "n", "nnz", "scipy ms", "jaxsparse ms", "jaxsparse/scipy"]
    lines = _run("bench_triangular.py").splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("matrix"))
    assert re.split(r"\s{2,}", lines[header].strip()) == columns
    rows = [line.split() for line in lines[header + 2 :]]
    assert [r[0] for r in rows] == ["tridiagonal", "poisson2d", "random", "power_law"]
    for r in rows:
        assert len(r) == len(columns)
        assert all(float(v) > 0 for v in r[4:])  # times and ratios are positive numbers


def test_bench_dropin_quick_tables(tmp_path):
    out = _run("bench_dropin.py", "--json", str(tmp_path / "dropin.json"))
    tables = _tables(out)
    assert [h for _, h, _ in tables] == [
        ["matrix", "dtype", "n", "nnz", "op", "scipy-us", "dropin-us", "ratio",
         "first-scipy-us", "first-dropin-us"],
        ["matrix", "dtype", "n", "nnz", "scipy-us", "dropin-us", "host-us", "device-us",
         "route"],
    ]
    (_, header, latency), (_, _, routing) = tables
    assert [r[4] for r in latency][:3] == ["constructor", "tocsc", "transpose"]
    _check_cells(header, latency, 5)
    assert [r[-1] for r in routing] == ["host", "host"]  # tiny: below the threshold
    payload = json.loads((tmp_path / "dropin.json").read_text())
    assert payload["benchmark"] == "dropin" and len(payload["latency"]) == len(latency)


def test_bench_multiprocess_quick_table(tmp_path):
    out = _run("bench_multiprocess.py", "--json", str(tmp_path / "mp.json"))
    tables = _tables(out)
    assert len(tables) == 1
    _, header, rows = tables[0]
    assert header == ["matrix", "dtype", "n", "nnz", "procs", "imbalance", "spmv-ms",
                      "spmv-efficiency", "cg-ms", "cg-efficiency"]
    assert [r[4] for r in rows] == ["1", "2"]
    _check_cells(header, rows, 5)
    payload = json.loads((tmp_path / "mp.json").read_text())
    assert [r["procs"] for r in payload["results"]] == [1, 2]


def test_bench_pallas_quick_table(tmp_path):
    """On this CPU machine the Pallas kernels run interpreted: every cell is checked
    against SciPy, and the note says the figures are not GPU figures. One matrix's three
    products and SDDMM (interpreted kernels are slow; test_pallas.py covers the rest)."""
    out = _run("bench_pallas.py", "--dtypes", "float32", "--matrices", "poisson2d",
               "--json", str(tmp_path / "p.json"))
    ((title, header, rows),) = _tables(out)
    assert header[:5] == ["matrix", "op", "dtype", "n", "nnz"]
    assert {(r[0], r[1]) for r in rows} == {("poisson2d", "spmv"), ("poisson2d", "spmv_T"),
                                            ("poisson2d", "spmm"), ("sddmm", "sddmm")}
    for row in rows:
        for cell in row[5:]:
            assert cell in MARKS or float(cell) > 0, row
    assert "not GPU figures" in out
    payload = json.loads((tmp_path / "p.json").read_text())
    assert payload["gpu"] is False and len(payload["rows"]) == len(rows)


def test_bench_apps_quick_weak_scaling_table(tmp_path):
    # The fastest app: every app already runs on 1 and 2 devices in test_examples.py.
    out = _run("bench_apps.py", "--devices", "1", "2", "--apps", "rydberg",
               "--repeats", "1", "--json", str(tmp_path / "apps.json"))
    ((title, header, rows),) = _tables(out)
    assert header[:2] == ["matrix", "program"] and "2dev-eff" in header
    assert [r[0] for r in rows] == ["rydberg"]
    for row in rows:
        for cell in row[2:]:
            assert cell in MARKS or float(cell) > 0, row
    payload = json.loads((tmp_path / "apps.json").read_text())
    for devices in ("1", "2"):
        report = payload["results"]["rydberg"][devices]
        assert report["devices"] == int(devices) and all(report["checks"].values())


def test_scale_quick_table(tmp_path):
    out = _run("scale.py", "--json", str(tmp_path / "scale.json"))
    ((title, header, rows),) = _tables(out)
    assert header == ["matrix", "phase", "seconds", "peak-x", "after-x"]
    phases = [r[1] for r in rows]
    assert phases[0] == "build (SciPy)" and "plan + place (shard)" in phases
    assert all(float(r[2]) >= 0 and float(r[3]) >= 0 for r in rows)
    payload = json.loads((tmp_path / "scale.json").read_text())
    assert [p["phase"] for p in payload["phases"]] == phases


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"),
                    reason="pinning a process to a core needs os.sched_setaffinity (Linux)")
def test_one_core_child_runs_on_one_core():
    """The one-core columns (js-1t, bcsr-1t, jax-bcsr-1t) come from a child pinned to one
    core before jax is imported, so XLA's own threads run there too."""
    code = (
        "import os, sys; sys.path.insert(0, 'benchmarks'); import _common; "
        "child = _common.setup_env(); import jax; "
        "print(child, len(os.sched_getaffinity(0)), jax.devices()[0].platform)"
    )
    env = {**os.environ, "JAXSPARSE_BENCH_CHILD": "threads1"}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=env)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["threads1", "1", "cpu"]
