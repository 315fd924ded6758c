"""What the benchmark scripts share: process set-up, timing, child processes, PETSc,
the copy-bandwidth roofline, tables and JSON.

A script calls :func:`setup_env` *before* importing jax: JAX fixes its device count at
start-up, so configurations that need another device count or thread count run as child
processes of the same script (``JAXSPARSE_BENCH_CHILD`` names the configuration), and
report their timings to the parent as tagged JSON lines on stdout.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import pathlib
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable

import _paced

HERE = pathlib.Path(__file__).resolve().parent
TAG = "@@bench "  # prefix of the lines a child process reports on
# Cells of SciPy's time taken alternately with one column's calls: PAIRED + column.
PAIRED = "scipy@"
CHILD_ENV = "JAXSPARSE_BENCH_CHILD"
# Child configurations: the environment each starts with (set before jax is imported).
# "threads1" is one core: it also pins itself to one core (setup_env), so that XLA's own
# operations (jax.experimental.sparse's products among them) run on one core as well.
CHILDREN = {
    "threads1": {"JAX_NUM_CPU_DEVICES": "1", "JAXSPARSE_NUM_THREADS": "1"},
    "sharded2": {"JAX_NUM_CPU_DEVICES": "2", "JAX_PLATFORMS": "cpu"},
}
NOT_INSTALLED = "not installed"


def setup_env() -> str | None:
    """Fix the JAX environment of this process; return the child configuration, if any.

    The parent runs on one CPU device with the default number of threads, whatever the
    caller's environment (pytest's conftest asks for 4 devices, for instance).
    Call it before NumPy or jax is imported.
    """
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    # NumPy's BLAS (the dot products of SciPy's solvers) on one thread unless asked
    # otherwise: its spinning threads, on cores busy with other work, made SciPy's
    # float64 CG 7x slower here, which no one would call SciPy's speed.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    child = os.environ.get(CHILD_ENV) or None
    if child is None:
        os.environ["JAX_NUM_CPU_DEVICES"] = "1"
        os.environ.pop("JAXSPARSE_NUM_THREADS", None)
    elif child == "threads1":
        pin_to_one_core()
    return child


def pin_to_one_core() -> None:
    """Run this process, and every thread it starts from now on, on one of its cores.

    ``JAXSPARSE_NUM_THREADS=1`` holds jaxsparse's kernels to one thread, but not XLA:
    its CPU client splits its own loops over every core (``jax.experimental.sparse``'s
    BCSR product, random matrix, n = 1M: 60 ms on both cores of this machine, 137 on one
    core), so a one-core column needs the process on one core. jaxsparse's own one-core
    products and CG took the same time pinned or not. Linux only; elsewhere a no-op."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def backend_in_use(op: str = "csr_matmul") -> str:
    """The backend jaxsparse picks for ``op`` in this process (``backend=None``), with the
    native kernels' thread count."""
    from jaxsparse.ops import _dispatch

    backend = _dispatch.pick(op)
    if backend == "native":
        try:
            from jaxsparse.ops.native import num_threads

            backend += f" x{num_threads()}"
        except (ImportError, ValueError):
            pass
    return backend


def machine() -> str:
    """One line on what ran: versions, cores, BLAS threads."""
    import jax
    import numpy as np
    import scipy

    import jaxsparse

    return (
        f"jaxsparse {jaxsparse.__version__}, JAX {jax.__version__}, NumPy {np.__version__}, "
        f"SciPy {scipy.__version__}; CPU, {cores()} cores; "
        f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS')}"
    )


def cores() -> int:
    """CPU cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# -- options ---------------------------------------------------------------------------
def parser(description: str, repeats: int, others: bool = True) -> argparse.ArgumentParser:
    """The options every script takes; ``others``: it also runs children and PETSc."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--quick", action="store_true", help="tiny sizes, 3 repeats (for tests)")
    p.add_argument("--repeats", type=int, default=repeats, help="timed calls per cell")
    p.add_argument("--json", metavar="PATH", help="also write the results as JSON here")
    p.add_argument("--plot", metavar="DIR", help="draw figures here (needs matplotlib)")
    if others:
        p.add_argument("--no-children", action="store_true", help="skip the child processes")
        p.add_argument("--no-petsc", action="store_true", help="skip PETSc")
    return p


