"""The one place that maps (op, backend) to a lowering.

Kernels register implementations here; primitives look them up when they are lowered,
so adding the "pallas" (GPU) or "native" (CPU FFI) backend never touches a caller, and
``jit``/``grad``/``vmap`` behave the same on every backend (autodiff and batching live on
the primitives, not in the backends).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import jax

BACKENDS = ("xla", "pallas", "native")

# Which backends to try, in order, when the caller passes ``backend=None``.
_PREFERENCE = {"gpu": ("pallas", "xla"), "cuda": ("pallas", "xla"), "cpu": ("native", "xla")}

# Per-op exceptions to _PREFERENCE, each measured (benchmarks/bench_spmv.py): on CPU,
# XLA fuses DIA's shifted multiply-adds into one vectorised, multi-threaded loop that
# ran 1.4-2x faster than the native DIA kernel (n = 2e6, 11 diagonals, and 2-D Poisson).
_OP_PREFERENCE = {("dia_matmul", "cpu"): ("xla", "native")}

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


def pick(op: str, backend: str | None = None) -> str:
    """Resolve ``backend`` for ``op``: validate an explicit choice, or pick the default."""
    if backend is None:
        platform = jax.default_backend()
        order = _OP_PREFERENCE.get((op, platform)) or _PREFERENCE.get(platform, ("xla",))
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


def lookup(op: str, backend: str) -> Callable:
    return _IMPLS[(op, backend)]
