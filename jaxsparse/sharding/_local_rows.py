"""Sharded matrices whose rows live on several processes.

``from_local_rows``: each process passes only its own contiguous rows, and no process
ever holds the whole matrix. One exchange of row counts (``n`` integers) gives every
process the same balanced contiguous row partition; rows move between processes only
where that partition's shard boundaries cut across the processes' spans (an all-gather
of the moving rows, so each process briefly holds every moving row: a few rows for a
balanced input, up to the rows that must change hands otherwise). One exchange of halo
requests, and of per-shard counts, makes every process build the same plan, with the
same padded capacities (so every process compiles the same program), and the blocks
of its own shards only; they are placed with ``make_array_from_process_local_data``.

``shard_on_processes``: ``shard`` when every process holds the same whole matrix (what
an unmodified SciPy program does): the same plan on every process, each building only
its own shards' blocks.
"""

from __future__ import annotations

import jax
import numpy as np
import scipy.sparse as sps

from ..distributed import allgather, check_mesh
from ._placement import RowSource, axis_size, build_and_place, canonical_scipy
from ._plan import HALO_METHODS, LOCAL_FORMATS, plan_layouts
from ._sharded import ShardedCSR


def process_shards(mesh: jax.sharding.Mesh, axis: str) -> np.ndarray:
    """The shards (positions along ``axis``) whose devices belong to this process,
    sorted: the order ``make_array_from_process_local_data`` expects its blocks in.
    Every process calls it: a mesh that leaves a process out, or differs between
    processes, is refused here (``check_mesh``), before any collective of the matrix."""
    check_mesh(mesh, agree=True)
    position = mesh.axis_names.index(axis)
    me = jax.process_index()
    mine = {idx[position] for idx in np.ndindex(mesh.devices.shape)
            if mesh.devices[idx].process_index == me}
    return np.array(sorted(mine), dtype=np.int64)


def _entries(S, row_offset: int, keep):
    """``(row, col, value)`` of the CSR matrix ``S``'s entries, rows shifted by
    ``row_offset`` to global numbering, filtered by the row predicate ``keep``."""
    rows = np.repeat(np.arange(S.shape[0], dtype=np.int64) + row_offset, np.diff(S.indptr))
    cols, vals = S.indices.astype(np.int64), S.data
    mask = keep(rows)
    return rows[mask], cols[mask], vals[mask]


def shard_on_processes(S, mesh, axis, *, halo="auto", like=None,
                       local_format="auto") -> ShardedCSR:
    """``shard`` with the whole matrix ``S`` (canonical SciPy CSR) on every process."""
    D = axis_size(mesh, axis)
    rows, cols, permuted = plan_layouts(np.diff(S.indptr), S.shape, D,
                                        like=None if like is None else like.plan)
    return build_and_place(RowSource(S), S.shape, mesh, axis, rows, cols, permuted,
                           shards=process_shards(mesh, axis), halo=halo,
                           local_format=local_format, dtype=S.dtype, gather=allgather)


def from_local_rows(local_rows, *, row_start: int, shape: tuple[int, int],
                    mesh: jax.sharding.Mesh, axis: str = "x", halo: str = "auto",
                    local_format: str = "auto") -> ShardedCSR:
    """A :class:`ShardedCSR` over ``mesh[axis]`` from each process's own rows.

    Args:
        local_rows: this process's rows ``row_start, ..., row_start + k - 1`` as a
            SciPy sparse matrix or jaxsparse format of shape ``(k, shape[1])``, with
            global column indices. The processes' spans must tile ``[0, shape[0])``.
        row_start: the global index of this process's first row.
        shape: the global shape.
        mesh, axis, halo, local_format: as for :func:`jaxsparse.sharding.shard`.

    Every process of the run must call it (it exchanges row counts and halo
    requests); with one process it is ``shard(local_rows, ...)``.

    Example:
        >>> A_mine = build_my_rows(start, stop)        # (stop - start, n), global columns
        >>> As = js.sharding.from_local_rows(A_mine, row_start=start, shape=(n, n),
        ...                                  mesh=mesh, axis="x")
    """
    if halo not in HALO_METHODS:
        raise ValueError(f"halo must be one of {HALO_METHODS}, got {halo!r}")
    if local_format not in LOCAL_FORMATS:
        raise ValueError(f"local_format must be one of {LOCAL_FORMATS}, got {local_format!r}")
    n, m = _check_shape(shape)
    S = canonical_scipy(local_rows)
    if S.shape[1] != m:
        raise ValueError(f"local_rows must have shape[1] columns ({m}), got {S.shape}")
    row_start = int(row_start)
    if row_start < 0 or row_start + S.shape[0] > n:
        raise ValueError(f"rows [{row_start}, {row_start + S.shape[0]}) of local_rows are "
                         f"outside the matrix's {n} rows (row_start={row_start})")
    D = axis_size(mesh, axis)
    spans = np.stack(allgather(np.array([row_start, S.shape[0]], dtype=np.int64)))
    _check_spans(spans, n)
    row_nnz = np.zeros(n, dtype=np.int64)  # n integers: the one exchange of counts
    for (start, k), counts in zip(spans, allgather(np.diff(S.indptr).astype(np.int64)),
                                  strict=True):
        row_nnz[start:start + k] = counts
    rows, cols, permuted = plan_layouts(row_nnz, (n, m), D, contiguous=True)
    mine = process_shards(mesh, axis)
    owned = np.isin(rows.locate(np.arange(n))[0], mine)  # this process's rows after balancing
    stay = _entries(S, row_start, lambda g: owned[g])
    leave = _entries(S, row_start, lambda g: ~owned[g])
    arrive = [_entries_from(parts, owned) for parts in zip(
        allgather(leave[0]), allgather(leave[1]), allgather(leave[2]), strict=True)]
    r, c, v = (np.concatenate([stay[k], *(a[k] for a in arrive)]) for k in range(3))
    # This process's rows as one CSR matrix from its first owned row (the shards it
    # builds read row ranges of it).
    span = np.flatnonzero(owned)
    first, last = (int(span[0]), int(span[-1]) + 1) if span.size else (0, 0)
    mine_csr = sps.csr_array((v, (r - first, c)), shape=(last - first, m))
    mine_csr.sum_duplicates()
    return build_and_place(RowSource(mine_csr, first), (n, m), mesh, axis, rows, cols,
                           permuted, shards=mine, halo=halo, local_format=local_format,
                           dtype=S.dtype, gather=allgather)


def _entries_from(parts, owned):
    """The entries another process sent that belong to this one."""
    r, c, v = parts
    keep = owned[r]
    return r[keep], c[keep], v[keep]


def _check_shape(shape) -> tuple[int, int]:
    if len(tuple(shape)) != 2 or any(int(d) < 0 for d in shape):
        raise ValueError(f"shape must be two non-negative sizes, got {shape!r}")
    return int(shape[0]), int(shape[1])


def _check_spans(spans: np.ndarray, n: int) -> None:
    """The processes' ``(row_start, rows)`` spans tile ``[0, n)`` exactly."""
    order = np.argsort(spans[:, 0], kind="stable")
    starts, counts = spans[order, 0], spans[order, 1]
    ends = starts + counts
    if starts[0] != 0 or ends[-1] != n or np.any(starts[1:] != ends[:-1]):
        described = ", ".join(f"process {p}: [{a}, {a + k})"
                              for p, (a, k) in enumerate(spans.tolist()))
        raise ValueError("the processes' local_rows must tile the rows [0, "
                         f"{n}) without gaps or overlaps (row_start), got {described}")
