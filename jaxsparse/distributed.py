"""Running one program on many processes: ``jax.distributed`` set up for jaxsparse.

Every process runs the same program; the mesh spans all processes' devices, and the
sharded products, halo exchanges and solver loops run over it through XLA's own
collectives (gloo on CPUs, NCCL on GPUs). There is no transport of our own.

    import jaxsparse as js
    js.distributed.initialize()          # first, before any JAX computation
    mesh = jax.make_mesh((jax.device_count(),), ("x",))
    ...
    js.distributed.print_once("residual", float(r))

:func:`initialize` reads what ``python -m jaxsparse.launch`` sets
(``JAXSPARSE_COORDINATOR``, ``JAXSPARSE_NUM_PROCESSES``, ``JAXSPARSE_PROCESS_ID``); under
a cluster manager (SLURM's ``srun``, Open MPI's ``mpirun``) it lets JAX detect the
cluster; with neither it does nothing, so the same program runs on one process too.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import jax
import numpy as np

# What the launcher sets for each process.
COORDINATOR_ENV = "JAXSPARSE_COORDINATOR"
NUM_PROCESSES_ENV = "JAXSPARSE_NUM_PROCESSES"
PROCESS_ID_ENV = "JAXSPARSE_PROCESS_ID"

# Cluster managers whose environment JAX's auto-detection reads (with the variable that
# says how many processes there are).
_CLUSTER_SIZE_ENVS = ("SLURM_NTASKS", "OMPI_COMM_WORLD_SIZE", "PMI_SIZE")


def _env_int(name: str) -> int | None:
    raw = os.environ.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def initialize(*, coordinator_address: str | None = None, num_processes: int | None = None,
               process_id: int | None = None, initialization_timeout: int = 120) -> bool:
    """Join this process to the others (``jax.distributed.initialize``).

    Arguments override the launcher's environment variables. Returns True when this
    process is part of a multi-process run, False for a single process (a no-op).
    Safe to call twice. Must run before any JAX computation: JAX fixes its devices the
    first time it runs something, and the error then says so.
    """
    if jax.distributed.is_initialized():
        return True
    coordinator = coordinator_address or os.environ.get(COORDINATOR_ENV)
    n = num_processes if num_processes is not None else _env_int(NUM_PROCESSES_ENV)
    rank = process_id if process_id is not None else _env_int(PROCESS_ID_ENV)
    if coordinator is None and n is None:
        cluster = [_env_int(name) for name in _CLUSTER_SIZE_ENVS]
        if not any(size is not None and size > 1 for size in cluster):
            return False  # one process: nothing to join
        _start(initialization_timeout=initialization_timeout)  # JAX detects the cluster
        return True
    if n is not None and n < 1:
        raise ValueError(f"num_processes must be >= 1, got {n}")
    if n == 1:
        return False
    if coordinator is None or n is None or rank is None:
        raise ValueError(
            "a multi-process run needs the coordinator address, the number of processes and "
            f"this process's id (or {COORDINATOR_ENV}, {NUM_PROCESSES_ENV} and "
            f"{PROCESS_ID_ENV}, which `python -m jaxsparse.launch` sets); got "
            f"{coordinator!r}, {n!r}, {rank!r}"
        )
    if not 0 <= rank < n:
        raise ValueError(f"process_id must be in [0, {n}), got {rank}")
    _start(coordinator_address=coordinator, num_processes=n, process_id=rank,
           initialization_timeout=initialization_timeout)
    return True


def _start(**kwargs) -> None:
    try:
        jax.distributed.initialize(**kwargs)
        _exit_at_once_on_errors()
    except RuntimeError as err:
        if "before any JAX" in str(err):
            raise RuntimeError(
                "jaxsparse.distributed.initialize() must run before any JAX computation "
                "(JAX fixes its devices the first time it runs something): call it at the "
                "top of the program"
            ) from err
        raise


def _exit_at_once_on_errors() -> None:
    """An uncaught exception, or ``sys.exit(n)`` with ``n != 0``, ends this process at
    once (after printing and flushing) with its status.

    Why: at a normal exit, JAX waits at a shutdown barrier for every process, but the
    others may be waiting for this one inside a collective, so a failed process would
    hang there until the collectives' own deadlines (33 s measured here). Exiting at
    once lets the launcher (or the cluster manager) see the failure and stop the others.
    Exit handlers of other libraries do not run on such an error exit; a successful
    exit is untouched. (``raise SystemExit(n)`` written out bypasses ``sys.exit`` and
    still waits.)
    """
    previous_hook, previous_exit = sys.excepthook, sys.exit

    def flush_and_exit(code: int):
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)

    def hook(kind, value, traceback):
        previous_hook(kind, value, traceback)
        flush_and_exit(1)

    def exit_at_once(status=None):
        if status is None or status == 0:
            previous_exit(status)
        if not isinstance(status, int):  # Python's rule: print it, exit with 1
            print(status, file=sys.stderr)
            status = 1
        flush_and_exit(status)

    sys.excepthook = hook
    sys.exit = exit_at_once


def is_main_process() -> bool:
    """True on process 0 (the one that should print, write files...)."""
    return jax.process_index() == 0


def print_once(*args, **kwargs) -> None:
    """``print`` on the main process only."""
    if is_main_process():
        print(*args, **kwargs)


def gather(x: Any) -> np.ndarray:
    """A global ``jax.Array`` (sharded over several processes' devices) as one NumPy
    array, the same on every process; anything else as ``np.asarray``.

    Costs one all-gather of the array over the processes: use it for results, not
    inside loops.
    """
    if isinstance(x, jax.Array) and not x.is_fully_addressable:
        from jax.experimental import multihost_utils

        return np.asarray(multihost_utils.process_allgather(x, tiled=True))
    return np.asarray(x)


def allgather(array: np.ndarray) -> list[np.ndarray]:
    """Every process's 1-D NumPy ``array`` (lengths may differ, the dtype may not), in
    process order, on every process. Moves raw bytes, so 64-bit values survive whatever
    ``jax_enable_x64`` says. One process: ``[array]``. For plans and small metadata."""
    array = np.ascontiguousarray(array)
    if jax.process_count() == 1:
        return [array]
    from jax.experimental import multihost_utils

    raw = array.view(np.uint8).reshape(-1)
    sizes = multihost_utils.process_allgather(np.array([raw.size], np.int32))
    sizes = np.asarray(sizes).reshape(-1)
    padded = np.zeros(int(sizes.max()), np.uint8)
    padded[: raw.size] = raw
    every = np.asarray(multihost_utils.process_allgather(padded)).reshape(len(sizes), -1)
    return [every[p, : sizes[p]].view(array.dtype) for p in range(len(sizes))]
