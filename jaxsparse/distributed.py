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
    Must run before any JAX computation: JAX fixes its devices the first time it runs
    something, and the error then says so.

    Calling it again once the process has joined a run is a no-op (True) when the
    arguments (or the environment variables standing for them) name the same run, and
    raises ``ValueError`` naming the first argument that differs otherwise: a process
    joins one run, once. ``initialization_timeout`` is not compared. A call that found
    nothing to join (one process) started nothing, so a later call may still join.
    """
    coordinator = coordinator_address or os.environ.get(COORDINATOR_ENV)
    n = num_processes if num_processes is not None else _env_int(NUM_PROCESSES_ENV)
    rank = process_id if process_id is not None else _env_int(PROCESS_ID_ENV)
    if jax.distributed.is_initialized():
        _check_same_run(coordinator_address=(coordinator, coordinator_address is None,
                                             COORDINATOR_ENV),
                        num_processes=(n, num_processes is None, NUM_PROCESSES_ENV),
                        process_id=(rank, process_id is None, PROCESS_ID_ENV))
        return True
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


def _running() -> dict[str, Any]:
    """The run this process joined: coordinator address, number of processes and rank
    (as ``jax.distributed`` holds them, also when the cluster was auto-detected or
    ``jax.distributed.initialize`` was called directly)."""
    from jax._src import distributed as state  # no public accessor in JAX 0.10

    return {name: getattr(state.global_state, name, None)
            for name in ("coordinator_address", "num_processes", "process_id")}


def _check_same_run(**asked: tuple[Any, bool, str]) -> None:
    """``ValueError`` naming the first argument of a repeated :func:`initialize` that
    differs from the run this process joined (``asked``: name -> (value, whether it came
    from the environment, that variable's name); ``None`` asks for nothing)."""
    run = _running()
    for name, (value, from_env, env) in asked.items():
        if value is None or run[name] is None or value == run[name]:
            continue
        source = f" (from {env})" if from_env else ""
        raise ValueError(
            f"jaxsparse.distributed.initialize() was already called: this process is "
            f"process {run['process_id']} of {run['num_processes']} with coordinator "
            f"{run['coordinator_address']}, but this call asks for {name}={value!r}{source}. "
            "A process joins one run, once: call initialize() once, at the top of the "
            "program (calling it again with the same arguments is a no-op)"
        )


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


def check_mesh(mesh: jax.sharding.Mesh, *, agree: bool = False) -> None:
    """Clear errors for a mesh that does not match this run's processes, at the
    boundary rather than as a hang or a ``KeyError`` deep in a collective.

    On a multi-process run the mesh must hold devices of every process: a process
    without a device in it has no part of the sharded matrix, and
    ``jax.local_devices()`` or ``jax.make_mesh((jax.local_device_count(),), ...)`` give
    one process's devices only. With ``agree`` (every process must then call it: it costs
    one small all-gather), every process must also pass the same mesh, the same devices
    in the same order: different meshes make the processes wait in collectives that
    never match. One process: nothing to check.
    """
    P = jax.process_count()
    if P == 1:
        return
    devices = list(mesh.devices.flat)
    present = {d.process_index for d in devices}
    missing = sorted(set(range(P)) - present)
    if missing:
        raise ValueError(
            f"the mesh's {len(devices)} devices belong to processes {sorted(present)} only, "
            f"but this run has {P} processes ({jax.device_count()} devices): processes "
            f"{missing} would hold no part of the matrix. Build the mesh over every "
            "process's devices, e.g. jax.make_mesh((jax.device_count(),), ('x',)) "
            "(jax.local_devices() and jax.local_device_count() count this process's only)"
        )
    if not agree:
        return
    mine = np.array([*mesh.devices.shape, -1, *(d.id for d in devices)], dtype=np.int64)
    every = allgather(mine)
    for p, theirs in enumerate(every):
        if not np.array_equal(theirs, every[0]):
            raise ValueError(
                f"processes 0 and {p} passed different meshes (device ids in mesh order "
                f"{_mesh_ids(every[0])} and {_mesh_ids(theirs)}): every process must pass "
                "the same mesh, built the same way from jax.devices()"
            )


def _mesh_ids(code: np.ndarray) -> str:
    """``shape [ids...]`` from :func:`check_mesh`'s encoding of a mesh."""
    cut = int(np.flatnonzero(code == -1)[0])
    return f"{tuple(int(v) for v in code[:cut])} {[int(v) for v in code[cut + 1:]]}"


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
