"""Run under the launcher with 2 processes x 2 devices: a repeated ``initialize`` and
meshes that do not match the processes give clear errors at the boundary (never a hang
in a collective or a ``KeyError`` on one rank); one OK line per check."""

import os

import jaxsparse as js
from jaxsparse import distributed

assert js.distributed.initialize() is True
assert js.distributed.initialize() is True  # the same run again (from the launcher's env)
rank = int(os.environ[distributed.PROCESS_ID_ENV])
coordinator = os.environ[distributed.COORDINATOR_ENV]
assert js.distributed.initialize(coordinator_address=coordinator, num_processes=2,
                                 process_id=rank) is True  # the same run, spelled out


def refused(label, call, *needles):
    try:
        call()
    except ValueError as err:
        assert all(n in str(err) for n in needles), (label, str(err))
        print("OK refused", label, flush=True)
    else:
        raise AssertionError(f"{label}: accepted")


for name, value in (("num_processes", 3), ("process_id", 1 - rank),
                    ("coordinator_address", "127.0.0.1:1")):
    refused(f"initialize {name}", lambda kw={name: value}: js.distributed.initialize(**kw),
            "already called", f"{name}={value!r}", f"process {rank} of 2")
os.environ[distributed.NUM_PROCESSES_ENV] = "4"
refused("initialize env", js.distributed.initialize,
        "num_processes=4 (from JAXSPARSE_NUM_PROCESSES)")
os.environ[distributed.NUM_PROCESSES_ENV] = "2"

import jax  # noqa: E402
import numpy as np  # noqa: E402
import scipy.sparse as sps  # noqa: E402
from jax.sharding import Mesh  # noqa: E402

jax.config.update("jax_enable_x64", True)
S = (sps.random_array((48, 48), density=0.1, rng=0) + sps.eye_array(48)).tocsr()
x = np.linspace(-1.0, 1.0, 48)

# each process's own devices: every process builds a different mesh
local = Mesh(np.array(jax.local_devices()), ("x",))
refused("local devices", lambda: js.sharding.shard(S, local, "x"),
        f"belong to processes [{rank}] only", "this run has 2 processes (4 devices)")
refused("local devices, local rows",
        lambda: js.sharding.from_local_rows(S[24 * rank:24 * (rank + 1)], row_start=24 * rank,
                                            shape=S.shape, mesh=local),
        f"processes [{1 - rank}] would hold no part")
refused("local devices, default mesh", lambda: js.set_default_mesh(local), "2 processes")
# a mesh shape of this process's device count: jax.make_mesh takes process 0's devices
short = jax.make_mesh((jax.local_device_count(),), ("x",))
refused("mesh of 2 of 4 devices", lambda: js.sharding.shard(S, short, "x"),
        "processes [1] would hold no part")
# all devices, but in a different order on each process
order = jax.devices() if rank == 0 else jax.devices()[::-1]
refused("meshes differ", lambda: js.sharding.shard(S, Mesh(np.array(order), ("x",)), "x"),
        "processes 0 and 1 passed different meshes", str([d.id for d in jax.devices()]))

# fewer devices than the run has, but every process in it: accepted, and right
firsts = [next(d for d in jax.devices() if d.process_index == p) for p in range(2)]
As = js.sharding.shard(S, Mesh(np.array(firsts), ("x",)), "x")
y = js.distributed.gather(As.unshard_vector(As @ As.shard_vector(x)))
np.testing.assert_allclose(y, S @ x, rtol=1e-12)
print("OK one device per process", flush=True)