# -- timing ----------------------------------------------------------------------------
def check_and_time(cells: Cells, key: tuple, column: str, setup: Callable[[], tuple],
                   error_of: Callable[[object], float], tol: float, repeats: int,
                   label: str, reference: str = "SciPy",
                   baseline: Callable[[], object] | None = None) -> None:
    """One cell: ``setup()`` gives ``(call, to_host)``; the result of ``call()`` (through
    ``to_host`` when not None) is checked, ``error_of(result) <= tol``, before ``call`` is
    timed. A wrong result or a failure marks the cell ("wrong" / "error") with a note and
    never stops the other columns. With ``baseline`` (SciPy's call), the two are timed
    alternately and the baseline's time is kept as cell ``PAIRED + column``, which the
    column's speed-up is then taken against (:func:`paired_median_ms`)."""
    try:
        call, to_host = setup()
        got = call()
        err = float(error_of(to_host(got) if to_host else got))
        if not err <= tol:
            cells.put(key, column, mark="wrong")
            cells.note(f"{label}: differs from {reference} by {err:.1e}")
            return
        if baseline is None:
            cells.put(key, column, median_ms(call, repeats))
        else:
            ms, baseline_ms = paired_median_ms(call, baseline, repeats)
            cells.put(key, column, ms)
            cells.put(key, PAIRED + column, baseline_ms)
    except Exception as e:  # a failing column must not stop the others
        cells.put(key, column, mark="error")
        cells.note(f"{label}: {type(e).__name__}: {str(e)[:200]}")


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``fn()`` in ms over ``repeats`` calls after one warm-up call,
    each waited for with ``jax.block_until_ready`` (a no-op on NumPy results)."""
    import jax

    jax.block_until_ready(fn())
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        jax.block_until_ready(fn())
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3


def paired_median_ms(fn: Callable[[], object], baseline: Callable[[], object],
                     repeats: int) -> tuple[float, float]:
    """Median wall times in ms of ``fn()`` and ``baseline()``, called alternately after
    one warm-up call each. This machine's speed drifts by up to 2x over minutes (other
    tenants), so a ratio of two medians taken minutes apart, or in different processes,
    partly measures the drift; calls a few milliseconds apart see the same machine."""
    import jax

    jax.block_until_ready(fn())
    jax.block_until_ready(baseline())
    times, baseline_times = [], []
    for _ in range(repeats):
        for f, out in ((baseline, baseline_times), (fn, times)):
            t0 = time.perf_counter()
            jax.block_until_ready(f())
            out.append(time.perf_counter() - t0)
    return statistics.median(times) * 1e3, statistics.median(baseline_times) * 1e3


def copy_bandwidth(megabytes: int = 400, repeats: int = 5) -> float:
    """Memory bandwidth in GB/s of a large NumPy copy: bytes read + written / best time."""
    import numpy as np

    src = np.ones(megabytes * 2**20 // 8)
    dst = np.empty_like(src)
    best = min(_time_once(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return 2 * src.nbytes / best / 1e9


def _time_once(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


# -- child processes -------------------------------------------------------------------
def report(**fields) -> None:
    """A child's result line, read by :func:`run_child` in the parent."""
    print(TAG + json.dumps(fields), flush=True)


def report_cells(cells: Cells) -> None:
    """A child's whole result: every cell, then the backend it used and its notes."""
    for key, row in cells.ms.items():
        for column, ms in row.items():
            report(key=key, column=column, ms=ms)
    for key, row in cells.marks.items():
        for column, mark in row.items():
            report(key=key, column=column, mark=mark)
    report(backend=backend_in_use(), notes=cells.notes)


def run_children(
    script: str, child_columns: dict[str, list[str]], argv: list[str], timeout: float,
    cells: Cells, backends: dict, skip: bool = False
) -> None:
    """Run every child configuration of ``script`` (``child_columns``: configuration ->
    the columns that child times, jaxsparse's first: the backend the child reports is
    that column's), one after the other, into ``cells``."""
    for config, columns in child_columns.items():
        if skip:
            cells.note(f"{', '.join(columns)}: skipped (--no-children)")
            cells.defaults.update(dict.fromkeys(columns, "skipped"))
            continue
        reports, err = run_child(script, config, argv, timeout)
        if err:  # cells it did not report on
            cells.defaults.update(dict.fromkeys(columns, "failed"))
        for r in reports:
            if "backend" in r:
                backends.update(dict.fromkeys(columns[:1], r["backend"]))
                cells.notes.extend(n for n in r["notes"] if n not in cells.notes)
            else:
                cells.put(tuple(r["key"]), r["column"], r.get("ms"), r.get("mark", ""))
        cells.note(err)


