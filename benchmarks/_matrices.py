"""The benchmark matrices, built row range by row range with NumPy alone.

This module needs nothing but NumPy (1.24 or later) so that the PETSc side process, which
runs under the system Python with its own NumPy, builds exactly the same matrices as the
benchmark process: only the rows ``[start, stop)`` it owns, as CSR arrays with sorted,
distinct column indices. "Random" entries come from a fixed integer hash, not from a
NumPy generator whose stream could differ between NumPy versions.

- ``banded``: 11 diagonals (offsets -5..5), 10 on the diagonal, ``-1/|k|`` off it
  (symmetric, diagonally dominant).
- ``poisson2d``: the 5-point Laplacian on a ``k x k`` grid (``n = k*k``), 4 and -1.
- ``random``: 10 entries per row, one uniformly placed in each tenth of the columns,
  values uniform in [-1, 1).
"""

from __future__ import annotations

import math

import numpy as np

NAMES = ("banded", "poisson2d", "random")
FULL_ROWS = {"banded": 2_000_000, "poisson2d": 1400**2, "random": 1_000_000}
PER_ROW = 10  # entries per row of "random"
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def rows_at_scale(name: str, scale: float) -> int:
    """Number of rows of ``name`` at ``scale`` (1.0 = full size); Poisson stays square."""
    if name == "poisson2d":
        return grid_side(FULL_ROWS[name] * scale) ** 2
    return max(16, int(round(FULL_ROWS[name] * scale)))


def grid_side(n: float) -> int:
    return max(4, int(round(math.sqrt(n))))


def _mix(z: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser: a well-mixed uint64 hash of each uint64 (wrapping)."""
    z = z.astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (z + np.uint64(0x9E3779B97F4A7C15)) & _MASK64
        z = ((z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)) & _MASK64
        z = ((z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)) & _MASK64
    return z ^ (z >> np.uint64(31))


def uniform(keys: np.ndarray, seed: int) -> np.ndarray:
    """Deterministic float64 in [-1, 1) for each integer key."""
    z = _mix(keys.astype(np.uint64) * np.uint64(4) + np.uint64(seed))
    return (z >> np.uint64(11)).astype(np.float64) * 2.0**-52 - 1.0


def vector(n: int, seed: int = 1, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Entries ``[start, stop)`` of the deterministic test vector of length ``n``."""
    stop = n if stop is None else stop
    return uniform(np.arange(start, stop, dtype=np.int64), seed)


def _stencil(n: int, start: int, stop: int, offsets, valid, values):
    """CSR rows from per-row column offsets, a validity mask and the values."""
    rows = np.arange(start, stop, dtype=np.int64)[:, None]
    cols = rows + np.asarray(offsets, dtype=np.int64)[None, :]
    keep = valid(rows, cols) & (cols >= 0) & (cols < n)
    vals = np.broadcast_to(np.asarray(values, dtype=np.float64), cols.shape)
    indptr = np.zeros(stop - start + 1, dtype=np.int64)
    np.cumsum(keep.sum(axis=1), out=indptr[1:])
    return indptr, cols[keep], vals[keep]


def build_rows(name: str, n: int, start: int = 0, stop: int | None = None, dtype="float64"):
    """``(indptr, indices, data)`` of rows ``[start, stop)`` of matrix ``name`` (n rows).

    ``indptr`` starts at 0 (local), ``indices`` are global columns (int64), ``data`` has
    ``dtype``; complex matrices multiply the real values by ``1 + 0.5j``.
    """
    stop = n if stop is None else stop
    if name == "banded":
        offsets = np.arange(-5, 6)
        values = np.where(offsets == 0, 10.0, -1.0 / np.maximum(np.abs(offsets), 1))
        out = _stencil(n, start, stop, offsets, lambda r, c: np.ones_like(c, bool), values)
    elif name == "poisson2d":
        k = grid_side(n)
        if k * k != n:
            raise ValueError(f"poisson2d needs a square number of rows, got {n}")
        offsets = (-k, -1, 0, 1, k)
        same_line = lambda r, c: (c // k == r // k) | (np.abs(c - r) == k)  # noqa: E731
        out = _stencil(n, start, stop, offsets, same_line, (-1.0, -1.0, 4.0, -1.0, -1.0))
    elif name == "random":
        if n < PER_ROW:
            raise ValueError(f"random needs at least {PER_ROW} rows, got {n}")
        rows = np.arange(start, stop, dtype=np.int64)[:, None]
        edges = (np.arange(PER_ROW + 1, dtype=np.int64) * n) // PER_ROW
        keys = rows * PER_ROW + np.arange(PER_ROW, dtype=np.int64)[None, :]
        width = np.diff(edges)[None, :]
        cols = edges[None, :-1] + (_mix(keys) % width.astype(np.uint64)).astype(np.int64)
        indptr = np.arange(stop - start + 1, dtype=np.int64) * PER_ROW
        out = indptr, cols.ravel(), uniform(keys.ravel(), 7)
    else:
        raise ValueError(f"matrix must be one of {NAMES}, got {name!r}")
    indptr, indices, data = out
    if np.dtype(dtype).kind == "c":
        data = data * (1 + 0.5j)
    return indptr, indices, data.astype(dtype)


def ownership(n: int, size: int, rank: int) -> tuple[int, int]:
    """PETSc's default split of ``n`` rows over ``size`` ranks: ``[start, stop)``."""
    base, extra = divmod(n, size)
    start = rank * base + min(rank, extra)
    return start, start + base + (rank < extra)


def csr_bytes(nnz: int, n_rows: int, n_cols: int, itemsize: int, k: int = 1) -> int:
    """Bytes a CSR product with int32 indices must move at least, ``k`` right-hand sides:
    values and column indices once, ``indptr`` once, ``x`` read and ``y`` written once."""
    return nnz * (itemsize + 4) + 4 * (n_rows + 1) + itemsize * k * (n_rows + n_cols)
