"""The benchmarks pace PETSc's side process call by call (``benchmarks/_paced.py``), so
that its calls alternate with SciPy's as every other column's do. A stand-in side
process (no MPI or PETSc needed) speaks the same protocol with one or two ranks."""

from __future__ import annotations

import json
import pathlib
import sys
import time
import types

import pytest

BENCHMARKS = pathlib.Path(__file__).resolve().parents[1] / "benchmarks"

# argv: [ranks, "op:calls[:die_after]", ...] then --paced PATH (added by PacedSide).
# Rank 0 starts the other ranks, as mpirun would; every rank stamps each call with the
# system-wide monotonic clock, and rank 0 prints them, one JSON line per op.
FAKE_SIDE = """
import json, os, subprocess, sys, time
sys.path.insert(0, {benchmarks!r})
import _paced

args, path = sys.argv[1:-2], sys.argv[-1]
ranks, ops = int(args[0]), [spec.split(":") for spec in args[1:]]
rank = int(os.environ.get("FAKE_RANK", "0"))
others = [subprocess.Popen([sys.executable, *sys.argv], env={{**os.environ, "FAKE_RANK": str(r)}})
          for r in range(1, ranks) if rank == 0]
link = _paced.SideLink(path, rank)
for name, calls, *die in ops:
    time.sleep(0.05)  # a warm-up
    link.ready(name, int(calls))
    stamps = []
    for i in range(int(calls)):
        if die and i == int(die[0]):
            sys.exit(3)
        link.wait()
        stamps.append(time.monotonic())
        time.sleep(0.002)
        link.report(2.5)
    if rank == 0:
        print(json.dumps({{"op": name, "stamps": stamps}}), flush=True)
for p in others:
    p.wait()
"""


@pytest.fixture
def bench(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(str(BENCHMARKS))
    import _common
    import _paced

    script = tmp_path / "fake_side.py"
    script.write_text(FAKE_SIDE.format(benchmarks=str(BENCHMARKS)))

    def start(ranks: int, *ops: str):
        cmd = [sys.executable, str(script), str(ranks), *ops]
        return _paced.PacedSide(cmd, None, ranks, 60.0)

    return types.SimpleNamespace(common=_common, paced=_paced, start=start)


def _stamping_calls(ops: str, log: list) -> dict:
    def call(op):
        return lambda: log.append((op, time.monotonic()))

    return {(op, "m", "float64"): call(op) for op in ops}


@pytest.mark.parametrize("ranks", [1, 2])
def test_each_side_call_follows_one_scipy_call(bench, ranks):
    side = bench.start(ranks, "spmv:4", "spmv_t:3")
    log = []
    scipy_ms = bench.common.pair_with_side(side, _stamping_calls(["spmv", "spmv_t"], log))
    out, err = side.finish()
    assert err == ""
    assert set(scipy_ms) == {("spmv", "m", "float64"), ("spmv_t", "m", "float64")}
    assert all(ms >= 0 for ms in scipy_ms.values())
    side_stamps = [json.loads(line) for line in out.splitlines()]
    assert [(s["op"], len(s["stamps"])) for s in side_stamps] == [("spmv", 4), ("spmv_t", 3)]
    for s in side_stamps:
        mine = [t for op, t in log if op == s["op"]]
        assert len(mine) == len(s["stamps"]) + 1  # a warm-up, then one before each call
        for before, theirs, after in zip(mine[1:], s["stamps"], mine[2:] + [float("inf")],
                                         strict=True):
            assert before < theirs < after  # strictly alternating


def test_side_calls_without_a_scipy_call_to_pair_run_unpaired(bench):
    side = bench.start(1, "cg:2", "spmv:2")
    log = []
    scipy_ms = bench.common.pair_with_side(side, _stamping_calls(["spmv"], log))
    out, err = side.finish()
    assert err == "" and list(scipy_ms) == [("spmv", "m", "float64")]
    assert [json.loads(line)["op"] for line in out.splitlines()] == ["cg", "spmv"]
    assert len(log) == 3


def test_a_side_that_dies_part_way_ends_the_run_with_its_error(bench):
    side = bench.start(2, "spmv:4:2", "spmv_t:3")
    log = []
    t0 = time.monotonic()
    scipy_ms = bench.common.pair_with_side(side, _stamping_calls(["spmv", "spmv_t"], log))
    out, err = side.finish()
    assert time.monotonic() - t0 < 30  # no hang: the link's end is seen
    assert err.startswith("exited with 3")
    assert list(scipy_ms) == [("spmv", "m", "float64")]  # the calls made before it died
    assert out == ""


def test_a_side_that_never_connects_is_given_up_at_its_exit(bench, tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("import sys; sys.stderr.write('no PETSc here\\n'); sys.exit(2)\n")
    side = bench.paced.PacedSide([sys.executable, str(bad)], None, 2, 60.0)
    assert list(side.ops()) == []
    out, err = side.finish()
    assert out == "" and err == "exited with 2: no PETSc here"


def test_a_side_that_hangs_is_killed_at_the_deadline(bench, tmp_path):
    slow = tmp_path / "slow.py"
    slow.write_text("import time; time.sleep(60)\n")
    t0 = time.monotonic()
    side = bench.paced.PacedSide([sys.executable, str(slow)], None, 1, 2.0)
    assert list(side.ops()) == []
    out, err = side.finish()
    assert time.monotonic() - t0 < 20
    assert err.startswith("timed out")