def run_child(script: str, config: str, argv: list[str], timeout: float) -> tuple[list, str]:
    """Run ``script argv`` as child ``config``; return (its reports, error or "")."""
    env = {**os.environ, **CHILDREN[config], CHILD_ENV: config}
    if config != "threads1":
        env.pop("JAXSPARSE_NUM_THREADS", None)
    cmd = [sys.executable, str(HERE / script), *argv]
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return [], f"child {config} timed out after {timeout:.0f} s"
    reports = [
        json.loads(line[len(TAG) :]) for line in done.stdout.splitlines() if line.startswith(TAG)
    ]
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-1:] or ["(no stderr)"]
        return reports, f"child {config} exited with {done.returncode}: {tail[0]}"
    return reports, ""


# -- PETSc -----------------------------------------------------------------------------
PETSC_PYTHON = "/usr/bin/python3"
_petsc_state: dict[str, object] = {}


def petsc_env() -> tuple[dict | None, str]:
    """(environment to run ``_petsc_side.py`` under mpirun, "") or (None, why not)."""
    if "env" in _petsc_state:
        return _petsc_state["env"], _petsc_state["why"]
    env, why = _find_petsc()
    _petsc_state.update(env=env, why=why)
    return env, why


def _find_petsc() -> tuple[dict | None, str]:
    if shutil.which("mpirun") is None:
        return None, "mpirun not found"
    if not os.path.exists(PETSC_PYTHON):
        return None, f"{PETSC_PYTHON} not found"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    # Debian's petsc4py.pth looks under $PETSC_DIR, else /usr/lib/petsc (an alternatives
    # link that only the -dev package creates).
    if "PETSC_DIR" not in env and not os.path.exists("/usr/lib/petsc"):
        found = sorted(glob.glob("/usr/lib/petscdir/petsc*/*-real"))
        if found:
            env["PETSC_DIR"] = found[-1]
    env.update(
        OMPI_ALLOW_RUN_AS_ROOT="1",
        OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
        OMPI_MCA_btl="self,vader",
        OMPI_MCA_btl_vader_single_copy_mechanism="none",
        # Yield instead of spinning while waiting: on a machine whose cores are shared
        # (or with more ranks than cores), spinning ranks steal each other's time.
        OMPI_MCA_mpi_yield_when_idle="1",
        OMP_NUM_THREADS="1",
    )
    probe = [PETSC_PYTHON, "-c", "import petsc4py.PETSc"]
    try:
        done = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        return None, "importing petsc4py timed out"
    if done.returncode != 0:
        return None, f"petsc4py not importable by {PETSC_PYTHON}"
    return env, ""


PETSC_COLUMNS = {"petsc-np1": 1, "petsc-np2": 2}


def petsc_cells(
    cells: Cells,
    info: dict,
    side_argv: Callable[[list[str]], list[str]],
    timeout: float,
    skip: bool,
    tol: float,
    baseline: Callable[[str], dict],
    iters: int | None = None,
) -> None:
    """Fill the PETSc columns of every row of ``info`` (key ``(op, matrix, dtype)`` ->
    ``(n, nnz, norm of SciPy's result)``): float64 rows from ``_petsc_side.py`` under
    ``mpirun -n 1`` and ``-n 2`` (``side_argv([matrix])``: its arguments for that
    matrix), checked by that norm; other dtypes n/a.

    PETSc runs one matrix at a time (``baseline(matrix)``: {row key: SciPy's call} for
    its float64 rows), each of its calls paced by this process (``_paced.py``): SciPy's
    call, then PETSc's, alternately, as every other column times; the median of those
    SciPy calls is kept as cell ``PAIRED + column``, the speed-up's numerator."""
    env, why = (None, "skipped (--no-petsc)") if skip else petsc_env()
    results = {}
    matrices = list(dict.fromkeys(key[1] for key in info if key[2] == "float64"))
    for name in matrices if env is not None else []:
        calls = baseline(name)
        for column, nproc in PETSC_COLUMNS.items():
            out, scipy_ms, err = run_petsc_paced(env, nproc, side_argv([name]), timeout,
                                                  calls)
            for key, ms in scipy_ms.items():
                cells.put(key, PAIRED + column, ms)
            cells.note(err)
            results.update({(r["op"], r["matrix"], r["dtype"], column): r for r in out})
        del calls  # this matrix's SciPy copy goes before the next one is built
    for key, (_, _, norm) in info.items():
        for column in PETSC_COLUMNS:
            r = results.get((*key, column), {})
            if env is None:
                cells.put(key, column, mark="skipped" if skip else NOT_INSTALLED)
            elif key[2] != "float64":
                cells.put(key, column, mark="n/a")
            elif "ms" not in r or (iters is not None and r.get("iterations") != iters):
                cells.put(key, column, mark="error")
                cells.note(f"{column} {' '.join(key)}: {r.get('error', r or 'no result')}")
            elif abs(r["norm"] - norm) > tol * (norm + 1.0):
                cells.put(key, column, mark="wrong")
                cells.note(f"{column} {' '.join(key)}: norm {r['norm']} instead of {norm}")
            else:
                cells.put(key, column, r["ms"])
    if env is None:
        cells.note(f"PETSc {why}" if skip else f"PETSc not installed: {why}")


