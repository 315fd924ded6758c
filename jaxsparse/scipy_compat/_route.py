"""Where a drop-in product runs: SciPy's kernel on the host, or JAX on the device.

- A ``jax.Array`` operand (or a traced one, under ``jit``): the device, and the result
  is a ``jax.Array`` on the device or mesh; JAX users keep everything on device.
- A NumPy operand (or a list...) and a matrix of at least :func:`device_min_nnz` stored
  entries: the device (the native kernels, a diagonal view or a sharded copy: see
  :mod:`._product_view`), and the result comes back as a writable ``np.ndarray``.
- Anything smaller: SciPy's own compiled kernel, with no JAX dispatch or compile.

The threshold is measured (:mod:`._thresholds`) and can be set. A NumPy operand goes to
the device with no copy where the device can read it as it lies (at a 64-byte boundary;
or, for a vector of a DIA, CSR or CSC product, from the boundary below it:
:func:`_matmul_from_boundary`), and is staged (one copy, into reused huge-page memory)
otherwise.
"""

from __future__ import annotations

import contextlib
import ctypes
import operator

import jax
import numpy as np

from .. import _hugepages
from . import _device
from ._thresholds import device_min_nnz


def stored_entries(A) -> int:
    """Stored entries of drop-in ``A``, read without handing its arrays out."""
    if A.format_name in ("csr", "csc"):
        return _device.stored(A, "indptr").item(-1)
    return int(_device.stored(A, "data").size)


def _supported(A) -> bool:
    return A.ndim == 2 and A.dtype.kind in "fciub"


def on_device(A, other) -> bool:
    """Whether ``A @ other`` (or ``other @ A``) runs on the device."""
    if isinstance(other, np.ndarray):  # first: the hot path of small NumPy products
        if stored_entries(A) < device_min_nnz():
            return False
        return (other.dtype.kind in "fciub" and other.ndim in (1, 2) and _supported(A)
                and A.dtype.kind in "fc")
    return isinstance(other, jax.Array) and _supported(A)


def _mismatch(A_shape, x_shape, rmatmul: bool) -> ValueError:
    if rmatmul:
        return ValueError(f"matmul: dimension mismatch: operand of shape {x_shape} @ "
                          f"matrix of shape {A_shape}")
    return ValueError(f"matmul: dimension mismatch with signature (n,k={A_shape[-1]}),"
                      f"(k={x_shape[0] if x_shape else ''},?)->(n,?)")


# From this size glibc maps every allocation afresh (its largest mmap threshold), so
# jax.device_put's copy faults in new 4 KB pages on every call; below it the heap hands
# the last call's pages back, which beats mapping new huge pages.
HUGE_OPERAND_BYTES = 32 << 20


@contextlib.contextmanager
def _on_device(other):
    """The operand on the device while the product runs (the block must wait for the
    product's result before it exits).

    One copy. Large operands go to huge-page memory the CPU device uses in place, which
    the next product of the same size reuses (``jaxsparse._hugepages.staged``): in a
    loop of drop-in products over 2M rows, 32 MB operands took 45 ms against 55 through
    jax.device_put, 256 MB 250 against 355 (in fresh huge-page memory, before the
    reuse); 16 MB ones 12 ms against 15.5 the other way. (jnp.asarray is slower than
    either.)"""
    if isinstance(other, jax.Array):
        yield other
        return
    other = np.asarray(other)
    if other.nbytes >= HUGE_OPERAND_BYTES or not _read_in_place(other):
        with _hugepages.staged(other) as x:
            yield x
        return
    yield jax.device_put(other)


def _read_in_place(a: np.ndarray) -> bool:
    """Whether ``jax.device_put(a)`` lets the CPU device read ``a``'s memory as it is (no
    copy): C-contiguous at a 64-byte boundary, in the dtype it would have on the device.
    A drop-in product's own results are; NumPy's fresh arrays mostly are not (16-byte
    alignment), and PJRT's copy of those went to fresh pages on many calls: the band's
    drop-in ``A @ x`` (16 MB operand, n = 2M) took 8.9-9.3 ms with such an ``x`` against
    6.3-6.9 with an aligned one; copied into the reused huge-page buffer instead
    (``staged``), 7.3-7.9."""
    return (a.flags.c_contiguous and a.ctypes.data % 64 == 0
            and a.dtype == jax.dtypes.canonicalize_dtype(a.dtype))


def _result(y, x, other, A):
    if isinstance(other, jax.Array):
        return y
    out = _device.writable_result(y, x)
    return A._ascontainer(out) if isinstance(other, np.matrix) else out


# The product as one jitted call: JAX's C++ dispatch path costs 0.2-0.3 ms less per call
# than binding the primitive eagerly (drop-in A @ x, same process: banded n = 2M 4.39 ->
# 4.06 ms, 2-D Poisson 1400^2 2.88 -> 2.65).
_jitted_matmul = jax.jit(operator.matmul)


