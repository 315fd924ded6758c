"""Call-by-call pacing of a side process (PETSc's, under ``mpirun``) by the benchmark,
so that its calls alternate with SciPy's as every other column's do.

This machine's speed drifts by up to 2x within minutes, so every column's speed-up is
taken against SciPy's calls timed alternately with its own. The side process runs under
the system Python, which has no SciPy to alternate with: the benchmark does it instead,
telling the side when to make each call. Over one Unix socket the benchmark listens on
(its path given to the side as ``--paced``):

- each rank connects and sends its rank, one line;
- rank 0 sends ``op NAME CALLS`` when it has warmed up ``NAME`` and is ready to time
  it ``CALLS`` times;
- then, per call, the benchmark times SciPy's call, sends ``g`` to every rank, and reads
  one line from rank 0: the call's milliseconds, sent after the call's closing barrier;
- the end of rank 0's link ends the run.

Between calls every rank sleeps in ``recv``: nothing spins while SciPy's call runs.
Standard library only, since the side imports it too.
"""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

GO = b"g"


class SideLink:
    """The side's end, one per rank."""

    def __init__(self, path: str, rank: int) -> None:
        self.rank = rank
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._sock.connect(path)
        self._sock.sendall(f"{rank}\n".encode())

    def ready(self, op: str, calls: int) -> None:
        if self.rank == 0:
            self._sock.sendall(f"op {op} {calls}\n".encode())

    def wait(self) -> None:
        """Block until the benchmark says go."""
        if self._sock.recv(1) != GO:
            raise EOFError("the benchmark closed the paced link")

    def report(self, ms: float) -> None:
        if self.rank == 0:
            self._sock.sendall(f"{ms!r}\n".encode())


class PacedSide:
    """``cmd + ["--paced", path]`` started with ``nproc`` ranks and driven call by call:
    ``for op, calls in side.ops(): ... side.call() ...``, then ``side.finish()``. Its
    stdout and stderr go to files, so that no full pipe can block it. Every wait gives up
    at ``timeout`` seconds from the start, or as soon as the process has exited."""

    def __init__(self, cmd: list[str], env: dict, nproc: int, timeout: float) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="jsbench-")
        path = os.path.join(self._dir.name, "link")
        self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._listener.bind(path)
        self._listener.listen(nproc)
        self._listener.settimeout(0.5)
        self._out = open(os.path.join(self._dir.name, "out"), "w+")
        self._err = open(os.path.join(self._dir.name, "err"), "w+")
        self.proc = subprocess.Popen([*cmd, "--paced", path], env=env, stdout=self._out,
                                     stderr=self._err, text=True)
        self._nproc, self._deadline = nproc, time.monotonic() + timeout
        self._links: dict[int, socket.socket] = {}
        self._buffer = b""
        self._pending: str | None = None  # a line read ahead by call()

    def ops(self) -> Iterator[tuple[str, int]]:
        """(op, number of calls) for each op rank 0 is ready to time, in its order, until
        it closes its link; a call() that gets an op line instead of a time hands it on
        here."""
        self._connect()
        while True:
            line = self._pending if self._pending is not None else self._line()
            self._pending = None
            if line is None:
                return
            if line.startswith("op "):
                _, op, calls = line.split()
                yield op, int(calls)

    def call(self) -> float | None:
        """One call on every rank: its milliseconds, or None if the side moved on (the
        op failed part way: the line read is kept for :meth:`ops`)."""
        try:
            for link in self._links.values():
                link.sendall(GO)
        except OSError:  # a rank has gone: so has the run
            return None
        line = self._line()
        try:
            return float(line)
        except (TypeError, ValueError):
            self._pending = line
            return None

    def finish(self) -> tuple[str, str]:
        """Wait for the side to exit: (its stdout, an error or "")."""
        for link in self._links.values():
            link.close()
        try:
            code = self.proc.wait(timeout=max(1.0, self._deadline - time.monotonic()))
            why = f"exited with {code}" if code else ""
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            why = "timed out"
        self._out.seek(0)
        self._err.seek(0)
        out, err = self._out.read(), self._err.read().strip().splitlines()
        for f in (self._out, self._err):
            f.close()
        self._listener.close()
        self._dir.cleanup()
        if why:
            why += f": {(err or ['(no stderr)'])[-1]}"
        return out, why

    def _alive(self) -> bool:
        return self.proc.poll() is None and time.monotonic() < self._deadline

    def _connect(self) -> None:
        while len(self._links) < self._nproc and self._alive():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            conn.settimeout(0.5)
            line, rest = self._read_line(conn, b"")
            if line is None:
                conn.close()
                continue
            rank = int(line)
            self._links[rank] = conn
            if rank == 0:
                self._buffer = rest  # rank 0 may already have said more

    def _line(self) -> str | None:
        """The next line from rank 0, or None at its end (or the process's, or the
        deadline)."""
        link = self._links.get(0)
        if link is None:
            return None
        line, self._buffer = self._read_line(link, self._buffer)
        return line

    def _read_line(self, conn: socket.socket, buffer: bytes) -> tuple[str | None, bytes]:
        """(the next line from ``conn`` after ``buffer``, what was read past it)."""
        while b"\n" not in buffer:
            try:
                chunk = conn.recv(4096)
            except TimeoutError:
                if self._alive():
                    continue
                return None, buffer
            except OSError:  # reset: the rank died with our word unread
                return None, buffer
            if not chunk:
                return None, buffer
            buffer += chunk
        line, rest = buffer.split(b"\n", 1)
        return line.decode(), rest
