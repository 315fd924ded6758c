"""The "native" lowerings of the product primitives: argument preparation and FFI calls.

Each lowering sends the dtypes the kernels implement (float32/64, complex64/128,
int32/64 values; int32/64 indices) to C++; bf16/f16 are computed in float32 (the xla
backend's accumulation rule), and anything else (bool, small or unsigned ints), empty
operands and mixed index dtypes go to the xla lowering of the same op, so a "native"
call never fails for a dtype the xla backend accepts.
"""

from __future__ import annotations

import functools
import os

import jax
import jax.numpy as jnp
import numpy as np

from .. import _dispatch, _reference
from ._library import cached_stream_bytes, missing_reason

_KERNEL_DTYPES = frozenset(
    np.dtype(t) for t in (np.float32, np.float64, np.complex64, np.complex128, np.int32,
                          np.int64)
)
_INDEX_DTYPES = frozenset((np.dtype(np.int32), np.dtype(np.int64)))
_OFFSET_DTYPES = frozenset((np.dtype(np.int8), np.dtype(np.int16)))


def _cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def num_threads() -> int:
    """Threads one native call uses: ``JAXSPARSE_NUM_THREADS``, else the cores this
    process may run on divided by its local CPU devices (at least 1)."""
    env = os.environ.get("JAXSPARSE_NUM_THREADS", "").strip()
    if env:
        try:
            value = int(env)
        except ValueError:
            value = 0
        if value < 1:
            raise ValueError(f"JAXSPARSE_NUM_THREADS must be a positive integer, got {env!r}")
        return value
    return max(1, _cores() // max(1, len(jax.local_devices(backend="cpu"))))


def pins_threads(threads: int, program_devices: int, all_devices: int, local_devices: int,
                 cores: int) -> bool:
    """The rule of :func:`own_core`: a one-thread call, in a program over every device
    (more than one), in a process with more than one CPU device and at least as many of
    them as cores it may use. Only then do the threads running its devices' shares alone
    fill its cores. A program over some of the devices (2 of 4 simulated ones on 2
    cores) runs on some of PJRT's threads, which may have been given the same core, so
    it leaves placement to Linux; so does a process that shares its cores with others
    (``jaxsparse.launch`` gives each process its share of threads), since every process
    would count from the same first core."""
    return (threads == 1 and 1 < program_devices == all_devices
            and 1 < local_devices and cores <= local_devices)


def own_core(threads: int) -> bool:
    """Whether a call on ``threads`` threads, lowered now, pins the thread running it to
    a core of its own (``csrc/own_core.h``; :func:`pins_threads` says when), unless
    ``JAXSPARSE_PIN_THREADS=0``."""
    if os.environ.get("JAXSPARSE_PIN_THREADS", "").strip() == "0":
        return False
    return pins_threads(threads, jax.sharding.get_abstract_mesh().size,
                        len(jax.devices()), len(jax.local_devices(backend="cpu")), _cores())


def _thread_attrs() -> dict:
    """The attributes every kernel takes: its thread count and the own-core switch."""
    threads = num_threads()
    return {"threads": np.int64(threads), "own_core": np.int64(own_core(threads))}


def _compute_dtype(dtype) -> np.dtype | None:
    """The dtype the kernel runs in for a ``dtype`` result, or None: use the xla kernel."""
    dtype = np.dtype(dtype)
    if dtype in _KERNEL_DTYPES:
        return dtype
    if dtype == _reference.accumulation_dtype(dtype):
        return None  # bool, int8, uint32, ...: the reference handles them
    return _reference.accumulation_dtype(dtype)  # bf16/f16 -> float32


def _index_dtype(*arrays) -> np.dtype | None:
    dtypes = {np.dtype(a.dtype) for a in arrays}
    return dtypes.pop() if len(dtypes) == 1 and dtypes <= _INDEX_DTYPES else None


def _ffi(target: str, shape, dtype, *args, **attrs):
    attrs = {k: np.int64(v) for k, v in attrs.items()}
    out = jax.ShapeDtypeStruct(tuple(shape), dtype)
    return jax.ffi.ffi_call(target, out)(*args, **_thread_attrs(), **attrs)


def _native_or_reference(op: str):
    """Register ``fn`` as ``op``'s native lowering; ``fn`` returns None to defer to xla."""

    def decorate(fn):
        @functools.wraps(fn)
        def lowering(*args, **params):
            out = fn(*args, **params)
            if out is None:
                return _dispatch.lookup(op, "xla")(*args, **params)
            return out

        if missing_reason() is None:
            _dispatch.register(op, "native")(lowering)
        return fn

    return decorate


def _empty(*arrays) -> bool:
    return any(0 in a.shape for a in arrays)


# -- matmul: A @ b / A.T @ b -----------------------------------------------------------
@_native_or_reference("csr_matmul")
def _csr_matmul(data, indices, indptr, b, *, shape, transpose, b_start=0):
    ct = _compute_dtype(b.dtype)
    if ct is None or _index_dtype(indices, indptr) is None or _empty(data, b):
        return None
    out_rows = shape[1] if transpose else shape[0]
    if out_rows == 0 or indptr.shape[0] != shape[0] + 1 or b.shape[0] == b_start:
        return None
    out = _ffi("jaxsparse_csr_matmul", (out_rows,) + b.shape[1:], ct,
               data.astype(ct), indices, indptr, b.astype(ct), transpose=transpose,
               b_start=b_start)
    return out.astype(b.dtype)


@_native_or_reference("csr_matmul_add")
def _csr_matmul_add(data, indices, indptr, b, c, *, shape):
    """``c + A @ b`` for one vector ``b``, each row's sum added into ``c``'s buffer
    (``csr_matmul.cc``); for several columns, where the kernel does not compute in
    ``b``'s dtype (bf16/f16 in float32) or would not run, ``c +`` the product, the bits
    of the unfused pair."""
    if (b.ndim != 1 or _compute_dtype(b.dtype) != np.dtype(b.dtype)
            or _index_dtype(indices, indptr) is None or _empty(data, b) or shape[0] == 0
            or indptr.shape[0] != shape[0] + 1):
        product = _dispatch.lookup("csr_matmul", "native")  # itself falls back to xla
        return c + product(data, indices, indptr, b, shape=shape, transpose=False)
    out = jax.ShapeDtypeStruct(c.shape, c.dtype)
    call = jax.ffi.ffi_call("jaxsparse_csr_matmul_add", out, input_output_aliases={4: 0})
    return call(data.astype(b.dtype), indices, indptr, b, c, **_thread_attrs())


@_native_or_reference("csr_offsets_matvec")
def _csr_offsets_matvec(data, indices, indptr, offsets, b, *, shape):
    """Through the offsets on more than one thread, where the product is bound by memory
    and they save 2-3 of int32's 4 bytes an entry (banded float64, 2 threads: 8.2 -> 6.7
    ms); on one the loop's arithmetic bounds it, and the indices' kernel ran as fast
    or faster (banded float64: 12.7 against 13.6 ms). So it does on two threads where
    the matrix stays in the cache (its values and indices under cached_stream_bytes()):
    same process, 100 products, median ms, offsets -> indices: the demo's power
    iteration (n = 20000, int16) 21.9 -> 19.3, 2-D Poisson n = 65536 16.6 -> 15.0; at
    1.96M rows (118 MB) the offsets' kernel took 440 against the indices' 499."""
    streams = data.size * data.dtype.itemsize + indices.size * indices.dtype.itemsize
    if num_threads() == 1 or streams < cached_stream_bytes():
        return _csr_matmul(data, indices, indptr, b, shape=shape, transpose=False)
    ct = _compute_dtype(b.dtype)
    if (ct is None or _index_dtype(indptr) is None or _empty(data, b) or b.ndim != 1
            or data.ndim != 1 or shape[0] == 0 or indptr.shape[0] != shape[0] + 1
            or np.dtype(offsets.dtype) not in _OFFSET_DTYPES):
        return None
    out = _ffi("jaxsparse_csr_offsets", (shape[0],), ct, data.astype(ct), offsets, indptr,
               b.astype(ct))
    return out.astype(b.dtype)


@_native_or_reference("coo_matmul")
def _coo_matmul(data, row, col, b, *, shape, transpose):
    ct = _compute_dtype(b.dtype)
    if ct is None or _index_dtype(row, col) is None or _empty(data, b):
        return None
    dst, src, out_rows = (col, row, shape[1]) if transpose else (row, col, shape[0])
    if out_rows == 0:
        return None
    out = _ffi("jaxsparse_coo_matmul", (out_rows,) + b.shape[1:], ct,
               data.astype(ct), dst, src, b.astype(ct))
    return out.astype(b.dtype)


# -- sampled: (p @ q)[row_s, col_s] ----------------------------------------------------
def _sampled(i0, i1, p, q, *, is_csr):
    ct = _compute_dtype(p.dtype)
    if ct is None or _index_dtype(i0, i1) is None or _empty(i0, p, q):
        return None
    qt = jnp.transpose(q).astype(ct)  # (n_cols, K): both dot operands read contiguously
    out = _ffi("jaxsparse_sampled", i0.shape, ct, i0, i1, p.astype(ct), qt, is_csr=is_csr)
    return out.astype(p.dtype)


@_native_or_reference("csr_sampled")
def _csr_sampled(indices, indptr, p, q, *, shape):
    if p.shape[0] != shape[0] or q.shape[1] != shape[1]:
        return None
    return _sampled(indices, indptr, p, q, is_csr=True)


@_native_or_reference("coo_sampled")
def _coo_sampled(row, col, p, q, *, shape):
    if p.shape[0] != shape[0] or q.shape[1] != shape[1]:
        return None
    return _sampled(row, col, p, q, is_csr=False)


# -- DIA: shifted multiply-adds --------------------------------------------------------
@_native_or_reference("dia_matmul")
def _dia_matmul(data, offsets, b, *, shape, transpose, width, b_start=0):
    ct = _compute_dtype(b.dtype)
    if ct is None or _index_dtype(offsets) is None or _empty(data, b):
        return None
    n, m = shape
    if data.shape[1] != m or n == 0 or m == 0:
        return None
    out_rows = m if transpose else n
    width = m if width is None else width
    out = _ffi("jaxsparse_dia_matmul", (out_rows,) + b.shape[1:], ct,
               data.astype(ct), offsets, b.astype(ct), transpose=transpose, width=width,
               b_start=b_start)
    return out.astype(b.dtype)



# -- the vector update of a CG step ------------------------------------------------------
_VECTOR_DTYPES = frozenset(d for d in _KERNEL_DTYPES if d.kind in "fc")


@_native_or_reference("cg_update")
def _cg_update(x, r, p, q, alpha):
    dtype = np.dtype(x.dtype)
    if dtype not in _VECTOR_DTYPES or x.ndim != 1 or x.shape[0] == 0:
        return None
    vector = jax.ShapeDtypeStruct(x.shape, dtype)
    real = jax.ShapeDtypeStruct((), np.finfo(dtype).dtype)
    # x and r are updated in place when the loop no longer needs the old ones
    call = jax.ffi.ffi_call("jaxsparse_cg_update", (vector, vector, real),
                            input_output_aliases={0: 0, 1: 1})
    return tuple(call(x, r, p, q, alpha, **_thread_attrs()))


if missing_reason() is not None:
    _dispatch.mark_unavailable("native", missing_reason())
