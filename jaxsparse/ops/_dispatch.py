"""The one place that maps (op, backend) to a lowering.

Kernels register implementations here; primitives look them up when they are lowered,
so adding the "pallas" (GPU) or "native" (CPU FFI) backend never touches a caller, and
``jit``/``grad``/``vmap`` behave the same on every backend (autodiff and batching live on
the primitives, not in the backends).
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence

import jax

BACKENDS = ("xla", "pallas", "native")

# Which backends to try, in order, when the caller passes ``backend=None``.
_PREFERENCE = {"gpu": ("pallas", "xla"), "cuda": ("pallas", "xla"), "rocm": ("pallas", "xla"),
               "cpu": ("native", "xla")}


# Per-op exceptions to _PREFERENCE, each measured (benchmarks/bench_spmv.py): a tuple, or
# a function of the operands' avals and the op's parameters giving one. None at present:
# DIA products over one vector went to XLA's fused loop until the native kernel added
# several diagonals per pass (dia_matmul.cc), which made it the faster one on every DIA
# product measured (n = 2e6 banded and 2-D Poisson, float32/64 and complex128).
_OP_PREFERENCE: dict[tuple[str, str], tuple[str, ...] | Callable] = {}

_IMPLS: dict[tuple[str, str], Callable] = {}

# Backends that could not be set up here (e.g. "native" without its compiled library),
# with the reason; the first automatic choice that passes one over warns once.
_UNAVAILABLE: dict[str, str] = {}
_WARNED: set[str] = set()


def mark_unavailable(backend: str, reason: str) -> None:
    _UNAVAILABLE[backend] = reason


def _warn_unavailable(backend: str) -> None:
    if backend in _WARNED:
        return
    _WARNED.add(backend)
    warnings.warn(
        f"jaxsparse: the {backend!r} backend is unavailable ({_UNAVAILABLE[backend]}); "
        "using the 'xla' backend", RuntimeWarning, stacklevel=3,
    )


def register(op: str, backend: str) -> Callable[[Callable], Callable]:
    """Decorator: ``@register("csr_matmul", "xla")`` makes ``fn`` that op's lowering."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")

    def decorate(fn: Callable) -> Callable:
        _IMPLS[(op, backend)] = fn
        return fn

    return decorate


def available(op: str) -> tuple[str, ...]:
    return tuple(b for b in BACKENDS if (op, b) in _IMPLS)


def pick(op: str, backend: str | None = None, *, platform: str | None = None,
         operands: Sequence = (), params: Mapping | None = None) -> str:
    """Resolve ``backend`` for ``op``: validate an explicit choice, or pick the default
    for ``platform`` (default: the platform being lowered for, else JAX's default) and,
    where the choice depends on them, the ``operands``' avals and the op's ``params``."""
    if backend is None:
        platform = platform or lowering_platform()
        order = _OP_PREFERENCE.get((op, platform)) or _PREFERENCE.get(platform, ("xla",))
        if callable(order):
            order = order(operands, params or {})
        for candidate in order:
            if (op, candidate) in _IMPLS:
                return candidate
            if candidate in _UNAVAILABLE:
                _warn_unavailable(candidate)
        return "xla"
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS} or None, got {backend!r}")
    if (op, backend) not in _IMPLS:
        why = f" ({_UNAVAILABLE[backend]})" if backend in _UNAVAILABLE else ""
        raise ValueError(
            f"backend {backend!r} has no kernel for {op}{why}; available: {available(op)}"
        )
    return backend


def choose(op: str, backend: str | None) -> str | None:
    """What a primitive is bound with: an explicit backend, validated now, or None,
    which the primitive's lowering resolves for the platform it is lowered for. So one
    jitted function runs the native kernels when compiled for a CPU and the Pallas
    kernels when lowered for a GPU (from the same trace)."""
    return None if backend is None else pick(op, backend)


def lookup(op: str, backend: str | None, operands: Sequence = (),
           params: Mapping | None = None) -> Callable:
    """The lowering of ``op`` on ``backend``; None: the default for the platform being
    lowered for (and the operands' avals and the op's params, for the ops whose choice
    depends on them)."""
    chosen = pick(op, operands=operands, params=params) if backend is None else backend
    return _IMPLS[(op, chosen)]


# The platform a primitive is being lowered for ("cpu", "cuda", ...). A kernel that must
# be built differently per platform reads it while it is traced: Pallas kernels run
# interpreted on CPU and as Triton kernels on GPUs, so one jitted function lowered for
# each platform gets the right one (the primitives register one lowering per platform).
_LOWERING_PLATFORM: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "jaxsparse_lowering_platform", default=None)


@contextlib.contextmanager
def lowering_for(platform: str | None) -> Iterator[None]:
    token = _LOWERING_PLATFORM.set(platform)
    try:
        yield
    finally:
        _LOWERING_PLATFORM.reset(token)


def lowering_platform() -> str:
    """The platform being lowered for, or the default backend outside a lowering."""
    return _LOWERING_PLATFORM.get() or jax.default_backend()
