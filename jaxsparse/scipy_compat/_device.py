"""Host storage with a device cache: what makes a SciPy object a JAX operand.

A drop-in matrix *is* a SciPy sparse object: its arrays (``data``, ``indices``,
``indptr``; ``coords``; ``offsets``) are SciPy's own writable NumPy arrays, and every
SciPy method runs on them unchanged. A device copy (a core jaxsparse format, and the
product operator built from it: see :mod:`._product_view`) is made on the first device
operation and kept until it may be stale.

When may it be stale? Whenever one of the arrays has been *handed out*: reading
``A.data`` (by the user, a third-party library or one of SciPy's own methods) returns
the writable array itself, and whoever holds it can write into it. So every read of a
stored array, and every assignment, drops the device copy; the next device operation
rebuilds it (one host-to-device copy of the arrays). The drop-in's own product paths
read the arrays without dropping anything, and so do the few SciPy methods that only
compute a new result from them (``nnz``, ``dtype``, ``repr``, ``toarray``, ``sum``...;
:data:`READ_ONLY_METHODS`). A loop of products, or of solver calls, uploads once.
"""

from __future__ import annotations

import contextlib
import functools

import jax
import numpy as np

# Methods of SciPy's classes that read the stored arrays but return only new objects
# (never a view of them): calling them keeps the device copy.
READ_ONLY_METHODS = ("_getnnz", "__repr__", "__str__", "toarray", "todense", "sum",
                     "mean", "count_nonzero", "diagonal", "trace", "max", "min",
                     "getnnz")


class Stored:
    """A stored array of a drop-in matrix (see the module docstring)."""

    def __set_name__(self, owner, name):
        self.name = name
        self.slot = "_stored_" + name

    # Hot: SciPy's own methods read the arrays many times per call. The common case (no
    # device copy to drop) is one membership test and one lookup.
    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        d = obj.__dict__
        if "_device" in d and not d.get("_reading"):
            del d["_device"]
        try:
            return d[self.slot]
        except KeyError:
            raise AttributeError(self.name) from None

    def __set__(self, obj, value):
        d = obj.__dict__
        d[self.slot] = value
        if "_device" in d:
            del d["_device"]


@contextlib.contextmanager
def reading(obj):
    """Read ``obj``'s stored arrays without handing them out (no cache drop)."""
    d = obj.__dict__
    d["_reading"] = d.get("_reading", 0) + 1
    try:
        yield
    finally:
        d["_reading"] -= 1


def stored(obj, name):
    """``obj``'s stored array ``name``, read without dropping the device copy."""
    return obj.__dict__["_stored_" + name]


def keeps_cache(method):
    """``method`` run under :func:`reading` (for SciPy methods that only read)."""

    @functools.wraps(method)
    def wrapped(self, *args, **kwargs):
        if "_device" not in self.__dict__:  # nothing to keep: skip the context manager
            return method(self, *args, **kwargs)  # (SciPy's constructors call nnz often)
        with reading(self):
            return method(self, *args, **kwargs)

    return wrapped


def device_core(obj, core_class):
    """The core jaxsparse format holding ``obj``'s entries, built once per upload."""
    cache = obj.__dict__.setdefault("_device", {})
    if "core" not in cache:
        # Built with concrete arrays even when the first use is inside a trace (a
        # solver's right-hand side applying the matrix): the cache outlives the trace.
        with jax.ensure_compile_time_eval():
            cache["core"] = core_class.from_scipy(host_view(obj))
    return cache["core"]


def host_view(obj):
    """A plain SciPy object sharing ``obj``'s arrays (not handed out: no cache drop)."""
    with reading(obj):
        return obj._plain()


def device_operator(obj, core_class):
    """What ``obj`` multiplies by on the device: the core, a view of it, or a sharded
    copy over the default mesh (:mod:`._product_view`). A sharded copy is built from
    the host arrays directly: a whole-matrix device copy first would hold the matrix
    twice on the devices (and once more on the host, read back to be planned)."""
    from .. import sharding
    from . import _product_view

    mesh = sharding.default_mesh()
    cache = obj.__dict__.setdefault("_device", {})
    if cache.get("mesh", ()) != mesh or "operator" not in cache:
        host = host_view(obj)
        with jax.ensure_compile_time_eval():  # concrete, as in device_core
            if host.ndim == 2 and _product_view.wants_sharding(host.nnz, mesh):
                cache["operator"] = sharding.shard(host, mesh, mesh.axis_names[0])
            else:
                core = device_core(obj, core_class)
                cache["operator"] = _product_view.build(core, mesh) if core.ndim == 2 \
                    else core
        cache["mesh"] = mesh
    return cache["operator"]


# From about this size the copy costs more than the checks (a 16 MB result: ~4 ms of a
# 25 ms banded product, the fresh host pages' faults included).
ADOPT_MIN_BYTES = 1 << 20


class _Adopted:
    """NumPy's writable view of a device buffer on a CPU device; as the view's base it
    keeps the ``jax.Array`` (so the buffer) alive."""

    def __init__(self, y: jax.Array):
        self._y = y
        self.__array_interface__ = {"shape": y.shape, "typestr": np.dtype(y.dtype).str,
                                    "data": (y.unsafe_buffer_pointer(), False),
                                    "version": 3}


def writable_result(y, *inputs: jax.Array) -> np.ndarray:
    """``writable(y)`` for a product's result, without the copy where NumPy can take the
    buffer itself: ``y`` lies on one CPU device, in a NumPy dtype, and is fresh. The
    caller must hold the only reference to ``y``, and the buffer must be none of
    ``inputs``' (an eager op can return its input as is, e.g. ``.T`` of a vector). Nothing
    else can write the buffer then: JAX only reuses a buffer that is donated."""
    if (isinstance(y, jax.Array) and y.nbytes >= ADOPT_MIN_BYTES
            and y.is_fully_addressable and len(y.devices()) == 1
            and next(iter(y.devices())).platform == "cpu"
            and np.dtype(y.dtype).isbuiltin == 1 and y.dtype.kind in "biufc"):
        y = y.block_until_ready()
        ptr = y.unsafe_buffer_pointer()
        if all(ptr != x.unsafe_buffer_pointer() for x in inputs if isinstance(x, jax.Array)):
            return np.asarray(_Adopted(y))
    return writable(y)


def writable(x) -> np.ndarray:
    """A JAX result as a writable NumPy array (NumPy's own view of a JAX array is
    read-only), whole on every process: a result sharded over several processes'
    devices is gathered first (one all-gather; see ``jaxsparse.distributed.gather``)."""
    from ..distributed import gather

    return np.array(gather(x))
