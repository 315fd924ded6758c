"""The test workers' guard against running out of memory mappings (see _compiled_budget)."""

import jax
import jax.numpy as jnp
import pytest
from _compiled_budget import mapped_regions, region_budget, release_compiled_programs_if_over

pytestmark = pytest.mark.skipif(
    mapped_regions() is None or region_budget() is None,
    reason="needs Linux /proc/self/maps and /proc/sys/vm/max_map_count",
)


def _compile_programs(count):
    for size in range(1, count + 1):
        jax.jit(lambda x: jnp.sin(x) + 1.0)(jnp.ones(size)).block_until_ready()


def test_compiled_programs_hold_mappings_until_the_caches_are_cleared():
    # margins of tens of regions: threads and malloc map and unmap a few on their own
    baseline = mapped_regions()
    _compile_programs(40)
    grown = mapped_regions()
    assert grown > baseline + 60  # XLA:CPU maps about three regions per program
    assert release_compiled_programs_if_over(baseline + 30)
    assert mapped_regions() < grown - 60


def test_under_the_budget_nothing_is_cleared():
    _compile_programs(3)
    assert not release_compiled_programs_if_over(mapped_regions() + 10_000)
    assert region_budget() > 10_000