def device_matmul(A, other):
    """``A @ other`` on the device (see the module docstring for the result type)."""
    op = A._operator()
    if _reads_in_place_from_boundary(op, other):
        return _matmul_from_boundary(op, other)
    with _on_device(other) as x:
        if x.ndim not in (1, 2) or x.shape[0] != A.shape[1]:
            raise _mismatch(A.shape, x.shape, rmatmul=False)
        return _result(_jitted_matmul(op, x), x, other, A)


# ``op @ b[start:]`` (or ``op.T @ b[start:]``) for a vector ``b`` read where it lies
# (the DIA and CSR kernels' b_start).
_jitted_matmul_from = jax.jit(
    lambda op, b, start, transpose: op._matmul(b, transpose=transpose, backend=None,
                                               b_start=start),
    static_argnums=(2, 3))


def _reads_in_place_from_boundary(op, other, *, transpose: bool = False) -> bool:
    """Whether ``op @ other`` (``transpose``: ``other @ op``) reads a NumPy vector the
    device would copy (not at a 64-byte boundary) where it lies instead: a DIA, CSR or
    CSC product operator on the native CPU kernels, of ``other``'s dtype, and a
    C-contiguous 1-D ``other`` of the right length starting at a multiple of its item
    size.

    Its memory from the boundary below it (up to 56 bytes before it, in the same page)
    goes to the device as it is, aligned, so the device reads it in place; the kernel
    starts that many items in (``b_start``) and never reads the bytes before ``other``.
    Against staging it (a copy per product), same process, ``x`` 16 bytes past a
    boundary: the band's drop-in ``A @ x`` (n = 2M, a DIA view) 8.0-8.3 -> 6.7 ms, 2-D
    Poisson 1400^2 4.9-5.2 -> 3.6-3.9; the random matrix's (CSR, n = 1M) 9.9-10.1 ->
    9.5 (the time of an aligned ``x``). A CSR whose narrow column offsets serve the
    product (``formats/_offsets.py``) is staged instead: their kernel, which moves
    fewer bytes, takes no ``b_start``."""
    if not (isinstance(other, np.ndarray) and other.ndim == 1
            and other.shape[0] == op.shape[0 if transpose else 1]
            and other.flags.c_contiguous and other.dtype == op.dtype
            and not _read_in_place(other) and other.ctypes.data % other.itemsize == 0):
        return False
    kernel = _kernel_reading_in_place(op, transpose)
    from ..ops import _dispatch

    return (kernel is not None and _dispatch.pick(kernel) == "native"
            and all(d.platform == "cpu" for d in op.data.devices()))


def _kernel_reading_in_place(op, transpose: bool) -> str | None:
    """The primitive that ``op``'s product (``transpose``: ``x @ op``) would bind with
    ``b_start``, or None where that product takes none."""
    from ..formats import CSC, CSR, DIA

    if type(op) is DIA:
        return None if "_transpose_of" in op.__dict__ else "dia_matmul"
    if type(op) in (CSR, CSC):
        return None if op._reads_offsets(transpose=transpose, vector=True) else "csr_matmul"
    return None


def _matmul_from_boundary(op, x: np.ndarray, *, transpose: bool = False) -> np.ndarray:
    """``op @ x`` (``transpose``: ``x @ op``) reading ``x`` in place (see
    :func:`_reads_in_place_from_boundary`)."""
    lead = x.ctypes.data % 64
    memory = (ctypes.c_char * (lead + x.nbytes)).from_address(x.ctypes.data - lead)
    from_boundary = np.frombuffer(memory, x.dtype)
    b = jax.device_put(from_boundary, next(iter(op.data.devices())))
    try:
        y = _jitted_matmul_from(op, b, lead // x.itemsize, transpose)
        return _device.writable_result(y, b)
    finally:
        b.delete()  # no array of ours reads the caller's memory after this call


def device_rmatmul(A, other):
    """``other @ A`` on the device: the transposed kernel, no conversion of ``A``."""
    from ..formats._base import AbstractSparse
    from ..ops import matmul

    op = A._operator()
    if _reads_in_place_from_boundary(op, other, transpose=True):
        return _matmul_from_boundary(op, other, transpose=True)
    with _on_device(other) as x:
        if x.ndim not in (1, 2) or x.shape[-1] != A.shape[0]:
            raise _mismatch(A.shape, x.shape, rmatmul=True)
        if isinstance(op, AbstractSparse):
            y = matmul(x, op)
        else:  # sharded: x @ A = (A^T x^T)^T, the halo exchange run in reverse
            y = (op.T @ x.T).T
        return _result(y, x, other, A)

