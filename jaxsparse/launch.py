"""``python -m jaxsparse.launch -n N -- cmd args...``: run one program as N processes.

Each process gets its rank and the coordinator's address in the environment that
:func:`jaxsparse.distributed.initialize` reads, ``K`` CPU devices
(``--devices-per-process``; ``JAX_NUM_CPU_DEVICES``, which only the CPU backend reads),
and its share of this host's cores for the native kernels (``JAXSPARSE_NUM_THREADS``,
unless set already).
Every output line is prefixed with its rank. The run fails fast: when any process exits
non-zero or dies, the others are stopped at once (not after JAX's heartbeat timeout),
and the launcher exits with that process's code after naming it. Ctrl-C and
``--timeout`` stop them all. No process outlives the launcher: each runs in its own
process group, which is killed on every way out, and asks the kernel to kill it if the
launcher itself dies.

Example (two processes, two CPU devices each):

    python -m jaxsparse.launch -n 2 --devices-per-process 2 -- python my_program.py

On a cluster the launcher is not needed: ``srun -n 2 python my_program.py`` (SLURM) or
one process per host on a multi-GPU machine; ``jaxsparse.distributed.initialize()`` then
lets JAX detect the cluster.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from .distributed import COORDINATOR_ENV, NUM_PROCESSES_ENV, PROCESS_ID_ENV

# How long a stopped process may take to exit on SIGTERM before it is killed.
_GRACE_SECONDS = 3.0
_POLL_SECONDS = 0.05


def _parser() -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    p = argparse.ArgumentParser(
        prog="python -m jaxsparse.launch", description=doc[0],
        epilog="example:\n  python -m jaxsparse.launch -n 2 --devices-per-process 2 -- "
               "python my_program.py",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-n", "--nprocs", type=int, required=True, help="number of processes")
    p.add_argument("--devices-per-process", type=int, default=1, metavar="K",
                   help="CPU devices per process (default 1)")
    p.add_argument("--port", type=int, default=None,
                   help="coordinator port on 127.0.0.1 (default: a free one)")
    p.add_argument("--timeout", type=float, default=None, metavar="S",
                   help="stop everything after S seconds (exit code 124)")
    p.add_argument("cmd", nargs=argparse.REMAINDER, help="-- then the command to run")
    return p


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check_port(port: int) -> None:
    """Raise ``OSError`` naming the port when it is already in use."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError as err:
            raise OSError(f"coordinator port {port} is already in use on 127.0.0.1 "
                          "(choose another with --port, or leave it out)") from err


