"""Test configuration: CPU devices, x64, deterministic hypothesis, bounded compile caches.

Set before jax is imported, so every sharded path can run on 1-, 2- and 4-device meshes
on a CPU-only machine.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import jax  # noqa: E402
import pytest  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

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
