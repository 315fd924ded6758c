"""The threads that run the devices' shares of a multi-device program keep a core each
(``ops/native/csrc/own_core.h``): Linux would otherwise wake two of them on one core now
and then, while the other core idles."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import threading

import jax
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import child_env
from jax.sharding import PartitionSpec as P

import jaxsparse as js
from jaxsparse.ops.native import _library, _lowerings, missing_reason, own_core
from jaxsparse.ops.native._lowerings import pins_threads

pytestmark = pytest.mark.skipif(missing_reason() is not None,
                                reason=f"native kernels unavailable: {missing_reason()}")
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="thread affinity is Linux's")


def _traced_own_core(devices: int, threads: int) -> bool:
    """own_core(threads) as the lowering of a product inside a shard_map body over
    ``devices`` devices sees it."""
    seen = []
    mesh = jax.make_mesh((devices,), ("x",), devices=jax.devices()[:devices])

    def body(v):
        seen.append(own_core(threads))
        return v

    jax.jit(jax.shard_map(body, mesh=mesh, in_specs=P(), out_specs=P())).trace(np.ones(4))
    return seen[0]


@pytest.mark.parametrize("threads, program, every, local, cores, pins", [
    (1, 2, 2, 2, 2, True),    # 2 simulated devices on 2 cores
    (1, 4, 4, 4, 2, True),    # 4 on 2: two threads a core, spread
    (1, 2, 4, 4, 2, False),   # a program over 2 of the 4: its threads may share a core
    (2, 2, 2, 2, 4, False),   # the call has pool threads to spread over
    (1, 1, 2, 2, 2, False),   # a one-device program
    (1, 2, 2, 1, 2, False),   # 2 processes of 1 device (jaxsparse.launch): shared cores
    (1, 4, 4, 2, 4, False),   # 2 processes of 2 devices on 4 cores: shared cores
])
def test_when_threads_are_pinned(threads, program, every, local, cores, pins):
    assert pins_threads(threads, program, every, local, cores) is pins


def test_only_one_thread_calls_in_multi_device_programs_pin(monkeypatch):
    monkeypatch.delenv("JAXSPARSE_PIN_THREADS", raising=False)
    monkeypatch.setattr(_lowerings, "_cores", lambda: 2)  # 4 test devices on 2 cores
    assert own_core(1) is False  # outside any multi-device program
    every = len(jax.devices())
    assert _traced_own_core(every, 1) is True
    assert _traced_own_core(every, 2) is False  # the call has threads of the pool to use
    assert _traced_own_core(2, 1) is False  # a program over some of the devices
    assert _traced_own_core(1, 1) is False
    monkeypatch.setenv("JAXSPARSE_PIN_THREADS", "0")
    assert _traced_own_core(every, 1) is False


def test_the_lowering_passes_the_switch(monkeypatch):
    monkeypatch.setenv("JAXSPARSE_NUM_THREADS", "1")
    monkeypatch.delenv("JAXSPARSE_PIN_THREADS", raising=False)
    monkeypatch.setattr(_lowerings, "_cores", lambda: 2)
    S = sps.random(64, 64, density=0.1, format="csr", random_state=0)
    x = np.ones(64)
    mesh = jax.make_mesh((len(jax.devices()),), ("x",))
    As = js.sharding.shard(js.CSR.from_scipy(S), mesh, axis="x")
    product = jax.jit(lambda A, v: A @ v)
    sharded = product.lower(As, As.shard_vector(x)).as_text()
    single = product.lower(js.CSR.from_scipy(S), x).as_text()
    half = jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])
    Ah = js.sharding.shard(js.CSR.from_scipy(S), half, axis="x")
    some = product.lower(Ah, Ah.shard_vector(x)).as_text()
    assert "own_core = 1" in sharded and "own_core = 0" not in sharded
    assert "own_core = 0" in single and "own_core = 1" not in single
    assert "own_core = 0" in some and "own_core = 1" not in some


_CHILD = r"""
import ctypes, json, os
os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:2])  # 2 devices on 2 cores
import jax, numpy as np, scipy.sparse as sps
import jaxsparse as js
from jaxsparse.ops.native import _library

lib = ctypes.CDLL(str(_library.library_path()))
lib.JaxsparsePinnedThreads.restype = ctypes.c_int64


def state():
    one_core = {}
    for tid in map(int, os.listdir("/proc/self/task")):
        try:
            cores = os.sched_getaffinity(tid)
        except OSError:  # the thread ended meanwhile
            continue
        if len(cores) == 1:
            one_core[tid] = min(cores)
    return {"count": lib.JaxsparsePinnedThreads(), "cores": sorted(one_core.values()),
            "main": os.getpid() in one_core}


S = sps.random(4000, 4000, density=0.002, format="csr", random_state=1)
x = np.random.default_rng(0).standard_normal(4000)
A = js.CSR.from_scipy(S)
mesh = jax.make_mesh((2,), ("x",))
As = js.sharding.shard(A, mesh, axis="x")
xs = As.shard_vector(x)
product = jax.jit(lambda A, v: A @ v)
for _ in range(3):
    y = np.asarray(As.unshard_vector(product(As, xs)))
assert np.allclose(y, S @ x, rtol=1e-4, atol=1e-4)
print(json.dumps(state()))
"""


def _run_child(**env_extra) -> dict:
    result = subprocess.run([sys.executable, "-c", _CHILD], capture_output=True, text=True,
                            timeout=180, env=child_env(JAX_NUM_CPU_DEVICES="2", **env_extra))
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


@linux_only
@pytest.mark.skipif(_lowerings._cores() < 2, reason="needs two cores to give two devices "
                                                    "one each")
def test_device_threads_get_cores_of_their_own():
    out = _run_child()
    # The threads that ran the devices' shares (two here: PJRT's pool for two devices)
    # are each pinned to one core, in turn over both; the Python thread never.
    assert out["count"] >= 2 and len(out["cores"]) == out["count"], out
    assert set(out["cores"]) == set(sorted(os.sched_getaffinity(0))[:2]), out
    assert not out["main"], out


@linux_only
def test_pinning_turns_off():
    assert _run_child(JAXSPARSE_PIN_THREADS="0") == {"count": 0, "cores": [], "main": False}


@linux_only
def test_a_thread_is_pinned_once_and_given_its_cores_back():
    lib = ctypes.CDLL(str(_library.library_path()))
    lib.JaxsparseKeepOnOwnCore.argtypes = [ctypes.c_int64]
    seen = {}

    def worker():  # a thread of its own, as PJRT's are
        seen["before"] = os.sched_getaffinity(0)
        lib.JaxsparseKeepOnOwnCore(1)
        seen["pinned"] = os.sched_getaffinity(0)
        lib.JaxsparseKeepOnOwnCore(1)
        seen["again"] = os.sched_getaffinity(0)
        lib.JaxsparseKeepOnOwnCore(0)
        seen["after"] = os.sched_getaffinity(0)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert len(seen["pinned"]) == 1 and seen["pinned"] <= seen["before"], seen
    assert seen["again"] == seen["pinned"], seen
    assert seen["after"] == seen["before"], seen
    # The process's main thread (the user's) is never pinned.
    before = os.sched_getaffinity(0)
    lib.JaxsparseKeepOnOwnCore(1)
    assert os.sched_getaffinity(0) == before