def run_petsc_paced(env: dict, nproc: int, side_argv: list[str], timeout: float,
                    calls: dict) -> tuple[list, dict, str]:
    """``mpirun -n nproc _petsc_side.py side_argv`` in ``env`` (:func:`petsc_env`'s),
    each of its timed calls after one of SciPy's (``calls``: {row key: SciPy's call},
    matched to the side's ops by the key's first field): (its JSON lines, {row key:
    median ms of SciPy's paired calls}, error or "")."""
    cmd = ["mpirun", "--allow-run-as-root", "--oversubscribe", "--bind-to", "none"]
    cmd += ["-n", str(nproc), PETSC_PYTHON, str(HERE / "_petsc_side.py"), *side_argv]
    side = _paced.PacedSide(cmd, env, nproc, timeout)
    scipy_ms = pair_with_side(side, calls)
    out, err = side.finish()
    results = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return results, scipy_ms, f"PETSc np={nproc} {err}" if err else ""


def pair_with_side(side: _paced.PacedSide, calls: dict) -> dict:
    """Drive ``side`` through its ops, one of SciPy's calls (``calls``: {row key: call},
    matched to the side's op by the key's first field) before each of its calls, after
    one warm-up call as in :func:`paired_median_ms`: {row key: median ms of SciPy's}."""
    import jax

    scipy_ms = {}
    for op, n_calls in side.ops():
        key = next((k for k in calls if k[0] == op), None)
        if key is not None:
            jax.block_until_ready(calls[key]())
        times = []
        for _ in range(n_calls):
            if key is not None:  # else nothing to pair with: the side's calls run unpaired
                t0 = time.perf_counter()
                jax.block_until_ready(calls[key]())
                times.append(time.perf_counter() - t0)
            if side.call() is None:  # the op failed part way
                break
        if times:
            scipy_ms[key] = statistics.median(times) * 1e3
    return scipy_ms


# -- results ---------------------------------------------------------------------------
class Cells:
    """Per-row timings (ms) or marks ("n/a", "-", "not installed", ...) by column."""

    def __init__(self) -> None:
        self.ms: dict[tuple, dict[str, float]] = {}
        self.marks: dict[tuple, dict[str, str]] = {}
        self.notes: list[str] = []
        self.defaults: dict[str, str] = {}  # column -> mark of the cells never filled

    def put(self, key: tuple, column: str, ms: float | None = None, mark: str = "") -> None:
        if ms is not None:
            self.ms.setdefault(key, {})[column] = float(ms)
        else:
            self.marks.setdefault(key, {})[column] = mark

    def note(self, text: str) -> None:
        if text and text not in self.notes:
            self.notes.append(text)

    def get(self, key: tuple, column: str) -> float | str:
        ms = self.ms.get(key, {}).get(column)
        if ms is not None:
            return ms
        return self.marks.get(key, {}).get(column, self.defaults.get(column, "missing"))