def _die_with_parent() -> None:
    """In the child, before exec: SIGKILL when the launcher dies (Linux prctl)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass  # not Linux: the process group kill in ``_stop`` still applies


class _Ranks:
    """The N child processes, their prefixed output, and stopping them."""

    def __init__(self, cmd: list[str], n: int, devices: int, port: int):
        self.lock = threading.Lock()
        self.procs: list[subprocess.Popen] = []
        self.readers: list[threading.Thread] = []
        # (rank, exit code) in the order the processes ended: when one rank's death
        # makes the others fail too, the first to end is the one to name.
        self.exits: list[tuple[int, int]] = []
        for rank in range(n):
            env = dict(os.environ)
            env.update({COORDINATOR_ENV: f"127.0.0.1:{port}", NUM_PROCESSES_ENV: str(n),
                        PROCESS_ID_ENV: str(rank), "JAX_NUM_CPU_DEVICES": str(devices),
                        "PYTHONUNBUFFERED": "1"})
            # The native kernels split each device's work over cores / local devices
            # threads; N processes on one host share its cores.
            env.setdefault("JAXSPARSE_NUM_THREADS",
                           str(max(1, (os.cpu_count() or 1) // (n * devices))))
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True, preexec_fn=_die_with_parent)
            self.procs.append(proc)
            reader = threading.Thread(target=self._relay, args=(rank, proc), daemon=True)
            reader.start()
            self.readers.append(reader)
            threading.Thread(target=self._wait, args=(rank, proc), daemon=True).start()

    def _wait(self, rank: int, proc: subprocess.Popen) -> None:
        code = proc.wait()
        with self.lock:
            self.exits.append((rank, code))

    def _relay(self, rank: int, proc: subprocess.Popen) -> None:
        for raw in iter(proc.stdout.readline, b""):
            line = raw.decode(errors="replace").rstrip("\n")
            with self.lock:
                sys.stdout.write(f"[rank {rank}] {line}\n")
                sys.stdout.flush()

    def say(self, text: str) -> None:
        with self.lock:
            sys.stderr.write(f"jaxsparse.launch: {text}\n")
            sys.stderr.flush()

    def first_failure(self) -> tuple[int, int] | None:
        with self.lock:
            return next(((rank, code) for rank, code in self.exits if code != 0), None)

    def all_done(self) -> bool:
        with self.lock:
            return len(self.exits) == len(self.procs) and all(c == 0 for _, c in self.exits)

    def stop(self) -> None:
        """SIGTERM every live process group, then SIGKILL what is left."""
        live = [p for p in self.procs if p.poll() is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + _GRACE_SECONDS
        for proc in live:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        for proc in self.procs:  # the group too: grandchildren of an exited rank
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        for proc in self.procs:
            proc.wait()
        for reader in self.readers:
            reader.join(timeout=1.0)


def _describe(code: int) -> str:
    if code < 0:
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"
    return f"exited with code {code}"


def run(cmd: list[str], n: int, *, devices: int = 1, port: int | None = None,
        timeout: float | None = None) -> int:
    """Run ``cmd`` as ``n`` processes; the exit code the launcher should return."""
    if n < 1:
        raise ValueError(f"-n must be >= 1, got {n}")
    if devices < 1:
        raise ValueError(f"--devices-per-process must be >= 1, got {devices}")
    if not cmd:
        raise ValueError("no command given: put it after --")
    if port is None:
        port = free_port()
    else:
        check_port(port)
    with _interrupt_flag() as interrupted:
        return _supervise(cmd, n, devices, port, timeout, interrupted)


@contextlib.contextmanager
def _interrupt_flag():
    """An event set by Ctrl-C (SIGINT) while the ranks run.

    A ``KeyboardInterrupt`` raised wherever the main thread happens to be can land
    between a lock's acquire and the ``with`` block that would release it, or inside the
    constructor that starts the ranks, before anything can stop them; once in CI, Ctrl-C
    did not stop the launcher within 20 s. The handler only sets a flag; the supervising
    loop reads it between polls. Off the main thread, where
    handlers cannot be installed, the flag stays clear and ``KeyboardInterrupt`` is
    handled as before.
    """
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.signal(signal.SIGINT, lambda signum, frame: flag.set())
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


def _supervise(cmd, n, devices, port, timeout, interrupted: threading.Event) -> int:
    ranks = _Ranks(cmd, n, devices, port)
    start = time.monotonic()
    try:
        while True:
            if interrupted.is_set():
                raise KeyboardInterrupt
            failed = ranks.first_failure()
            if failed is not None:
                rank, code = failed
                ranks.say(f"rank {rank} {_describe(code)}; stopping the other ranks")
                return code if code > 0 else 128 - code
            if ranks.all_done():
                return 0
            if timeout is not None and time.monotonic() - start > timeout:
                ranks.say(f"timed out after {timeout:g} s; stopping every rank")
                return 124
            time.sleep(_POLL_SECONDS)
    except KeyboardInterrupt:
        ranks.say("interrupted; stopping every rank")
        return 130
    finally:
        ranks.stop()


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    try:
        return run(cmd, args.nprocs, devices=args.devices_per_process, port=args.port,
                   timeout=args.timeout)
    except (ValueError, OSError) as err:
        parser.error(str(err))
    return 2  # not reached: parser.error exits


if __name__ == "__main__":
    sys.exit(main())
