"""Large matrix buffers on CPU devices lie on 2 MB pages (``_hugepages``): XLA's
allocator leaves its own buffers on 4 KB pages, where a product pays TLB misses that
SciPy (NumPy's arrays get huge pages) does not."""

from __future__ import annotations

import ctypes
import mmap
import os
import platform
import time

import jax
import numpy as np
import pytest
import scipy.sparse as sps

import jaxsparse as js
from jaxsparse import _hugepages
from jaxsparse.ops.native import missing_reason

HUGE = 1 << 21
# The tests of what huge pages do; the run with them turned off is tested as such below.
needs_hugepages = pytest.mark.skipif(os.environ.get("JAXSPARSE_HUGEPAGES") == "0",
                                     reason="JAXSPARSE_HUGEPAGES=0 turns huge pages off "
                                            "in this run")


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


@pytest.fixture
def mapped(monkeypatch):
    """The (shape, dtype) of every huge-page host buffer made, and the buffers."""
    made = []
    real = _hugepages.huge_empty

    def recording(shape, dtype):
        out = real(shape, dtype)
        made.append(out)
        return out

    monkeypatch.setattr(_hugepages, "huge_empty", recording)
    return made


def _in_place(a: jax.Array, made) -> bool:
    """The device buffer is one of ``made``'s huge-page host buffers, used in place."""
    return any(a.unsafe_buffer_pointer() == m.ctypes.data for m in made)


@needs_hugepages
def test_constructors_put_large_buffers_on_huge_page_memory_only(mapped):
    S = _big()
    A = js.CSR.from_scipy(S)
    assert _in_place(A.data, mapped) and _in_place(A.indices, mapped)
    assert A.data.unsafe_buffer_pointer() % HUGE == 0
    x = np.arange(A.shape[1], dtype=float)
    np.testing.assert_array_equal(np.asarray(A @ x), S @ x)
    made = len(mapped)
    js.CSR.from_scipy(_big(1000))
    assert len(mapped) == made


@needs_hugepages
def test_sharded_blocks_are_put_on_huge_page_memory_per_shard(mapped):
    mesh = jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])
    As = js.sharding.shard(_big(), mesh, "x", local_format="csr")
    for shard in As.own_data.addressable_shards:
        assert _in_place(shard.data, mapped)
    x = np.arange(As.shape[1], dtype=float)
    np.testing.assert_allclose(np.asarray(As @ x), _big() @ x, rtol=1e-15)


@needs_hugepages
def test_the_dropins_diagonal_view_is_put_on_huge_page_memory(mapped, monkeypatch):
    """A banded drop-in matrix multiplies by a DIA view built on the host: it is placed
    like the constructors' arrays (on XLA's 4 KB pages it ran 22-30% slower)."""
    import jaxsparse.scipy_compat as sp
    from jaxsparse.sharding import _default

    monkeypatch.setattr(_default, "_default", None)  # one device: the DIA view
    S = _big()
    A = sp.csr_array(S)
    sp.set_device_min_nnz(0)
    try:
        x = np.arange(S.shape[1], dtype=float)
        np.testing.assert_allclose(A @ x, S @ x, rtol=1e-15)
        view = A._operator()
        assert isinstance(view, js.DIA) and _in_place(view.data, mapped)
    finally:
        sp.set_device_min_nnz(None)


def _scattered_big(n=1 << 20):
    """``_big()`` plus an anti-diagonal entry on every 64th row: too many diagonals for
    a DIA view, columns too far for narrow offsets, so the drop-in keeps CSR / CSC."""
    rows = np.arange(0, n, 64)
    far = sps.csr_array((np.full(rows.size, 0.5), (rows, n - 1 - rows)), shape=(n, n))
    return sps.csr_array(_big(n) + far)


@pytest.mark.parametrize(("kind", "rmatmul"), [
    ("dia", False), ("dia", True), ("csr", False), ("csr", True), ("csc", False),
    ("csc", True)])
