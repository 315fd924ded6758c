"""Test configuration: CPU devices, x64, cheap compiles, deterministic hypothesis,
bounded compile caches.

Set before jax is imported, so every sharded path can run on 1-, 2- and 4-device meshes
on a CPU-only machine.
"""

import importlib.metadata
import os
import subprocess
import sys

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

# The suite compiles tens of thousands of tiny programs and runs each once or twice, so
# compiling is most of its time. Two XLA:CPU settings halve that: no LLVM expensive
# passes (test_solvers.py 51 -> 40 s), and the elemental emitters in place of the fusion
# emitters (the whole suite 13:22 -> 8:27 on 2 cores; test_elementwise.py and
# test_structured_kernels.py 84 -> 57 s; a small program's compile 180 -> 106 ms). They
# change speed, not results: tests/test_compile_flags.py checks that ops in every dtype
# give the same bits as a process with the default flags, but float16 log1p and rsqrt
# (within 2 units in the last place). Optimisation level 0, tried too, did not: it stops
# contracting a * b + c into an FMA. The flags hold for this process only: XLA reads
# XLA_FLAGS at its first compile, below, and the environment is then restored, so the
# examples, benchmarks and launched processes that tests start run with the user's
# settings, the default emitters included.
_SPEED_FLAGS = ["--xla_llvm_disable_expensive_passes=true",
                "--xla_cpu_use_fusion_emitters=false"]
_CHECKED_ON_JAXLIB = "0.10.2"  # where test_compile_flags.py last ran with these flags


def _known_to_xla(flags: list[str]) -> bool:
    """XLA aborts a process whose XLA_FLAGS names a flag it does not know, and a later
    jaxlib may drop one of these: on a jaxlib they were not checked on, ask a child."""
    if importlib.metadata.version("jaxlib") == _CHECKED_ON_JAXLIB:
        return True
    probe = subprocess.run(
        [sys.executable, "-c", "import jax; jax.jit(lambda: 0)()"],
        env=dict(os.environ, XLA_FLAGS=" ".join(flags)), capture_output=True, timeout=120)
    return probe.returncode == 0


_USER_XLA_FLAGS = os.environ.get("XLA_FLAGS")
os.environ["XLA_FLAGS"] = " ".join(filter(None, [
    _USER_XLA_FLAGS, *(_SPEED_FLAGS if _known_to_xla(_SPEED_FLAGS) else [])]))

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.jit(lambda: 0)()  # XLA parses XLA_FLAGS once, at the first compile
if _USER_XLA_FLAGS is None:
    del os.environ["XLA_FLAGS"]
else:
    os.environ["XLA_FLAGS"] = _USER_XLA_FLAGS

jax.config.update("jax_enable_x64", True)

settings.register_profile(
    "jaxsparse",
    derandomize=True,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("fuzz", parent=settings.get_profile("jaxsparse"), max_examples=2000)
settings.load_profile(os.environ.get("JAXSPARSE_HYPOTHESIS_PROFILE", "jaxsparse"))  # or "fuzz"

from _compiled_budget import region_budget, release_compiled_programs_if_over  # noqa: E402

_CHECK_EVERY = 10  # tests between two counts of /proc/self/maps (each count reads ~1 MB)
_region_budget = region_budget()
_tests_since_check = 0


@pytest.fixture(autouse=True)
def _bounded_compiled_programs():
    global _tests_since_check
    yield
    _tests_since_check += 1
    if _tests_since_check >= _CHECK_EVERY:
        _tests_since_check = 0
        release_compiled_programs_if_over(_region_budget)
