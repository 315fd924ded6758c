"""The drop-in's routing thresholds: stored entries from which work runs on JAX.

Measured on the project's 2-core CPU machine (docs/dropin.md, benchmarks/bench_dropin.py):

- products (``A @ x`` with a NumPy ``x``): SciPy's single-threaded kernel beats the
  device route's fixed costs (the operand copied in, the result out, JAX's dispatch)
  below about 2e6 stored entries of a random pattern;
- solvers and eigensolvers (``sp.linalg``): one call runs tens to hundreds of products,
  so JAX's compiled loop is 1.6-2.8x faster than SciPy warm from 5e4 entries; the
  first call of a shape also pays a compile (~0.5 s), which a single solve repays from
  about 1e6 entries (CG on a 2-D Poisson grid, 300 iterations).

Each can be set per process (``set_*``) or by environment variable; 0 sends all such
work to JAX, a huge value all to SciPy.
"""

from __future__ import annotations

import os

import numpy as np

# os.environ.get encodes the name and decodes the value on every call: 0.7 us, paid by
# every small drop-in product (whose whole overhead over SciPy is about 3 us). On POSIX,
# os.environ keeps the encoded pairs in a dict that every change through os.environ
# updates (os._Environ._data), so a threshold reads that dict with its encoded name.
_ENVIRON_BYTES = getattr(os.environ, "_data", None) if os.name == "posix" else None


class Threshold:
    """A non-negative integer setting: a process value, else an environment variable,
    else the measured default."""

    def __init__(self, env: str, default: int):
        self.env, self.default = env, default
        self.value: int | None = None
        self._key = os.fsencode(env)
        self._parsed: tuple[str | bytes | None, int | None] = (None, None)

    def get(self) -> int:
        if self.value is not None:
            return self.value
        if _ENVIRON_BYTES is not None:
            raw = _ENVIRON_BYTES.get(self._key)
        else:  # pragma: no cover - not POSIX
            raw = os.environ.get(self.env)
        if raw is None:
            return self.default
        if raw != self._parsed[0]:  # parsed once per value: this is on the hot path
            self._parsed = (raw, self._parse(os.fsdecode(raw)))
        return self._parsed[1]

    def set(self, value: int | None) -> None:
        if value is not None and (not isinstance(value, int | np.integer) or value < 0):
            raise ValueError(f"value must be a non-negative integer or None, got {value!r}")
        self.value = None if value is None else int(value)

    def _parse(self, raw: str) -> int:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{self.env} must be an integer, got {raw!r}") from None
        if value < 0:
            raise ValueError(f"{self.env} must be >= 0, got {value}")
        return value


PRODUCT = Threshold("JAXSPARSE_DEVICE_MIN_NNZ", 2_000_000)
SOLVER = Threshold("JAXSPARSE_SOLVER_MIN_NNZ", 1_000_000)


def device_min_nnz() -> int:
    """Stored entries from which a product with a NumPy operand runs on the device."""
    return PRODUCT.get()


def set_device_min_nnz(value: int | None) -> None:
    """Set :func:`device_min_nnz` for this process (``None``: the environment variable
    ``JAXSPARSE_DEVICE_MIN_NNZ`` or the default, 2e6)."""
    PRODUCT.set(value)


def solver_min_nnz() -> int:
    """Stored entries from which a ``sp.linalg`` call on NumPy data runs on JAX."""
    return SOLVER.get()


def set_solver_min_nnz(value: int | None) -> None:
    """Set :func:`solver_min_nnz` for this process (``None``: the environment variable
    ``JAXSPARSE_SOLVER_MIN_NNZ`` or the default, 1e6)."""
    SOLVER.set(value)
