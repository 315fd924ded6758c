"""``spsolve_triangular`` in JAX: block forward (backward) substitution over CSR rows.

A sparse triangular solve is a recurrence: row ``r`` needs the solution at every column
its off-diagonal entries name. A row-at-a-time loop pays a compiled loop iteration per row
(measured ~5 us on CPU: 70x SciPy at n = 1e5). Instead one ``lax.fori_loop`` walks blocks
of ``_BLOCK`` rows in dependency order: the entries that reach already solved blocks are
a gather and a scatter-add into the block's right-hand side, the entries inside the block
form a small dense triangular tile solved at once. Each block reads its entries
``_CHUNK`` at a time in an inner ``lax.while_loop`` bounded by ``indptr``, so a block with
long rows costs a few reads and no block is padded to the largest. Nothing is planned on
the host, so the matrix itself may be traced (``jit`` over ``A`` and ``b``).

Gradients come from ``lax.custom_linear_solve``: the transposed solve is the same sweep on
the CSR arrays of ``Aᵀ`` (the CSC arrays of ``A``), in the opposite direction.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax

from ..formats import CSR
from ..formats._structure import stored_pattern
from ..ops._dtypes import as_dense
from ..ops._reference import csr_row_ids
from ._direct import as_core, is_traced

_BLOCK = 64  # rows solved per step, through a dense triangular tile of this size
_CHUNK = 256  # entries a step reads at once: long blocks take a few reads, none is padded


def spsolve_triangular(
    A: Any,
    b: Any,
    lower: bool = True,
    overwrite_A: bool = False,
    overwrite_b: bool = False,
    unit_diagonal: bool = False,
) -> jax.Array:
    """Solve ``A x = b`` for a lower (``lower=True``) or upper triangular ``A``, in JAX.

    ``A`` is any jaxsparse or SciPy sparse matrix (CSR/CSC natively; other formats are
    converted with SciPy's ``SparseEfficiencyWarning``) or a dense 2-D array (solved with
    :func:`jax.scipy.linalg.solve_triangular`). ``b`` is ``(n,)`` or ``(n, k)``. The result
    dtype is SciPy's: ``result_type(A.dtype, float32, b.dtype)``. Works under ``jit``,
    ``vmap`` and ``grad`` (with respect to ``b`` and to ``A``'s values).

    The sweep is sequential in blocks of 64 rows (each solved with a dense 64 x 64 tile);
    on one CPU it measured 2-4x SciPy's time at n = 1e5 (``benchmarks/bench_triangular.py``).

    Stricter than SciPy, which documents ``LinAlgError`` for a singular or non-triangular
    ``A`` but only checks the diagonal (and returns an undefined result for entries on the
    wrong side): on a concrete ``A`` we raise ``LinAlgError`` for a zero or missing diagonal
    entry (unless ``unit_diagonal``) and for a nonzero entry on the wrong side of the
    diagonal. Under ``jit`` nothing can be raised: wrong-side entries are ignored and a zero
    diagonal gives ``inf``/``nan``. ``overwrite_*`` are accepted and ignored (JAX arrays are
    immutable). With ``unit_diagonal`` the stored diagonal is ignored, as in SciPy.

    SciPy equivalent: ``scipy.sparse.linalg.spsolve_triangular``.
    """
    del overwrite_A, overwrite_b
    b = as_dense(b, "b")
    csr = _as_csr(A)
    (n, m), a_dtype = (csr.shape, csr.dtype) if csr is not None else (A.shape, A.dtype)
    if n != m:
        raise ValueError(f"A must be a square matrix, got shape {(n, m)}")
    if b.ndim not in (1, 2) or b.shape[0] != n:
        raise ValueError(f"b must have shape ({n},) or ({n}, k), got {b.shape}")
    # NumPy's promotion, as SciPy's (JAX's lattice gives int64 with float32 -> float32)
    dtype = np.promote_types(np.promote_types(a_dtype, np.float32), b.dtype)
    b = b.astype(dtype)
    if csr is None:
        a = jnp.asarray(A, dtype)
        return jax.scipy.linalg.solve_triangular(a, b, lower=lower, unit_diagonal=unit_diagonal)
    csr = csr.astype(dtype)
    if not is_traced(csr):
        _check_triangular(csr, lower, unit_diagonal)
    return _solve(csr, b, lower, unit_diagonal)


def _as_csr(A: Any) -> CSR | None:
    """``A`` as a core CSR (``None`` for dense input), warning as SciPy does for formats
    other than CSR/CSC."""
    import warnings

    from scipy.sparse import SparseEfficiencyWarning

    core = as_core(A)
    if core is None:
        if isinstance(A, jax.Array | np.ndarray):
            if jnp.ndim(A) == 2:
                return None
            raise ValueError(f"A must be 2-D, got shape {jnp.shape(A)}")  # SciPy: ValueError
        raise TypeError(f"A must be a sparse matrix or a dense 2-D array, got {type(A).__name__}")
    if core.kernel_layout != "csr":  # CSR or CSC
        warnings.warn(
            "CSC or CSR matrix format is required. Converting to CSR matrix.",
            SparseEfficiencyWarning,
            stacklevel=3,
        )
    return core.tocsr()


def _check_triangular(csr: CSR, lower: bool, unit_diagonal: bool) -> None:
    """SciPy's documented contract, checked on the host for a concrete matrix."""
    from numpy.linalg import LinAlgError

    rows, cols = stored_pattern(np.asarray(csr.indptr), np.asarray(csr.indices))
    vals = np.asarray(csr.data)[: rows.size]
    wrong = ((cols > rows) if lower else (cols < rows)) & (vals != 0)
    if wrong.any():
        i = int(np.argmax(wrong))
        side = "above" if lower else "below"
        raise LinAlgError(
            f"A is not {'lower' if lower else 'upper'} triangular: entry "
            f"({rows[i]}, {cols[i]}) is {side} the diagonal"
        )
    if unit_diagonal:
        return
    on_diagonal = cols == rows
    diagonal = np.zeros(csr.shape[0], vals.dtype)
    np.add.at(diagonal, rows[on_diagonal], vals[on_diagonal])  # duplicates add, as in SciPy
    if np.any(diagonal == 0):
        raise LinAlgError("A is singular: zero entry on diagonal.")


@partial(jax.jit, static_argnames=("lower", "unit_diagonal"))
def _solve(csr: CSR, b: jax.Array, lower: bool, unit_diagonal: bool) -> jax.Array:
    csc = csr.tocsc()  # its arrays are the CSR arrays of Aᵀ: the transposed sweep's input

    def matvec(x):
        return _triangle_product(csr, x, lower, unit_diagonal)

    def solve(_, rhs):
        return _sweep(csr.indptr, csr.indices, csr.data, rhs, lower, unit_diagonal)

    def transpose_solve(_, rhs):
        return _sweep(csc.indptr, csc.indices, csc.data, rhs, not lower, unit_diagonal)

    return lax.custom_linear_solve(matvec, b, solve, transpose_solve)


def _triangle_product(csr: CSR, x: jax.Array, lower: bool, unit_diagonal: bool) -> jax.Array:
    """``T @ x`` for the triangle the solve uses: wrong-side entries dropped and, with
    ``unit_diagonal``, the diagonal replaced by ones."""
    rows = csr_row_ids(csr.indptr, csr.data.shape[0])
    cols = csr.indices
    kept = (cols <= rows) if lower else (cols >= rows)
    if unit_diagonal:
        kept &= cols != rows
    y = csr.with_data(jnp.where(kept, csr.data, 0)) @ x
    return y + x if unit_diagonal else y


def _sweep(indptr, indices, data, b, lower: bool, unit_diagonal: bool) -> jax.Array:
    """Block substitution over the rows of the CSR arrays, first block first when ``lower``.

    Each step solves ``_BLOCK`` rows: it subtracts the entries that reach solved blocks from
    the block's right-hand side, gathers the entries inside the block into a dense
    ``_BLOCK x _BLOCK`` triangular tile (a transient scratch, never the matrix) and solves
    the tile with one dense triangular solve.
    """
    n = b.shape[0]
    if n == 0:
        return b
    block = min(_BLOCK, n)
    n_blocks = -(-n // block)
    padded = n_blocks * block
    rhs_shape = b.shape[1:]
    expand = (slice(None),) + (None,) * len(rhs_shape)
    rows = csr_row_ids(indptr, data.shape[0])
    # rows past n (the last block's padding) have no entries and a unit diagonal
    indptr = jnp.concatenate([indptr, jnp.full(padded - n, indptr[-1], indptr.dtype)])
    b = jnp.zeros((padded, *rhs_shape), b.dtype).at[:n].set(b)
    padding_diagonal = jnp.diag(jnp.arange(block) >= n - (n_blocks - 1) * block)
    offsets = jnp.arange(_CHUNK)

    def block_step(step, x):
        index = step if lower else n_blocks - 1 - step
        first = index * block
        end = indptr[first + block]

        def read_chunk(state):
            start, rhs, tile = state
            pos = start + offsets
            valid = pos < end
            pos = jnp.where(valid, pos, 0)
            cols, vals, local = indices[pos], data[pos], rows[pos] - first
            solved = valid & ((cols < first) if lower else (cols >= first + block))
            in_tile = valid & (cols >= first) & (cols < first + block)
            in_tile &= (cols - first <= local) if lower else (cols - first >= local)
            terms = jnp.where(solved[expand], vals[expand] * x[jnp.where(solved, cols, 0)], 0)
            rhs = rhs.at[jnp.where(solved, local, 0)].add(-terms)
            tile = tile.at[jnp.where(in_tile, local, 0), jnp.where(in_tile, cols - first, 0)].add(
                jnp.where(in_tile, vals, 0)
            )
            return start + _CHUNK, rhs, tile

        rhs = lax.dynamic_slice_in_dim(b, first, block)
        tile = jnp.zeros((block, block), data.dtype)
        _, rhs, tile = lax.while_loop(
            lambda state: state[0] < end, read_chunk, (indptr[first], rhs, tile)
        )
        if not unit_diagonal:
            last = index == n_blocks - 1
            tile = tile + jnp.where(last, padding_diagonal, 0).astype(tile.dtype)
        solution = jax.scipy.linalg.solve_triangular(
            tile, rhs, lower=lower, unit_diagonal=unit_diagonal
        )
        return lax.dynamic_update_slice_in_dim(x, solution, first, axis=0)

    return lax.fori_loop(0, n_blocks, block_step, jnp.zeros_like(b))[:n]
