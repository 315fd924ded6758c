"""Keep a long test worker under the kernel's limit on memory mappings.

XLA:CPU maps a few memory regions for every executable it compiles, and JAX keeps every
executable alive in its jit caches. A pytest worker compiles tens of thousands of small
programs over the suite; near the end it reached Linux's ``vm.max_map_count`` (65530), the
next compile's ``mmap`` failed, and XLA aborted the worker (the CI failures "worker crashed
while running test_solvers.py::..."). Clearing JAX's caches releases those mappings; the
programs a later test needs are simply compiled again.
"""

from __future__ import annotations

import jax

_MAPS = "/proc/self/maps"
_MAX_MAP_COUNT = "/proc/sys/vm/max_map_count"


def mapped_regions() -> int | None:
    """How many memory regions this process has mapped, or None where /proc is absent."""
    try:
        with open(_MAPS, "rb") as maps:
            return sum(1 for _ in maps)
    except OSError:
        return None


def region_budget() -> int | None:
    """Three quarters of the kernel's per-process limit. The rest (16k regions under the
    default limit, about 5000 programs) is room for the tests between two checks, far
    more than any ten tests compile; a lower budget cleared the caches sooner, and each
    clear cost a worker about 10 s plus the recompiles after it."""
    try:
        with open(_MAX_MAP_COUNT) as limit:
            return int(limit.read()) * 3 // 4
    except (OSError, ValueError):
        return None


def release_compiled_programs_if_over(budget: int | None) -> bool:
    """Clear JAX's caches when this process maps more than ``budget`` regions."""
    regions = mapped_regions()
    if budget is None or regions is None or regions <= budget:
        return False
    jax.clear_caches()
    return True