def test_a_dropin_product_reads_an_unaligned_vector_where_it_lies(mapped, monkeypatch,
                                                                  kind, rmatmul):
    """NumPy's vectors mostly start 16-48 bytes past a 64-byte boundary, where the device
    would copy them: a DIA view's, a CSR's or a CSC's product (``A @ x`` and ``x @ A``)
    instead hands the device the memory from the boundary below (read in place, no
    copy, nothing staged) and starts its kernel that many items in, so the NaN before
    ``x`` here is never read. A vector of another dtype, or several columns, takes the
    staged route as before."""
    import jaxsparse.scipy_compat as sp
    from jaxsparse.scipy_compat import _route
    from jaxsparse.sharding import _default

    monkeypatch.setattr(_default, "_default", None)  # one device: no sharded copy
    S = _big() if kind == "dia" else _scattered_big()
    A = sp.csc_array(S) if kind == "csc" else sp.csr_array(S)
    product = (lambda v: v @ A) if rmatmul else (lambda v: A @ v)
    want = (lambda v: S.T @ v) if rmatmul else (lambda v: S @ v)
    sp.set_device_min_nnz(0)
    puts = []
    real_put = jax.device_put

    def recording(a, device=None):
        out = real_put(a, device)
        puts.append((np.asarray(a).ctypes.data, out.unsafe_buffer_pointer()))
        return out

    try:
        n = S.shape[1]
        block = np.full(n + 16, np.nan)
        start = -block.ctypes.data % 64 // 8
        aligned = block[start:start + n]
        aligned[:] = np.linspace(-1.0, 1.0, n)
        y_aligned = product(aligned)  # builds the operator: an aligned x, read in place
        op = A._operator()
        assert type(op) is {"dia": js.DIA, "csr": js.CSR, "csc": js.CSC}[kind]
        made = len(mapped)
        monkeypatch.setattr(jax, "device_put", recording)
        for k in range(1, 8):
            block[:] = np.nan
            x = block[start + k:start + k + n]
            x[:] = np.linspace(-1.0, 1.0, n)
            assert _route._reads_in_place_from_boundary(op, x, transpose=rmatmul)
            y = product(x)
            np.testing.assert_array_equal(y, y_aligned)  # the kernel of an aligned x
            np.testing.assert_allclose(y, want(x), rtol=1e-15, atol=1e-15)
            assert y.flags.writeable and np.isfinite(y).all()
            assert puts[-1] == (x.ctypes.data - 8 * k,) * 2  # the boundary, in place
        assert len(mapped) == made  # nothing staged
        x32 = block[start + 1:start + 1 + n].astype(np.float32)
        X = np.stack([x, -x], axis=1)
        assert not _route._reads_in_place_from_boundary(op, x32, transpose=rmatmul)
        assert not _route._reads_in_place_from_boundary(op, X, transpose=rmatmul)
        np.testing.assert_allclose(product(x32), want(x32.astype(float)), rtol=1e-6)
        if not rmatmul:
            np.testing.assert_allclose(A @ X, S @ X, rtol=1e-15, atol=1e-15)
    finally:
        sp.set_device_min_nnz(None)


