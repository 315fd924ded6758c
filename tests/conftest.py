"""Test configuration: CPU devices, x64, deterministic hypothesis, a shared compile cache.

Set before jax is imported, so every sharded path can run on 1-, 2- and 4-device meshes
on a CPU-only machine.
"""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
os.environ.setdefault("JAX_NUM_CPU_DEVICES", "4")

import jax  # noqa: E402
from hypothesis import HealthCheck, settings  # noqa: E402

jax.config.update("jax_enable_x64", True)

# The suite is thousands of small XLA compiles, mostly of the same programs in both pytest
# workers: a persistent compilation cache shared by the workers (and by later runs) does
# each compile once. Entries are keyed by program, jax version and flags, so a stale one is
# never used; delete the folder to reclaim the space.
_CACHE = os.environ.get(
    "JAXSPARSE_TEST_JAX_CACHE",
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), ".cache", "jax"),
)
if _CACHE:
    jax.config.update("jax_compilation_cache_dir", _CACHE)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)

settings.register_profile(
    "jaxsparse",
    derandomize=True,
    deadline=None,
    max_examples=25,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("jaxsparse")
