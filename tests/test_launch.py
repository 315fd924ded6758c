"""``python -m jaxsparse.launch`` and ``jaxsparse.distributed``: two local processes.

The launcher's own behaviour (rank prefixes, fail-fast, timeouts, signals, no orphans)
is tested with tiny non-JAX programs; the multi-process JAX runs (sharded SpMV, CG and
gradients; the drop-in's Figure-1 program) with the scripts in ``tests/multiprocess``.
Every run has a timeout.
"""

from __future__ import annotations

import os
import pathlib
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

import jaxsparse as js
from jaxsparse import distributed, launch

ROOT = pathlib.Path(__file__).resolve().parent
SCRIPTS = ROOT / "multiprocess"


def _launch(*args: str, timeout: float = 120, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxsparse.launch", *args],
                          capture_output=True, text=True, timeout=timeout, env=env)


def _script(tmp_path, body: str) -> str:
    path = tmp_path / "prog.py"
    path.write_text(textwrap.dedent(body))
    return str(path)


# -- the launcher --------------------------------------------------------------------------
def test_each_rank_gets_its_environment_and_a_prefix(tmp_path):
    prog = _script(tmp_path, """
        import os
        print("rank", os.environ["JAXSPARSE_PROCESS_ID"], "of",
              os.environ["JAXSPARSE_NUM_PROCESSES"], os.environ["JAXSPARSE_COORDINATOR"],
              os.environ["JAXSPARSE_NUM_THREADS"], os.environ["JAX_NUM_CPU_DEVICES"])
    """)
    env = {k: v for k, v in os.environ.items() if k != "JAXSPARSE_NUM_THREADS"}
    done = _launch("-n", "3", "--devices-per-process", "2", "--", sys.executable, prog,
                   env=env)
    assert done.returncode == 0, done.stderr
    lines = sorted(done.stdout.splitlines())
    assert [line.split()[:5] for line in lines] == [
        ["[rank", f"{r}]", "rank", str(r), "of"] for r in range(3)]
    assert len({line.split()[6] for line in lines}) == 1  # one coordinator address
    assert all(line.endswith(" 2") for line in lines)  # devices
    threads = max(1, (os.cpu_count() or 1) // 6)  # the host's cores over 3 x 2 devices
    assert all(line.split()[7] == str(threads) for line in lines)


def test_a_failing_rank_stops_the_others_fast_and_is_named(tmp_path):
    prog = _script(tmp_path, """
        import os, sys, time
        if os.environ["JAXSPARSE_PROCESS_ID"] == "1":
            sys.exit(3)
        time.sleep(60)
    """)
    start = time.monotonic()
    done = _launch("-n", "2", "--", sys.executable, prog)
    assert time.monotonic() - start < 20  # not after the sleeping rank's 60 s
    assert done.returncode == 3
    assert "rank 1 exited with code 3; stopping the other ranks" in done.stderr


def test_a_killed_rank_is_named_with_its_signal(tmp_path):
    prog = _script(tmp_path, """
        import os, signal, time
        if os.environ["JAXSPARSE_PROCESS_ID"] == "0":
            os.kill(os.getpid(), signal.SIGKILL)
        time.sleep(60)
    """)
    done = _launch("-n", "2", "--", sys.executable, prog)
    assert done.returncode == 128 + signal.SIGKILL
    assert "rank 0 was killed by SIGKILL" in done.stderr


def test_timeout_stops_every_rank_and_leaves_no_process(tmp_path):
    marker = tmp_path / "pids"
    prog = _script(tmp_path, f"""
        import os, subprocess, sys, time
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
        with open({str(marker)!r}, "a") as f:
            f.write(f"{{os.getpid()}} {{child.pid}}\\n")
        time.sleep(120)
    """)
    done = _launch("-n", "2", "--timeout", "3", "--", sys.executable, prog)
    assert done.returncode == 124
    assert "timed out after 3 s" in done.stderr
    pids = [int(p) for line in marker.read_text().split("\n") if line for p in line.split()]
    assert len(pids) == 4  # two ranks, each with a child of its own
    time.sleep(0.5)
    for pid in pids:  # ranks and their children are gone (reaped or never left behind)
        assert not pathlib.Path(f"/proc/{pid}").exists() or _is_zombie(pid), pid


def _is_zombie(pid: int) -> bool:
    try:
        return pathlib.Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z"
    except FileNotFoundError:
        return True


def test_ctrl_c_stops_every_rank(tmp_path):
    prog = _script(tmp_path, """
        import time
        print("started", flush=True)
        time.sleep(60)
    """)
    proc = subprocess.Popen([sys.executable, "-m", "jaxsparse.launch", "-n", "2", "--",
                             sys.executable, prog], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    seen = 0
    while seen < 2:  # both ranks are running
        if "started" in proc.stdout.readline():
            seen += 1
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130 and "interrupted; stopping every rank" in err


def test_a_busy_port_is_named(tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = _launch("-n", "2", "--port", str(port), "--", sys.executable, "-c", "pass")
    assert done.returncode == 2
    assert f"coordinator port {port} is already in use" in done.stderr


def test_help_shows_an_example_and_bad_arguments_are_refused():
    done = _launch("--help")
    assert done.returncode == 0 and "python -m jaxsparse.launch -n 2" in done.stdout
    for args, message in ((["-n", "0", "--", "true"], "-n must be >= 1"),
                          (["-n", "2"], "no command given"),
                          (["-n", "1", "--devices-per-process", "0", "--", "true"],
                           "--devices-per-process must be >= 1")):
        done = _launch(*args)
        assert done.returncode == 2 and message in done.stderr, (args, done.stderr)


# -- jaxsparse.distributed in one process ------------------------------------------------------
def test_initialize_is_a_no_op_for_one_process(monkeypatch):
    for name in (distributed.COORDINATOR_ENV, distributed.NUM_PROCESSES_ENV,
                 distributed.PROCESS_ID_ENV, "SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE",
                 "PMI_SIZE"):
        monkeypatch.delenv(name, raising=False)
    assert js.distributed.initialize() is False
    assert js.distributed.initialize(num_processes=1) is False  # safe to call again
    assert js.distributed.is_main_process()
    monkeypatch.setenv(distributed.NUM_PROCESSES_ENV, "2")
    with pytest.raises(ValueError, match="needs the coordinator address"):
        js.distributed.initialize()
    with pytest.raises(ValueError, match="process_id must be in"):
        js.distributed.initialize(coordinator_address="127.0.0.1:1", process_id=5)
    monkeypatch.setenv(distributed.NUM_PROCESSES_ENV, "two")
    with pytest.raises(ValueError, match="JAXSPARSE_NUM_PROCESSES must be an integer"):
        js.distributed.initialize()


def test_initialize_after_a_computation_says_to_call_it_first(tmp_path):
    prog = _script(tmp_path, """
        import jax.numpy as jnp
        import jaxsparse as js
        jnp.ones(2).block_until_ready()
        try:
            js.distributed.initialize()
        except RuntimeError as err:
            print("refused:", err)
    """)
    done = _launch("-n", "2", "--timeout", "60", "--", sys.executable, prog)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("must run before any JAX computation") == 2


def test_print_once_and_gather_on_one_process(capsys):
    import numpy as np

    js.distributed.print_once("hello")
    assert capsys.readouterr().out == "hello\n"
    np.testing.assert_array_equal(js.distributed.gather(np.arange(3)), np.arange(3))


# -- JAX across two processes ------------------------------------------------------------------
@pytest.mark.parametrize("devices", [1, 2])
def test_sharded_spmv_cg_and_grad_across_two_processes(devices):
    done = _launch("-n", "2", "--devices-per-process", str(devices), "--timeout", "150",
                   "--", sys.executable, str(SCRIPTS / "sharded_spmv_cg.py"), timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for rank in (0, 1):
        assert (f"[rank {rank}] OK spmv process {rank} of 2, {2 * devices} devices"
                in done.stdout)
        for check in ("OK cg", "OK grad", "OK transpose spmm sddmm", "OK gmres bicgstab",
                      "OK every halo method"):
            assert f"[rank {rank}] {check}" in done.stdout, check
    assert done.stdout.count("OK once") == 1


@pytest.mark.parametrize("devices", [1, 2])
def test_assembly_from_local_rows_across_two_processes(devices):
    """Process 0 holds 90% of the rows; balancing moves rows so every device holds
    about the same nonzeros (imbalance <= 1.10), and SpMV and CG equal SciPy."""
    done = _launch("-n", "2", "--devices-per-process", str(devices), "--timeout", "150",
                   "--", sys.executable, str(SCRIPTS / "local_rows.py"), timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for rank in (0, 1):
        assert f"[rank {rank}] OK local_rows" in done.stdout
        assert f"[rank {rank}] OK whole" in done.stdout


def test_unmodified_figure1_program_with_the_drop_in_across_two_processes():
    env = dict(os.environ, JAXSPARSE_DEVICE_MIN_NNZ="0", JAXSPARSE_SOLVER_MIN_NNZ="0")
    done = _launch("-n", "2", "--devices-per-process", "2", "--timeout", "150", "--",
                   sys.executable, str(SCRIPTS / "figure1_dropin.py"), timeout=180, env=env)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    for rank in (0, 1):
        assert f"[rank {rank}] OK figure1" in done.stdout
        assert f"[rank {rank}] OK dropin cg" in done.stdout


def test_a_second_initialize_and_mismatched_meshes_are_clear_errors():
    """A repeated ``initialize`` with other arguments names the argument (the same ones:
    a no-op); a mesh of one process's devices, of fewer devices than leave every process
    a part, or different on each process is refused at ``shard``/``from_local_rows``/
    ``set_default_mesh`` (it used to be a ``KeyError`` on one rank while the other
    computed alone, or a 30 s hang in a collective); one device per process works."""
    done = _launch("-n", "2", "--devices-per-process", "2", "--timeout", "100", "--",
                   sys.executable, str(SCRIPTS / "process_faults.py"), timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    checks = ["initialize num_processes", "initialize process_id",
              "initialize coordinator_address", "initialize env", "local devices",
              "local devices, local rows", "local devices, default mesh",
              "mesh of 2 of 4 devices", "meshes differ"]
    for rank in (0, 1):
        for check in checks:
            assert f"[rank {rank}] OK refused {check}\n" in done.stdout, (rank, check)
        assert f"[rank {rank}] OK one device per process" in done.stdout


def test_a_worker_dying_before_a_collective_fails_the_launch_fast(tmp_path):
    prog = _script(tmp_path, """
        import os, sys
        import jaxsparse as js
        js.distributed.initialize()
        import jax, jax.numpy as jnp, numpy as np
        from jax.experimental import multihost_utils
        if jax.process_index() == 1:  # the other rank will wait for it in a collective
            raise RuntimeError("rank 1 fails")
        mesh = jax.make_mesh((jax.device_count(),), ("x",))
        x = jax.device_put(np.ones(jax.device_count()),
                           jax.sharding.NamedSharding(mesh, jax.sharding.PartitionSpec("x")))
        print(multihost_utils.process_allgather(jnp.sum(x)))
    """)
    start = time.monotonic()
    done = _launch("-n", "2", "--timeout", "100", "--", sys.executable, prog, timeout=120)
    assert time.monotonic() - start < 30
    assert done.returncode == 1 and "rank 1 exited with code 1" in done.stderr
    assert "[rank 1] RuntimeError: rank 1 fails" in done.stdout


def test_a_worker_calling_sys_exit_before_a_collective_fails_the_launch_fast(tmp_path):
    prog = _script(tmp_path, """
        import sys
        import jaxsparse as js
        js.distributed.initialize()
        import jax
        from jax.experimental import multihost_utils
        if jax.process_index() == 1:
            sys.exit(5)  # the other rank waits for it below
        multihost_utils.sync_global_devices("rank 1 never arrives")
    """)
    start = time.monotonic()
    done = _launch("-n", "2", "--timeout", "100", "--", sys.executable, prog, timeout=120)
    assert time.monotonic() - start < 25  # JAX's own exit would wait ~30 s or more
    assert done.returncode == 5 and "rank 1 exited with code 5" in done.stderr


def test_a_hung_worker_is_bounded_by_the_timeout(tmp_path):
    prog = _script(tmp_path, """
        import time
        import jaxsparse as js
        js.distributed.initialize()
        import jax
        if jax.process_index() == 0:
            time.sleep(600)  # hangs before the collective the other rank waits in
        from jax.experimental import multihost_utils
        multihost_utils.sync_global_devices("never reached by rank 0")
    """)
    start = time.monotonic()
    done = _launch("-n", "2", "--timeout", "6", "--", sys.executable, prog, timeout=60)
    assert time.monotonic() - start < 30
    assert done.returncode == 124 and "timed out after 6 s" in done.stderr


def test_free_port_is_bindable():
    port = launch.free_port()
    launch.check_port(port)  # nothing listens there


@pytest.mark.parametrize("when", ["while starting the ranks", "while they run"])
def test_ctrl_c_is_a_flag_read_between_polls(tmp_path, when):
    """SIGINT during ``run`` sets a flag instead of raising wherever the main thread is.
    Even when it arrives between starting one rank and the next (a ``KeyboardInterrupt``
    there escaped ``run`` and left the first rank running), ``run`` returns 130 with
    every rank stopped, and the previous SIGINT handler is back afterwards. Run in a
    fresh interpreter: the launcher forks, which a test worker holding JAX's threads
    should not do."""
    prog = _script(tmp_path, f"""
        import os, signal, subprocess, sys, threading, time
        from jaxsparse import launch

        started, popen = [], subprocess.Popen

        def spawn(*args, **kwargs):
            started.append(popen(*args, **kwargs))
            if {when!r} == "while starting the ranks" and len(started) == 1:
                os.kill(os.getpid(), signal.SIGINT)  # handled in this (main) thread, now
            return started[-1]

        subprocess.Popen = spawn
        if {when!r} == "while they run":
            threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        before = signal.getsignal(signal.SIGINT)
        start = time.monotonic()
        code = launch.run([sys.executable, "-c", "import time; time.sleep(60)"], 2)
        print("code", code, "fast", time.monotonic() - start < 30, "ranks", len(started),
              "stopped", all(p.poll() is not None for p in started),
              "handler back", signal.getsignal(signal.SIGINT) is before)
    """)
    done = subprocess.run([sys.executable, prog], capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "code 130 fast True ranks 2 stopped True handler back True", (
        done.stdout + done.stderr)
    assert "interrupted; stopping every rank" in done.stderr