def test_a_dropin_csr_product_through_narrow_offsets_is_staged(monkeypatch):
    """A CSR whose product reads narrow column offsets (their kernel takes no
    ``b_start``) stages an unaligned vector: the rule says no, and the product is
    right."""
    import jaxsparse.scipy_compat as sp
    from jaxsparse.scipy_compat import _route

    n = 4096
    S = sps.csr_array(_big(n) + sps.eye_array(n, k=7) + sps.eye_array(n, k=-9) +
                      sps.eye_array(n, k=40))
    op = js.CSR.from_scipy(S)
    assert op.diagonal_offsets is not None
    block = np.full(n + 16, np.nan)
    x = block[(-block.ctypes.data % 64 // 8) + 2:][:n]
    x[:] = np.linspace(-1.0, 1.0, n)
    assert not _route._reads_in_place_from_boundary(op, x)
    assert _route._reads_in_place_from_boundary(op, x, transpose=True) == (
        missing_reason() is None)  # A.T @ x reads the indices
    assert _route._reads_in_place_from_boundary(op.T, x, transpose=False) == (
        missing_reason() is None)  # a CSC view's A @ x: the transposed kernel
    sp.set_device_min_nnz(0)
    try:
        A = sp.csr_array(S)
        np.testing.assert_allclose(A @ x, S @ x, rtol=1e-15, atol=1e-15)
    finally:
        sp.set_device_min_nnz(None)


@needs_hugepages
def test_large_dropin_operands_go_to_huge_page_memory(mapped, monkeypatch):
    """From 32 MB (glibc maps those afresh every call) a drop-in product's NumPy operand
    is copied into huge-page memory, which the next operand of the same size reuses;
    smaller ones take jax.device_put when the device can read them in place (64-byte
    aligned), and are staged too when it would copy them (the threshold is lowered here
    to keep the test small)."""
    import jaxsparse.scipy_compat as sp
    from jaxsparse.scipy_compat import _route

    monkeypatch.setattr(_route, "HUGE_OPERAND_BYTES", 12 << 20)
    monkeypatch.setattr(_hugepages, "_spare", [])  # none left by an earlier test
    S = _big()
    A = sp.csr_array(S)
    sp.set_device_min_nnz(0)
    try:
        n = S.shape[1]
        block = np.empty(n + 16)
        start = -block.ctypes.data % 64 // 8
        x = block[start:start + n]  # 8 MB, under the lowered threshold, aligned
        x[:] = np.linspace(0.0, 1.0, n)
        A @ x  # builds the device copy (itself on huge pages)
        made = len(mapped)
        np.testing.assert_allclose(A @ x, S @ x, rtol=1e-15)
        assert len(mapped) == made
        shifted = block[start + 1:start + 1 + n]  # 8 bytes off: PJRT would copy it
        shifted[:] = x
        for _ in range(2):  # staged: one mapping, reused
            np.testing.assert_allclose(A @ shifted, S @ shifted, rtol=1e-15)
        assert [m.nbytes for m in mapped[made:]] == [shifted.nbytes]
        made = len(mapped)
        for k in (2, 2, 3, 3):  # 16 MB, 16 MB, 24 MB, 24 MB
            X = np.ones((S.shape[1], k)) * np.arange(1, k + 1)
            np.testing.assert_allclose(A @ X, S @ X, rtol=1e-15)
            np.testing.assert_allclose(X.T @ A, X.T @ S, rtol=1e-15)  # rmatmul too
        # one mapping per size: X.T (staged in C order) reuses X's too
        assert [m.nbytes for m in mapped[made:]] == [X.nbytes * 2 // 3, X.nbytes]
    finally:
        sp.set_device_min_nnz(None)


@needs_hugepages
def test_a_staged_operand_is_not_reused_while_a_failed_product_may_read_it(monkeypatch,
                                                                          advised):
    """A product that raises leaves its staging memory behind (its computation may
    still be reading it); the next operand is staged into fresh memory, which is then
    kept for the next one, and lazily freed once it has lain unused for
    SPARE_IDLE_SECONDS (a synthetic clock here; the advisor thread's own run below)."""
    monkeypatch.setattr(_hugepages, "_spare", [])
    monkeypatch.setattr(_hugepages, "SPARE_IDLE_SECONDS", 3600.0)
    a = np.arange(1 << 20, dtype=np.float64)  # 8 MB
    with pytest.raises(RuntimeError, match="boom"):
        with _hugepages.staged(a):
            raise RuntimeError("boom")
    assert _hugepages._spare == []
    with _hugepages.staged(a + 1) as x:
        np.testing.assert_array_equal(np.asarray(x), a + 1)
    assert len(_hugepages._spare) == 1
    spare = _hugepages._spare[0]
    freed = (spare.ctypes.data, spare.nbytes, mmap.MADV_FREE)
    assert freed not in advised  # not while products keep coming
    since = _hugepages._spare_since[0]
    with _hugepages._spare_lock:
        assert _hugepages._advise_if_idle(since + 1.0) == pytest.approx(3599.0)
        assert freed not in advised
        assert _hugepages._advise_if_idle(since + 3600.0) is None
    assert advised.count(freed) == 1  # Linux may take its pages back under pressure
    with _hugepages._spare_lock:
        _hugepages._advise_if_idle(since + 7200.0)
    assert advised.count(freed) == 1  # once
    with _hugepages.staged(a + 2) as y:  # the spare, reused
        np.testing.assert_array_equal(np.asarray(y), a + 2)
    assert x.is_deleted()  # the earlier block's array cannot read the reused memory
    big = np.arange(4 << 20, dtype=np.float64).reshape(-1, 4)  # 32 MB: copied in halves
    for operand in (big, np.asfortranarray(big)):
        with _hugepages.staged(operand) as x:
            np.testing.assert_array_equal(np.asarray(x), big)


@needs_hugepages
def test_the_advisor_thread_frees_a_spare_left_unused(monkeypatch, advised):
    """The daemon thread advises the spare by itself once it lies unused (idle time 0
    here); a liveness check, waited for up to 30 s, not a timing."""
    monkeypatch.setattr(_hugepages, "_spare", [])
    monkeypatch.setattr(_hugepages, "SPARE_IDLE_SECONDS", 0.0)
    with _hugepages.staged(np.arange(1 << 20, dtype=np.float64)):
        pass
    spare = _hugepages._spare[0]
    freed = (spare.ctypes.data, spare.nbytes, mmap.MADV_FREE)
    deadline = time.monotonic() + 30
    while freed not in advised and time.monotonic() < deadline:
        time.sleep(0.01)
    assert advised.count(freed) == 1 and _hugepages._spare_advisor[0].daemon


@needs_hugepages
def test_a_copying_device_put_is_collapsed_instead(advised, mapped, monkeypatch):
    """Should a JAX version copy the aligned host buffer instead of using it, the copy
    is collapsed, as XLA's own buffers are."""
    real = jax.device_put
    monkeypatch.setattr(jax, "device_put", lambda a, device=None: real(np.array(a), device))
    A = js.CSR.from_scipy(_big())
    assert not _in_place(A.data, mapped)
    assert _covers(advised, A.data) and _covers(advised, A.indices)
    assert all(start % HUGE == 0 and length % HUGE == 0
               for start, length, advice in advised if advice == _hugepages.MADV_COLLAPSE)


def test_jaxsparse_hugepages_0_turns_it_off(monkeypatch, mapped):
    monkeypatch.setenv("JAXSPARSE_HUGEPAGES", "0")
    _hugepages._madvise.cache_clear()
    try:
        assert _hugepages._madvise() is None
        S = _big()
        A = js.CSR.from_scipy(S)
        assert mapped == []
        np.testing.assert_array_equal(np.asarray(A.data)[:S.nnz], S.data)
    finally:
        monkeypatch.delenv("JAXSPARSE_HUGEPAGES")
        _hugepages._madvise.cache_clear()


@pytest.mark.parametrize("hugepages", ["1", "0"])
@pytest.mark.parametrize("n", [1000, 1 << 20])
def test_changing_the_callers_aligned_arrays_later_leaves_the_matrix_alone(
        monkeypatch, hugepages, n):
    """The CPU device reads a host array aligned to 64 bytes in place (np.memmap, mmap,
    Arrow buffers): the constructors must copy it, or a later change to the SciPy
    matrix would silently change ours."""
    monkeypatch.setenv("JAXSPARSE_HUGEPAGES", hugepages)

    def aligned(values):
        out = np.frombuffer(mmap.mmap(-1, max(values.nbytes, 1)), values.dtype,
                            count=values.size)
        out[:] = values
        return out

    S = _big(n)
    indptr, indices = S.indptr.astype(np.int32), S.indices.astype(np.int32)
    T = sps.csr_array((aligned(S.data), aligned(indices), aligned(indptr)), shape=S.shape)
    assert T.indptr.ctypes.data % 64 == 0
    A = js.CSR.from_scipy(T)
    B = js.COO.from_scipy(T.tocoo())
    T.data[:] = 7.0
    T.indptr[1:] = 0
    T.indices[:] = 0
    x = np.arange(n, dtype=float)
    np.testing.assert_array_equal(np.asarray(A @ x), S @ x)
    np.testing.assert_array_equal(np.asarray(B @ x), S @ x)


def _thp_available() -> bool:
    try:
        mode = open("/sys/kernel/mm/transparent_hugepage/enabled").read()
    except OSError:
        return False
    return "[never]" not in mode


def _smaps_field(address: int, name: str) -> str | None:
    """Field ``name`` of the mapping holding ``address`` in /proc/self/smaps."""
    with open(f"/proc/{os.getpid()}/smaps") as f:
        lines = f.read().splitlines()
    for i, line in enumerate(lines):
        span = line.split(" ", 1)[0]
        if "-" not in span or not all(c in "0123456789abcdef-" for c in span):
            continue
        lo, hi = (int(v, 16) for v in span.split("-"))
        if lo <= address < hi:
            for field in lines[i + 1:i + 30]:
                if field.startswith(name + ":"):
                    return field.split(":", 1)[1]
    return None


def _anon_huge_kb(address: int) -> int:
    field = _smaps_field(address, "AnonHugePages")
    return 0 if field is None else int(field.split()[0])


@pytest.mark.skipif(not _thp_available(),
                    reason="needs Linux with transparent huge pages not set to 'never'")
def test_the_kernel_backs_a_matrix_with_huge_pages_from_its_first_byte():
    """Every whole 2 MB page of the matrix's buffer is a huge page, starting at its
    first byte (an XLA buffer's collapse leaves its first partial page on 4 KB pages);
    the partial last one is not, so that no array grows by up to 2 MB."""
    A = js.CSR.from_scipy(_big())
    start = A.data.unsafe_buffer_pointer()
    pages = A.data.nbytes // HUGE  # 11 whole pages of 2 MB, then a partial one
    if start % HUGE:
        pytest.skip("this JAX copied the host buffer (test_a_copying_device_put_... covers it)")
    if _anon_huge_kb(start) < pages * HUGE // 1024:
        pytest.skip("best effort: the kernel found no free 2 MB pages now (memory pressure)")
    assert _anon_huge_kb(start) == pages * HUGE // 1024
    x = np.arange(A.shape[1], dtype=float)
    np.testing.assert_array_equal(np.asarray(A @ x), _big() @ x)  # contents unchanged


@pytest.mark.skipif(missing_reason() is not None, reason=f"native kernels: {missing_reason()}")
@needs_hugepages
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
    # Vectors 8 bytes under 4 MB: a whole 2 MB page wherever XLA puts them (64-byte
    # aligned). The memo is per address, and an earlier large buffer may have lain where
    # these do, so the check is that the products record nothing new (x before reading,
    # then y as the next x).
    small = js.CSR.from_scipy(_big((4 << 20) // 8 - 1))
    x = jax.numpy.ones(small.shape[1], jax.numpy.float64)
    for _ in range(2):
        before = pages(x)
        assert before[1] >= 1
        y = js.ops.spmv(small, x, backend="native")
        assert pages(x) == before
        x = y


@pytest.mark.skipif(missing_reason() is not None, reason=f"native kernels: {missing_reason()}")
@pytest.mark.skipif(not _thp_available(),
                    reason="needs Linux with transparent huge pages not set to 'never'")
@needs_hugepages
@pytest.mark.parametrize("fmt", ["csr", "dia"])
def test_native_products_ask_for_huge_pages_on_large_fresh_outputs(fmt):
    """An output of 32 MB or more is a fresh mapping on every call (glibc's largest mmap
    threshold): the kernel advises it for huge pages before its first write, so that it
    faults in 2 MB pages rather than 4 KB ones.

    The control is a block of the same size from this process's malloc, which XLA's CPU
    allocator calls. It can come advised already: with GLIBC_TUNABLES=glibc.malloc.hugetlb=1
    every block does, and malloc serves even a large block from free heap memory when it
    has that much, where NumPy advised its own large arrays earlier in the process (a
    40 MB control did, after this file's other tests). The output is 200 MB, more than the
    heap keeps free, and where the control is advised anyway there is nothing to tell
    apart, so the test skips."""
    k = 25
    nbytes = (1 << 20) * k * 8  # the output's size: 200 MB
    libc = ctypes.CDLL(None)
    libc.malloc.argtypes, libc.malloc.restype = [ctypes.c_size_t], ctypes.c_void_p
    libc.free.argtypes, libc.free.restype = [ctypes.c_void_p], None
    block = libc.malloc(nbytes)
    try:
        control = _smaps_field(block + nbytes // 2, "VmFlags").split()
    finally:
        libc.free(block)
    if "hg" in control:
        pytest.skip("malloc hands out memory already advised for huge pages here "
                    "(GLIBC_TUNABLES=glibc.malloc.hugetlb=1, or heap memory NumPy advised)")
    S = _big()  # 1M rows
    A = js.CSR.from_scipy(S) if fmt == "csr" else js.DIA.from_scipy(S.todia())
    X = jax.numpy.ones((S.shape[1], k), jax.numpy.float64)

    def flags(Y):
        return _smaps_field(Y.unsafe_buffer_pointer() + Y.nbytes // 2, "VmFlags").split()

    Y = js.ops.spmm(A, X, backend="native")
    np.testing.assert_array_equal(np.asarray(Y), S @ np.ones(X.shape))
    assert "hg" in flags(Y)


@pytest.mark.skipif(missing_reason() is not None, reason=f"native kernels: {missing_reason()}")
@pytest.mark.skipif(not _thp_available(),
                    reason="needs Linux with transparent huge pages not set to 'never'")
@needs_hugepages
def test_mid_sized_outputs_are_advised_only_when_not_in_memory():
    """An output of 4-32 MB comes from malloc's heap: in memory already on most calls, and
    then left alone, but now and then memory malloc gave back to the kernel, whose first
    writes would fault in 4 KB pages one by one; the kernels advise it then. Checked on
    mappings of our own, untouched and touched, through the kernels' own function."""
    from jaxsparse.ops.native._library import library_path

    advise = ctypes.CDLL(str(library_path())).JaxsparseAdviseFreshOutput
    advise.argtypes, advise.restype = [ctypes.c_void_p, ctypes.c_size_t], None
    for size, touched, advised in [(16 << 20, False, True), (16 << 20, True, False),
                                   (3 << 20, False, False)]:  # under 4 MB: never
        m = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        view = np.frombuffer(m, np.uint8)
        if touched:
            view[::4096] = 1
        start = view.ctypes.data
        assert "hg" not in _smaps_field(start + size // 2, "VmFlags").split()
        advise(start, size)
        flags = _smaps_field(start + size // 2, "VmFlags").split()
        assert ("hg" in flags) == advised, (size, touched)
        del view
        m.close()


def test_placing_a_sharded_matrix_hands_its_staging_memory_back(monkeypatch):
    """glibc keeps the freed staging arrays' heap memory unless asked (0.07x of the
    scale run's matrix): placement asks once, after the last block."""
    calls = []
    monkeypatch.setattr(_hugepages, "release_freed_host_memory", lambda: calls.append(1))
    mesh = jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])
    js.sharding.shard(_big(1000), mesh, "x")
    assert calls == [1]
    monkeypatch.undo()
    if platform.system() == "Linux" and platform.libc_ver()[0] == "glibc":
        assert _hugepages._malloc_trim() is not None
    _hugepages.release_freed_host_memory()  # and the real one runs here
