"""Large matrix buffers on a CPU device, backed by 2 MB pages.

NumPy asks Linux for transparent huge pages on its large arrays (``MADV_HUGEPAGE``);
XLA's CPU allocator does not. A matrix copied to a CPU device therefore sat on 4 KB
pages, and a sparse product paid TLB misses that SciPy, reading the same arrays from
NumPy, did not: the one-thread SpMV of the 2-D Poisson matrix (1400^2, 9.8M nonzeros)
took 21 ms on device buffers against SciPy's 15 ms, and 15 ms once the buffers were
collapsed into huge pages; without NumPy's advice SciPy itself took 22-26 ms.

``MADV_COLLAPSE`` (Linux 6.1+) does that collapse synchronously, in place: same
addresses, same contents. It is applied to the large arrays jaxsparse itself puts on CPU
devices (constructors from host arrays, sharded blocks). On older kernels, other systems
or other platforms it is a no-op; ``JAXSPARSE_HUGEPAGES=0`` turns it off.
"""

from __future__ import annotations

import ctypes
import functools
import os
import sys

import jax

MADV_COLLAPSE = 25
_HUGE = 1 << 21
# Smaller arrays fit the TLB's reach anyway, and do not span a whole aligned 2 MB page.
MIN_BYTES = 4 << 20


@functools.cache
def _madvise():
    if not sys.platform.startswith("linux") or os.environ.get("JAXSPARSE_HUGEPAGES") == "0":
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def collapse(*arrays) -> None:
    """Back the whole 2 MB pages of each large CPU-device array with huge pages (best
    effort: a refusal by the kernel changes nothing but speed)."""
    madvise = _madvise()
    if madvise is None:
        return
    for a in arrays:
        if not isinstance(a, jax.Array) or isinstance(a, jax.core.Tracer):
            continue
        if a.nbytes < MIN_BYTES:
            continue
        for shard in a.addressable_shards:
            buf = shard.data
            if buf.nbytes < MIN_BYTES or buf.device.platform != "cpu":
                continue
            # until the copy that fills it is done the buffer is not mapped (EINVAL)
            start = buf.block_until_ready().unsafe_buffer_pointer()
            lo = -(-start // _HUGE) * _HUGE
            hi = (start + buf.nbytes) // _HUGE * _HUGE
            if hi > lo:
                madvise(lo, hi - lo, MADV_COLLAPSE)
