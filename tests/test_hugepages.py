"""Large matrix buffers on CPU devices are collapsed into 2 MB pages (``_hugepages``):
XLA's allocator leaves them on 4 KB pages, where a product pays TLB misses that SciPy
(NumPy's arrays get huge pages) does not."""

from __future__ import annotations

import ctypes
import errno
import os
import platform

import jax
import numpy as np
import pytest
import scipy.sparse as sps

import jaxsparse as js
from jaxsparse import _hugepages
from jaxsparse.ops.native import missing_reason

HUGE = 1 << 21


def _big(n=1 << 20):
    """A tridiagonal CSR whose data (24 MB) and indices (12 MB) span whole 2 MB pages."""
    return sps.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)],
                           offsets=[-1, 0, 1], format="csr")


@pytest.fixture
def advised(monkeypatch):
    """The (start, length, advice) of every madvise call, made by a recorder."""
    calls = []
    monkeypatch.setattr(_hugepages, "_madvise",
                        lambda: lambda start, length, advice: calls.append(
                            (start, length, advice)) or 0)
    return calls


def _covers(calls, a):
    """Some call covers every whole 2 MB page inside ``a``'s buffer, and only those."""
    start = a.unsafe_buffer_pointer()
    lo, hi = -(-start // HUGE) * HUGE, (start + a.nbytes) // HUGE * HUGE
    return (lo, hi - lo, _hugepages.MADV_COLLAPSE) in calls


def test_constructors_collapse_large_buffers_only(advised):
    A = js.CSR.from_scipy(_big())
    assert _covers(advised, A.data) and _covers(advised, A.indices)
    assert all(start % HUGE == 0 and length % HUGE == 0 for start, length, _ in advised)
    advised.clear()
    js.CSR.from_scipy(_big(1000))
    assert advised == []


def test_sharded_blocks_are_collapsed_per_shard(advised):
    mesh = jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])
    As = js.sharding.shard(_big(), mesh, "x", local_format="csr")
    for shard in As.own_data.addressable_shards:
        assert _covers(advised, shard.data)


def test_jaxsparse_hugepages_0_turns_it_off(monkeypatch):
    monkeypatch.setenv("JAXSPARSE_HUGEPAGES", "0")
    _hugepages._madvise.cache_clear()
    try:
        assert _hugepages._madvise() is None
    finally:
        monkeypatch.delenv("JAXSPARSE_HUGEPAGES")
        _hugepages._madvise.cache_clear()


def _kernel_collapses() -> bool:
    try:
        mode = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False
    major, minor = (int(v) for v in platform.release().split(".")[:2])
    return "[never]" not in mode and (major, minor) >= (6, 1)


def _anon_huge_kb(address: int) -> int:
    with open(f"/proc/{os.getpid()}/smaps") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        span = line.split(" ", 1)[0]
        if "-" not in span or not all(c in "0123456789abcdef-" for c in span):
            continue
        lo, hi = (int(v, 16) for v in span.split("-"))
        if lo <= address < hi:
            for field in lines[i + 1:i + 30]:
                if field.startswith("AnonHugePages:"):
                    return int(field.split()[1])
    return 0


@pytest.mark.skipif(not _kernel_collapses(),
                    reason="needs Linux >= 6.1 (MADV_COLLAPSE) with transparent huge pages "
                           "not set to 'never'")
def test_the_kernel_backs_a_matrix_with_huge_pages():
    A = js.CSR.from_scipy(_big())
    start = A.data.unsafe_buffer_pointer()
    whole_pages = (start + A.data.nbytes) // HUGE - -(-start // HUGE)  # 11 of 2 MB
    if _anon_huge_kb(start) < whole_pages * HUGE // 1024:
        # best effort: under memory pressure the kernel may find no free 2 MB pages
        lo = -(-start // HUGE) * HUGE
        if _hugepages._madvise()(lo, whole_pages * HUGE, _hugepages.MADV_COLLAPSE) != 0:
            err = ctypes.get_errno()
            if err in (errno.EAGAIN, errno.ENOMEM):
                pytest.skip(f"the kernel had no free huge pages now ({errno.errorcode[err]})")
    assert _anon_huge_kb(start) >= whole_pages * HUGE // 1024
    x = np.arange(A.shape[1], dtype=float)
    np.testing.assert_array_equal(np.asarray(A @ x), _big() @ x)  # contents unchanged


@pytest.mark.skipif(missing_reason() is not None, reason=f"native kernels: {missing_reason()}")
@pytest.mark.skipif(os.environ.get("JAXSPARSE_HUGEPAGES") == "0",
                    reason="JAXSPARSE_HUGEPAGES=0 turns the collapse off in this run")
def test_native_products_collapse_their_large_vectors():
    """The CSR kernel collapses the whole 2 MB pages of a large x (before reading it) and
    y (after writing it: a fresh buffer's pages are not yet in memory, and MADV_COLLAPSE
    refuses those), remembering each page; vectors under 4 MB are left alone."""
    from jaxsparse.ops.native._library import library_path

    collapsed = ctypes.CDLL(str(library_path())).JaxsparseCollapsedPages
    collapsed.argtypes, collapsed.restype = [ctypes.c_void_p, ctypes.c_size_t], ctypes.c_size_t

    def pages(a):
        start = a.unsafe_buffer_pointer()
        return collapsed(start, a.nbytes), (start + a.nbytes) // HUGE - -(-start // HUGE)

    S = _big()  # 1M rows: x and y are 8 MB
    x = jax.numpy.arange(S.shape[1], dtype=jax.numpy.float64)
    y = js.ops.spmv(js.CSR.from_scipy(S), x, backend="native")
    np.testing.assert_array_equal(np.asarray(y), S @ np.asarray(x))
    for a in (x, y):
        done, whole = pages(a)
        assert whole >= 3 and done == whole
    small = _big(460_000)  # 3.7 MB vectors: a whole 2 MB page, but under 4 MB
    y = js.ops.spmv(js.CSR.from_scipy(small), np.ones(small.shape[1]), backend="native")
    assert pages(y)[1] >= 1 and pages(y)[0] == 0
