"""Large matrix buffers on a CPU device, backed by 2 MB pages.

NumPy asks Linux for transparent huge pages on its large arrays (``MADV_HUGEPAGE``);
XLA's CPU allocator does not. A matrix copied to a CPU device therefore sat on 4 KB
pages, and a sparse product paid TLB misses that SciPy, reading the same arrays from
NumPy, did not: the one-thread SpMV of the 2-D Poisson matrix (1400^2, 9.8M nonzeros)
took 21 ms on device buffers against SciPy's 15 ms, and 15 ms once the buffers were
collapsed into huge pages; without NumPy's advice SciPy itself took 22-26 ms.

So the large arrays jaxsparse itself puts on CPU devices (constructors from host arrays,
sharded blocks) go through :func:`device_put`: it copies the host array into a fresh
mapping aligned to 2 MB and advised for huge pages, and the CPU device uses that memory
in place, since PJRT's CPU client aliases a host buffer aligned to 64 bytes instead of
copying it. That is one copy, as ``jax.device_put`` makes, and every whole 2 MB page of
the array is a huge page from the first byte on. Buffers XLA allocates itself can only
be collapsed after the fact (:func:`collapse`, ``MADV_COLLAPSE``, Linux 6.1+: a second
copy, and the partial pages at both ends stay on 4 KB pages); that is what happens when
a JAX version copies instead of aliasing. Elsewhere (other systems or
platforms, GPUs) both are plain copies; ``JAXSPARSE_HUGEPAGES=0`` turns them off.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import math
import mmap
import os
import sys
import threading
import time

import jax
import numpy as np

MADV_COLLAPSE = 25
_HUGE = 1 << 21
# Smaller arrays fit the TLB's reach anyway, and do not span a whole aligned 2 MB page.
MIN_BYTES = 4 << 20


def enabled() -> bool:
    return sys.platform.startswith("linux") and os.environ.get("JAXSPARSE_HUGEPAGES") != "0"


@functools.cache
def _madvise():
    if not enabled():
        return None
    try:
        madvise = ctypes.CDLL(None, use_errno=True).madvise
    except (OSError, AttributeError):
        return None
    madvise.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int]
    madvise.restype = ctypes.c_int
    return madvise


def huge_empty(shape: tuple[int, ...], dtype) -> np.ndarray:
    """An uninitialised host array at the start of a 2 MB-aligned anonymous mapping
    whose whole 2 MB pages are advised for huge pages (the mapping is unmapped when the
    array's last user goes)."""
    dtype = np.dtype(dtype)
    nbytes = math.prod(shape) * dtype.itemsize
    # mmap aligns to 4 KB only: map one huge page more, and start at the first 2 MB
    # boundary. The slack is never touched, so it costs address space, not memory.
    m = mmap.mmap(-1, max(nbytes, 1) + _HUGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    whole = np.frombuffer(m, np.uint8)
    skip = -whole.ctypes.data % _HUGE
    # The last, partial 2 MB stays on 4 KB pages: a huge page there would add up to
    # 2 MB of memory per array (0.05x of the sharded scale run's matrix) for a single
    # TLB entry.
    if nbytes >= _HUGE:
        m.madvise(mmap.MADV_HUGEPAGE, skip, nbytes // _HUGE * _HUGE)
    return whole[skip:skip + nbytes].view(dtype).reshape(shape)


def _is_cpu(device) -> bool:
    if device is None:
        device = jax.config.jax_default_device
        if device is None:
            return jax.default_backend() == "cpu"
        if isinstance(device, str):
            return device == "cpu"
    return getattr(device, "platform", None) == "cpu"


def _host_operand(a) -> np.ndarray:
    """``a`` as a NumPy array in the dtype jax.device_put would give it (float64 is
    float32 without x64): one copy later, not two."""
    a = np.asarray(a)
    return a.astype(jax.dtypes.canonicalize_dtype(a.dtype), copy=False)


def _on_huge_pages(a: np.ndarray, device) -> bool:
    """Whether host array ``a`` bound for ``device`` goes through huge-page memory."""
    return (a.nbytes >= MIN_BYTES and enabled() and _is_cpu(device)
            and hasattr(mmap, "MADV_HUGEPAGE"))


def device_put(a: np.ndarray, device=None) -> jax.Array:
    """``jax.device_put(a, device)`` of a host array; a large one bound for a CPU device
    lands on huge pages (module docstring)."""
    a = _host_operand(a)
    if not _on_huge_pages(a, device):
        out = jax.device_put(a, device)
        if _aliases(out, a):
            # the CPU device would read the caller's memory in place (it is aligned to
            # 64 bytes: np.memmap, mmap, Arrow...), so changing the caller's array later
            # would change the matrix: take a copy of our own
            out = jax.device_put(a.copy(), device)
        return out
    host = huge_empty(a.shape, a.dtype)
    host[...] = a
    host.flags.writeable = False  # the device reads it from now on
    out = jax.device_put(host, device)
    if out.unsafe_buffer_pointer() != host.ctypes.data:  # copied: collapse the copy
        collapse(out)
    return out


# The spare staging buffer of `staged` (at most one), and the lock that hands it out.
_spare: list[np.ndarray] = []
_spare_lock = threading.Lock()
# How long the spare lies unused before Linux may take its pages (`_lazily_free`).
# Advised after every product instead, the next product's copy into it, writing pages
# just advised, cost 0.25-0.4 ms more (drop-in A @ x, 16 MB operands, same process:
# banded 7.6-7.9 against 7.9-8.2 ms, 2-D Poisson 4.6 against 4.9-5.0).
SPARE_IDLE_SECONDS = 1.0
_spare_idle = threading.Condition(_spare_lock)  # notified when the spare is handed back
_spare_since = [0.0, True]  # when it was handed back (monotonic); whether advised since
_spare_advisor: list[threading.Thread] = []


@contextlib.contextmanager
def staged(a: np.ndarray, device=None):
    """``device_put(a, device)`` for one operation that reads ``a`` and whose results
    have been waited for when the block exits (a drop-in product's operand).

    A large operand is copied into huge-page memory that the CPU device reads in place,
    as :func:`device_put` does, but the memory is handed back when the block exits and
    the next operand of the same size reuses it: a fresh mapping's first writes fault
    in its pages (and Linux zeroes them) on every call. A 256 MB operand took 41 ms to
    stage into fresh memory and 18 ms into the reused buffer. One spare buffer is kept,
    the size of the last large operand, whose memory Linux may take back under pressure
    once it has lain unused for SPARE_IDLE_SECONDS (:func:`_lazily_free`); a block left
    by an exception drops its buffer (a computation may still be reading it)."""
    a = _host_operand(a)
    if not _on_huge_pages(a, device):
        yield device_put(a, device)
        return
    with _spare_lock:
        host = _spare.pop() if _spare and _spare[0].nbytes == a.nbytes else None
    if host is None:
        host = huge_empty((a.nbytes,), np.uint8)
    view = host.view(a.dtype).reshape(a.shape)
    _copy_into(view, a)
    out = jax.device_put(view, device)
    in_place = out.unsafe_buffer_pointer() == host.ctypes.data
    yield out
    if in_place:  # else the device copied it: nothing of ours is in use
        out.delete()
    _hand_back(host)


def _hand_back(host: np.ndarray) -> None:
    """Keep ``host`` as the spare; a daemon thread advises it once it lies unused."""
    with _spare_idle:
        _spare[:] = [host]
        _spare_since[:] = [time.monotonic(), False]
        _spare_idle.notify()
        if not (_spare_advisor and _spare_advisor[0].is_alive()):
            thread = threading.Thread(target=_advise_idle_spare, daemon=True,
                                      name="jaxsparse-spare")
            _spare_advisor[:] = [thread]
            thread.start()


def _advise_idle_spare() -> None:
    """The spare's advisor, for the life of the process: waits for a spare, then for it
    to lie unused for SPARE_IDLE_SECONDS, and advises it (`_advise_if_idle`)."""
    with _spare_idle:
        while True:
            wait = _advise_if_idle(time.monotonic())
            _spare_idle.wait(wait)


def _advise_if_idle(now: float) -> float | None:
    """Advise the spare if it has lain unused since ``now - SPARE_IDLE_SECONDS`` and was
    not advised yet; return how long to wait before asking again (None: until the next
    spare is handed back). Called with ``_spare_lock`` held: no block takes the spare
    while it is advised."""
    since, advised = _spare_since
    if not _spare or advised:
        return None
    left = since + SPARE_IDLE_SECONDS - now
    if left > 0:
        return left
    _lazily_free(_spare[0])
    _spare_since[1] = True
    return None


# From this size a copy runs in two halves at once (NumPy lets go of the GIL while it
# copies): a 256 MB operand 18 -> 14 ms on 2 cores; the drop-in's A @ x staging a 16 MB
# operand 6.6-7.1 -> 6.1-6.8 ms (banded, n = 2M), 15.7 MB 5.6 -> 4.7 (2-D Poisson), 8 MB
# 9.4-9.8 -> 9.0-9.1 (random, n = 1M), same process.
PARALLEL_COPY_BYTES = 4 << 20


def _copy_into(dst: np.ndarray, src: np.ndarray) -> None:
    """``dst[...] = src``; a large contiguous one in two halves at once."""
    if (src.nbytes < PARALLEL_COPY_BYTES or (os.cpu_count() or 1) < 2
            or not src.flags.c_contiguous):
        dst[...] = src
        return
    flat_dst, flat_src = dst.reshape(-1), src.reshape(-1)
    half = flat_src.size // 2
    other = _copier().submit(np.copyto, flat_dst[half:], flat_src[half:])
    np.copyto(flat_dst[:half], flat_src[:half])
    other.result()


@functools.cache
def _copier():
    from concurrent.futures import ThreadPoolExecutor

    return ThreadPoolExecutor(1, thread_name_prefix="jaxsparse-copy")


def _lazily_free(host: np.ndarray) -> None:
    """Let Linux take the spare's pages back should it need the memory
    (``MADV_FREE``): until it does, the next operand reuses them as they are (though
    writing pages just advised costs more: hence SPARE_IDLE_SECONDS); after, they fault
    in afresh. So a program that staged one large operand does not pin that much memory
    for good."""
    madvise, advice = _madvise(), getattr(mmap, "MADV_FREE", None)
    length = host.nbytes // mmap.PAGESIZE * mmap.PAGESIZE
    if madvise is not None and advice is not None and length:
        madvise(host.ctypes.data, length, advice)


@functools.cache
def _malloc_trim():
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None).malloc_trim  # glibc only
    except (OSError, AttributeError):
        return None


def release_freed_host_memory() -> None:
    """Hand the heap memory the process has freed back to the OS (glibc's
    ``malloc_trim``; elsewhere nothing). Placing a sharded matrix stages each block in
    NumPy arrays and frees them; glibc kept 0.07x of the 50M-nonzero scale run's matrix
    of them, since the placed copies live in their own mappings and never reuse it. A
    one-off request, not an allocator setting."""
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


def _aliases(out: jax.Array, a: np.ndarray) -> bool:
    return a.size > 0 and out.devices().pop().platform == "cpu" and (
        out.unsafe_buffer_pointer() == a.ctypes.data)


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