def json_row(cells: Cells, key: tuple, columns: Iterable[str], **fields) -> dict:
    """One row of a JSON payload: its fields, times in ms, and the marks of the others."""
    values = {c: cells.get(key, c) for c in ["scipy", *columns]}
    paired = cells.ms.get(key, {})
    return {
        **fields,
        "ms": {c: v for c, v in values.items() if not isinstance(v, str)},
        "marks": {c: v for c, v in values.items() if isinstance(v, str)},
        # SciPy's time taken alternately with the column's (the speed-up's numerator)
        "scipy_ms_paired": {c: paired[PAIRED + c] for c in columns if PAIRED + c in paired},
    }


def format_table(columns: Iterable[str], rows: Iterable[Iterable], decimals=None) -> str:
    """An aligned text table: the first two columns left, the rest right, two spaces
    between columns (cells may hold single spaces). Floats get ``decimals`` decimals, or
    by default 3 in columns whose name ends in ``ms`` (times) and 2 elsewhere (ratios)."""
    columns = list(columns)

    def cell(name, value):
        if isinstance(value, float):
            places = decimals if decimals is not None else 3 if name.endswith("ms") else 2
            return f"{value:.{places}f}"
        return str(value)

    cells = [[cell(c, v) for c, v in zip(columns, r, strict=True)] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(columns)]

    def line(values):
        return "  ".join(
            v.ljust(w) if i < 2 else v.rjust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


def write_json(path: str | None, payload: dict) -> None:
    if not path:
        return
    target = pathlib.Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(payload, indent=1, default=str) + "\n")
    print(f"wrote {target}")


def have_matplotlib() -> bool:
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        print("note: plots skipped, matplotlib is not installed (pip install 'jaxsparse[plot]')")
        return False
    return True


def cell_value(cells: Cells, key: tuple, column: str, scipy_ms: float | str, how: str):
    """One table cell: ``how`` is "ratio" (SciPy's time / this one), "ms", or "gbs:<bytes>"
    (bytes / time in GB/s); a mark ("n/a", ...) stays a mark."""
    value = cells.get(key, column)
    if isinstance(value, str):
        return value
    if how == "ratio":
        scipy_ms = cells.ms.get(key, {}).get(PAIRED + column, scipy_ms)
        return scipy_ms / value if isinstance(scipy_ms, float) else "-"
    if how == "ms":
        return value
    return int(how.split(":")[1]) / (value * 1e-3) / 1e9


def result_tables(
    cells: Cells,
    rows: list[tuple[tuple, list]],
    lead: list[str],
    columns: list[str],
    what: str,
    bandwidth: float | None = None,
    nbytes: dict | None = None,
) -> list[str]:
    """Text tables for ``rows`` = [(key, leading cells)]: speed-up over SciPy, times in
    ms, and (given the copy bandwidth and each row's bytes) GB/s against the roofline."""
    tables = []
    scipy = {key: cells.get(key, "scipy") for key, _ in rows}
    ratio = [
        [*head, scipy[k], *(cell_value(cells, k, c, scipy[k], "ratio") for c in columns)]
        for k, head in rows
    ]
    paired = {k[len(PAIRED):] for key, _ in rows for k in cells.ms.get(key, {})
              if k.startswith(PAIRED)}
    how = "; SciPy timed alternately with each column" if paired else ""
    tables.append(
        f"{what}: speed-up over SciPy (SciPy's time / the column's; > 1 = faster than SciPy"
        f"{how})\n" + format_table([*lead, "scipy-ms", *columns], ratio)
    )
    times = [
        [*head, *(cell_value(cells, k, c, 0.0, "ms") for c in ["scipy", *columns])]
        for k, head in rows
    ]
    tables.append(
        f"{what}: times in ms\n" + format_table([*lead, "scipy", *columns], times, decimals=3)
    )
    if bandwidth and nbytes:
        gbs = [
            [
                *head,
                nbytes[k] / 1e6,
                nbytes[k] / bandwidth / 1e6,
                *(cell_value(cells, k, c, 0.0, f"gbs:{nbytes[k]}") for c in ["scipy", *columns]),
            ]
            for k, head in rows
        ]
        tables.append(
            f"{what}: achieved GB/s (bytes of a CSR product with int32 indices / time); "
            f"roofline-ms = MB / copy bandwidth ({bandwidth:.1f} GB/s)\n"
            + format_table([*lead, "MB", "roofline-ms", "scipy", *columns], gbs)
        )
    return tables
