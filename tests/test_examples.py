"""The examples run in their ``--quick`` mode, as their users would run them, and every
check they print passes: results agree with SciPy's (or the baseline's) from the same
run. Timings are printed, never asserted."""

from __future__ import annotations

import json
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = ("power_iteration", "cg_poisson", "gmg", "rydberg", "sparse_mf", "gcn")


def _run(name: str, *args: str) -> tuple[str, dict]:
    out = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"jaxsparse-example-{os.getpid()}.json"
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / f"{name}.py"), "--quick", "--repeats", "1",
         "--json", str(out), *args],
        capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads(out.read_text())
    out.unlink()
    return result.stdout, report


@pytest.mark.parametrize("name", EXAMPLES)
def test_example_runs_and_its_checks_pass(name):
    stdout, report = _run(name)
    checks = [line for line in stdout.splitlines() if line.startswith("check: ")]
    assert checks and all(line.endswith(": ok") for line in checks), stdout
    assert report["checks"] and all(report["checks"].values())
    assert report["devices"] == 1 and report["rows"]
    assert all(row["seconds"] > 0 for row in report["rows"])


@pytest.mark.parametrize("name", ["power_iteration", "gmg", "sparse_mf", "gcn", "rydberg"])
def test_example_runs_sharded_over_two_devices(name):
    stdout, report = _run(name, "--devices", "2")
    assert report["devices"] == 2 and all(report["checks"].values()), stdout
    facts = " ".join(str(v) for v in report["facts"].values())
    assert "2 devices" in facts, facts  # it really was sharded / data-parallel


def test_example_rejects_a_device_count_below_one():
    env = {k: v for k, v in os.environ.items() if k != "JAX_NUM_CPU_DEVICES"}
    env["JAX_PLATFORMS"] = "cpu"
    result = subprocess.run(
        [sys.executable, "-c",
         "import sys; sys.argv = ['x', '--devices', '0']; sys.path.insert(0, 'examples');"
         "import _common; _common.setup('t')"],
        capture_output=True, text=True, timeout=60, cwd=ROOT, env=env)
    assert result.returncode != 0 and "--devices must be at least 1" in result.stderr
