"""Conformance of the drop-in classes with SciPy (in the spirit of SciPy's test_base.py).

One generic table of operations runs for every format (csr csc coo dia bsr), for the
``*_array`` and ``*_matrix`` classes, over float64, complex128, float32 and int64, on the
same small inputs given to SciPy and to the drop-in, and on a non-canonical float64
input: duplicate entries, explicit zeros, unsorted indices (for DIA: unsorted offsets,
an all-zero diagonal, values stored outside the matrix). Results must agree in kind
(sparse of the same format and class family, ``np.matrix``, dense array, scalar),
shape, dtype and values; sparse results also in structure (``nnz``, the stored arrays
in their order, explicit zeros included, and the canonical-format flags); the operands
must be left in the same state (SciPy canonicalizes some in place). Where SciPy raises,
the drop-in must raise the same exception type (or a subclass of it), AttributeError
included: a method SciPy's class lacks must be missing from the drop-in's too.

One test per (format, class, operation) runs every input, so a failure names the
input; the inputs are plain SciPy calls on the host, with no JAX compile.
"""

import os
import warnings

import numpy as np
import pytest
import scipy.sparse as ss

import jaxsparse.scipy_compat as sp
from jaxsparse.scipy_compat import _device
from jaxsparse.scipy_compat._classes import Containers as _spbase

FORMATS = ["csr", "csc", "coo", "dia", "bsr"]
KINDS = ["array", "matrix"]
DTYPES = [np.float64, np.complex128, np.float32, np.int64]
# The non-canonical input: built from the same dense matrices, on float64.
NONCANONICAL = "noncanonical"

_D = np.array([[1, 0, 2, 0, 0, -3],
               [0, 0, 3, 0, 0, 0],
               [4, 0, 0, 5, 0, 0],
               [0, -1, 0, 0, 0, 6]], dtype=np.float64)
_E = np.array([[0, 2, 0, 0, 1, 0],
               [0, 0, -3, 0, 0, 0],
               [4, 0, 0, 0, 0, 0],
               [0, 0, 0, 7, 0, 6]], dtype=np.float64)
_BLOCKSIZE = (2, 2)


def _dense(base, dtype):
    d = base.astype(dtype)
    if np.dtype(dtype).kind == "c":
        d = d + 1j * (base != 0) * np.arange(1, base.size + 1).reshape(base.shape)
    return d


def _noncanonical_coo(dense):
    """``(data, (row, col))`` summing to ``dense``: every third entry split into two
    duplicates, a stored zero at an empty position, a pair cancelling to zero at
    another, all in reverse row-major order (unsorted)."""
    row, col = np.nonzero(dense)
    data = dense[row, col]
    split = np.arange(len(data)) % 3 == 0
    empty = np.argwhere(dense == 0)
    (r0, c0), (r1, c1) = empty[0], empty[-1]
    row = np.concatenate([row, row[split], [r0, r1, r1]])
    col = np.concatenate([col, col[split], [c0, c1, c1]])
    data = np.concatenate([np.where(split, data - 1, data), np.ones(split.sum()),
                           [0, 2, -2]]).astype(dense.dtype)
    return data[::-1].copy(), (row[::-1].copy(), col[::-1].copy())


def _noncanonical_compressed(dense, fmt):
    """CSR/CSC arrays of :func:`_noncanonical_coo`'s entries: each row (column) keeps
    their unsorted order, duplicates and zeros."""
    data, (row, col) = _noncanonical_coo(dense)
    major, minor = (row, col) if fmt == "csr" else (col, row)
    order = np.argsort(major, kind="stable")
    n_major = dense.shape[0] if fmt == "csr" else dense.shape[1]
    indptr = np.concatenate([[0], np.cumsum(np.bincount(major, minlength=n_major))])
    return data[order], minor[order], indptr


def _noncanonical_bsr(dense):
    """BSR arrays summing to ``dense``: the blocks of each block row in reverse order,
    the first one split into two duplicates, plus a stored all-zero block."""
    ref = ss.bsr_array(dense, blocksize=_BLOCKSIZE)
    data, indices, indptr = [], [], [0]
    for i in range(len(ref.indptr) - 1):
        lo, hi = ref.indptr[i], ref.indptr[i + 1]
        blocks = list(zip(ref.indices[lo:hi][::-1], ref.data[lo:hi][::-1], strict=True))
        if blocks:
            j, b = blocks[0]
            ones = (b != 0).astype(b.dtype)
            blocks[0] = (j, b - ones)
            blocks += [(j, ones), (blocks[-1][0], np.zeros_like(b))]
        indices += [j for j, _ in blocks]
        data += [b for _, b in blocks]
        indptr.append(len(indices))
    return np.array(data), np.array(indices, dtype=np.int32), np.array(indptr, dtype=np.int32)


def _noncanonical_dia(dense):
    """DIA arrays of ``dense``: offsets in reverse order plus an all-zero diagonal, and
    a value stored in every slot outside the matrix (SciPy keeps and ignores them)."""
    m, n = dense.shape
    offsets = [k for k in range(n - 1, -m, -1) if np.diagonal(dense, k).any()]
    offsets.append(next(k for k in range(-m + 1, n) if k not in offsets))
    data = np.full((len(offsets), n), 99, dtype=dense.dtype)
    for i, k in enumerate(offsets):
        cols = np.arange(max(k, 0), min(m + k, n))
        data[i, cols] = dense[cols - k, cols]
    return data, np.array(offsets, dtype=np.int32)


def _make(lib, fmt, kind, dense, canonical=True):
    cls = getattr(lib, f"{fmt}_{kind}")
    kw = {"blocksize": _BLOCKSIZE} if fmt == "bsr" else {}
    if canonical:
        return cls(dense, **kw)
    arrays = {"coo": _noncanonical_coo, "dia": _noncanonical_dia,
              "bsr": _noncanonical_bsr}.get(fmt)
    arrays = arrays(dense) if arrays else _noncanonical_compressed(dense, fmt)
    return cls(arrays, shape=dense.shape, **kw)


class Case:
    """SciPy's operands ``S``, ``S2`` and the drop-in's ``A``, ``A2`` (of the dense
    ``D``, ``E``): for ``layout`` NONCANONICAL, built from the same non-canonical
    arrays (each object with its own copy: SciPy canonicalizes some in place)."""

    def __init__(self, fmt, kind, dtype, layout="canonical"):
        self.fmt, self.kind, self.dtype, self.layout = fmt, kind, np.dtype(dtype), layout
        self.D, self.E = _dense(_D, dtype), _dense(_E, dtype)
        canonical = layout != NONCANONICAL
        self.S = _make(ss, fmt, kind, self.D, canonical)
        self.A = _make(sp, fmt, kind, self.D, canonical)
        self.S2 = _make(ss, fmt, kind, self.E, canonical)
        self.A2 = _make(sp, fmt, kind, self.E, canonical)

    def __repr__(self):
        layout = "" if self.layout != NONCANONICAL else f" {NONCANONICAL}"
        return f"{self.fmt}_{self.kind}-{self.dtype}{layout}"


def _tol(dtype):
    return dict(rtol=1e-5, atol=1e-6) if np.dtype(dtype) in (np.float32, np.complex64) \
        else dict(rtol=1e-12, atol=1e-12)


# Fast paths first (NumPy's assert_* cost ~100 us a call, most of the grid's time);
# NumPy's assertion only runs to explain a failure.
def _assert_equal(ours, theirs, what):
    ours = np.asarray(ours)
    if not (ours.dtype == theirs.dtype and np.array_equal(ours, theirs)):
        assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
        np.testing.assert_array_equal(ours, theirs, err_msg=what, strict=True)


def _assert_close(ours, theirs, what, dtype):
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    if ours.shape == theirs.shape and (np.array_equal(ours, theirs) or (
            theirs.dtype.kind in "fc" and np.allclose(ours, theirs, equal_nan=True,
                                                      **_tol(dtype)))):
        return
    np.testing.assert_allclose(ours, theirs, err_msg=what, equal_nan=True, **_tol(dtype))


# The stored arrays that define a format's structure, and its canonical-format flags.
_STRUCTURE = {"csr": ("indices", "indptr"), "csc": ("indices", "indptr"),
              "bsr": ("indices", "indptr", "blocksize"), "coo": ("coords",),
              "dia": ("offsets",)}
_FLAGS = {"csr": ("has_canonical_format", "has_sorted_indices"),
          "csc": ("has_canonical_format", "has_sorted_indices"),
          "bsr": ("has_canonical_format", "has_sorted_indices"),
          "coo": ("has_canonical_format",), "dia": ()}


def assert_same_structure(ours, theirs, what=""):
    """Same stored entries in the same order (explicit zeros, duplicates and stored
    slots outside a DIA matrix included), index dtypes, and canonical-format flags."""
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
    assert ours.nnz == theirs.nnz, f"{what}: nnz {ours.nnz} != {theirs.nnz}"
    for name in _STRUCTURE[theirs.format]:
        o, t = getattr(ours, name), getattr(theirs, name)
        if name == "blocksize":
            assert o == t, f"{what}: blocksize {o} != {t}"
        elif name == "coords":
            assert len(o) == len(t), f"{what}: coords"
            for oc, tc in zip(o, t, strict=True):
                _assert_equal(oc, tc, f"{what}: coords")
        else:
            _assert_equal(o, t, f"{what}: {name}")
    assert ours.data.dtype == theirs.data.dtype, f"{what}: dtype"
    _assert_close(ours.data, theirs.data, f"{what}: data", theirs.dtype)
    for flag in _FLAGS[theirs.format]:
        assert getattr(ours, flag) == getattr(theirs, flag), f"{what}: {flag}"


def assert_same(ours, theirs, what=""):
    """Same kind of result (sparse format/class family, np.matrix, dense, scalar)."""
    if ss.issparse(theirs):
        assert isinstance(ours, _spbase), f"{what}: expected sparse, got {type(ours)}"
        assert ours.format == theirs.format, f"{what}: format {ours.format} != {theirs.format}"
        assert isinstance(ours, sp.spmatrix) == isinstance(theirs, ss.spmatrix), what
        assert isinstance(ours, sp.sparray) == isinstance(theirs, ss.sparray), what
        assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != {theirs.shape}"
        assert ours.dtype == theirs.dtype, f"{what}: dtype {ours.dtype} != {theirs.dtype}"
        _assert_close(ours.toarray(), theirs.toarray(), what, theirs.dtype)
        if theirs.format in _STRUCTURE:
            assert_same_structure(ours, theirs, what)
        return
    if isinstance(theirs, np.matrix):
        assert isinstance(ours, np.matrix), f"{what}: expected np.matrix, got {type(ours)}"
    if theirs is None or isinstance(theirs, str):
        assert ours == theirs, f"{what}: {ours!r} != {theirs!r}"
        return
    if isinstance(theirs, (bool, np.bool_)) and not isinstance(theirs, np.ndarray):
        assert bool(ours) == bool(theirs), what
        return
    if isinstance(theirs, tuple):
        assert len(ours) == len(theirs), what
        for o, t in zip(ours, theirs, strict=True):
            assert_same(o, t, what)
        return
    theirs_a = np.asarray(theirs)
    ours_a = np.asarray(ours)
    assert ours_a.shape == theirs_a.shape, f"{what}: shape {ours_a.shape} != {theirs_a.shape}"
    assert ours_a.dtype == theirs_a.dtype, f"{what}: dtype {ours_a.dtype} != {theirs_a.dtype}"
    _assert_close(ours_a, theirs_a, what, theirs_a.dtype)


def run_both(case, fn, what):
    """``fn`` on SciPy's operands and on the drop-in's: the same result (or exception
    type), the same SparseEfficiencyWarning, and the operands left in the same state."""
    with warnings.catch_warnings(record=True) as w_scipy:
        warnings.simplefilter("always")
        try:
            theirs = fn(ss, case.S, case.S2, case.D, case.E)
            err = None
        except Exception as e:  # noqa: BLE001 - compared by type below
            err = e
    with warnings.catch_warnings(record=True) as w_ours:
        warnings.simplefilter("always")
        if err is not None:
            try:
                ours = fn(sp, case.A, case.A2, case.D, case.E)
            except Exception as e:  # noqa: BLE001 - compared by type
                assert isinstance(e, type(err)), \
                    f"{what}: raised {type(e).__name__}({e}) where SciPy raises " \
                    f"{type(err).__name__}({err})"
            else:
                raise AssertionError(f"{what}: returned {type(ours).__name__} where SciPy "
                                     f"raises {type(err).__name__}({err})")
        else:
            ours = fn(sp, case.A, case.A2, case.D, case.E)
    if err is None:
        assert_same(ours, theirs, what)
    scipy_eff = any(issubclass(w.category, ss.SparseEfficiencyWarning) for w in w_scipy)
    ours_eff = any(issubclass(w.category, sp.SparseEfficiencyWarning) for w in w_ours)
    assert scipy_eff == ours_eff, f"{what}: SparseEfficiencyWarning {ours_eff} != {scipy_eff}"
    # Read without handing the arrays out, which would drop the drop-in's device copy.
    with _device.reading(case.A), _device.reading(case.A2):
        assert_same_structure(case.A, case.S, f"{what}: the operand after the call")
        assert_same_structure(case.A2, case.S2, f"{what}: the second operand after the call")


def _ufunc(name):
    return lambda lib, A, B, D, E: getattr(A, name)()


OPS = {
    # conversions and attributes
    "toarray": lambda lib, A, B, D, E: A.toarray(),
    "todense": lambda lib, A, B, D, E: A.todense(),
    "tocsr": lambda lib, A, B, D, E: A.tocsr(),
    "tocsc": lambda lib, A, B, D, E: A.tocsc(),
    "tocoo": lambda lib, A, B, D, E: A.tocoo(),
    "todia": lambda lib, A, B, D, E: A.todia(),
    "tobsr": lambda lib, A, B, D, E: A.tobsr(blocksize=(2, 2)),
    "asformat_csc": lambda lib, A, B, D, E: A.asformat("csc"),
    "copy": lambda lib, A, B, D, E: A.copy(),
    "astype_c128": lambda lib, A, B, D, E: A.astype(np.complex128),
    "astype_f32": lambda lib, A, B, D, E: A.astype(np.float32),
    "T": lambda lib, A, B, D, E: A.T,
    "transpose": lambda lib, A, B, D, E: A.transpose(),
    "conj": lambda lib, A, B, D, E: A.conj(),
    "conjugate": lambda lib, A, B, D, E: A.conjugate(),
    "real": lambda lib, A, B, D, E: A.real,
    "imag": lambda lib, A, B, D, E: A.imag,
    "nnz": lambda lib, A, B, D, E: A.nnz,
    "size": lambda lib, A, B, D, E: A.size,
    "ndim": lambda lib, A, B, D, E: A.ndim,
    "shape": lambda lib, A, B, D, E: A.shape,
    "data_mean": lambda lib, A, B, D, E: A.data.mean(),
    "data": lambda lib, A, B, D, E: A.data,
    "T_data": lambda lib, A, B, D, E: A.T.data,
    "tocsr_data": lambda lib, A, B, D, E: A.tocsr().data,
    "tocoo_data": lambda lib, A, B, D, E: A.tocoo().data,
    # arithmetic
    "neg": lambda lib, A, B, D, E: -A,
    "abs": lambda lib, A, B, D, E: abs(A),
    "add": lambda lib, A, B, D, E: A + B,
    "add_csr": lambda lib, A, B, D, E: A + B.tocsr(),
    "add_dense": lambda lib, A, B, D, E: A + E,
    "radd_dense": lambda lib, A, B, D, E: E + A,
    "add_zero": lambda lib, A, B, D, E: A + 0,
    "add_scalar": lambda lib, A, B, D, E: A + 1,
    "sub": lambda lib, A, B, D, E: A - B,
    "sub_dense": lambda lib, A, B, D, E: A - E,
    "rsub_dense": lambda lib, A, B, D, E: E - A,
    "mul_scalar": lambda lib, A, B, D, E: A * 3,
    "rmul_scalar": lambda lib, A, B, D, E: 2.5 * A,
    "mul_sparse": lambda lib, A, B, D, E: A * B if isinstance(A, lib.sparray) else A * B.T,
    "mul_dense": lambda lib, A, B, D, E: A * E if isinstance(A, lib.sparray) else A * E.T,
    "multiply": lambda lib, A, B, D, E: A.multiply(B),
    "multiply_dense": lambda lib, A, B, D, E: A.multiply(E),
    "multiply_scalar": lambda lib, A, B, D, E: A.multiply(2),
    "div_scalar": lambda lib, A, B, D, E: A / 2,
    "div_dense": lambda lib, A, B, D, E: A / (E + 10),
    "div_sparse": lambda lib, A, B, D, E: A / B,
    "matmul_vec": lambda lib, A, B, D, E: A @ np.arange(6.0),
    "matmul_mat": lambda lib, A, B, D, E: A @ np.ones((6, 2)),
    "matmul_sparse": lambda lib, A, B, D, E: A @ B.T,
    "matmul_csr": lambda lib, A, B, D, E: A @ B.T.tocsr(),
    "rmatmul": lambda lib, A, B, D, E: np.ones(4) @ A,
    "rmatmul_mat": lambda lib, A, B, D, E: np.ones((3, 4)) @ A,
    "dot": lambda lib, A, B, D, E: A.dot(np.ones(6)),
    "dot_sparse": lambda lib, A, B, D, E: A.dot(B.T),
    "matmul_scalar": lambda lib, A, B, D, E: A @ 2,
    "pow2": lambda lib, A, B, D, E: A ** 2 if isinstance(A, lib.sparray) else (A @ A.T) ** 2,
    "power": lambda lib, A, B, D, E: A.power(3),
    "power0": lambda lib, A, B, D, E: A.power(0),
    "maximum": lambda lib, A, B, D, E: A.maximum(B),
    "minimum": lambda lib, A, B, D, E: A.minimum(B),
    "maximum_scalar0": lambda lib, A, B, D, E: A.maximum(0),
    "minimum_scalar0": lambda lib, A, B, D, E: A.minimum(0),
    "maximum_dense": lambda lib, A, B, D, E: A.maximum(E),
    "round": lambda lib, A, B, D, E: round(A),
    # comparisons
    "eq": lambda lib, A, B, D, E: A == B,
    "ne": lambda lib, A, B, D, E: A != B,
    "lt": lambda lib, A, B, D, E: A < B,
    "gt": lambda lib, A, B, D, E: A > B,
    "le": lambda lib, A, B, D, E: A <= B,
    "ge": lambda lib, A, B, D, E: A >= B,
    "eq_0": lambda lib, A, B, D, E: A == 0,
    "ne_0": lambda lib, A, B, D, E: A != 0,
    "eq_2": lambda lib, A, B, D, E: A == 2,
    "gt_0": lambda lib, A, B, D, E: A > 0,
    "lt_0": lambda lib, A, B, D, E: A < 0,
    "lt_1": lambda lib, A, B, D, E: A < 1,
    "ge_1": lambda lib, A, B, D, E: A >= 1,
    "le_m1": lambda lib, A, B, D, E: A <= -1,
    "gt_dense": lambda lib, A, B, D, E: A > E,
    "eq_dense": lambda lib, A, B, D, E: A == E,
    # reductions
    "sum": lambda lib, A, B, D, E: A.sum(),
    "sum0": lambda lib, A, B, D, E: A.sum(axis=0),
    "sum1": lambda lib, A, B, D, E: A.sum(axis=1),
    "sum_neg": lambda lib, A, B, D, E: A.sum(axis=-1),
    "mean": lambda lib, A, B, D, E: A.mean(),
    "mean0": lambda lib, A, B, D, E: A.mean(axis=0),
    "mean1": lambda lib, A, B, D, E: A.mean(axis=1),
    "max": lambda lib, A, B, D, E: A.max(),
    "min": lambda lib, A, B, D, E: A.min(),
    "max0": lambda lib, A, B, D, E: A.max(axis=0),
    "min1": lambda lib, A, B, D, E: A.min(axis=1),
    "max_explicit": lambda lib, A, B, D, E: A.max(explicit=True),
    "nanmax": lambda lib, A, B, D, E: A.nanmax(),
    "nanmin1": lambda lib, A, B, D, E: A.nanmin(axis=1),
    "argmax": lambda lib, A, B, D, E: A.argmax(),
    "argmin": lambda lib, A, B, D, E: A.argmin(),
    "argmax0": lambda lib, A, B, D, E: A.argmax(axis=0),
    "argmin1": lambda lib, A, B, D, E: A.argmin(axis=1),
    "count_nonzero": lambda lib, A, B, D, E: A.count_nonzero(),
    "count_nonzero0": lambda lib, A, B, D, E: A.count_nonzero(axis=0),
    "nonzero": lambda lib, A, B, D, E: A.nonzero(),
    "diagonal": lambda lib, A, B, D, E: A.diagonal(),
    "diagonal_k": lambda lib, A, B, D, E: A.diagonal(k=2),
    "diagonal_mk": lambda lib, A, B, D, E: A.diagonal(-1),
    "trace": lambda lib, A, B, D, E: A.trace(),
    "trace_k": lambda lib, A, B, D, E: A.trace(offset=1),
    # structure
    "reshape": lambda lib, A, B, D, E: A.reshape((3, 8)),
    "reshape_F": lambda lib, A, B, D, E: A.reshape((8, 3), order="F"),
    "reshape_same": lambda lib, A, B, D, E: A.reshape(A.shape),
    "reshape_1d": lambda lib, A, B, D, E: A.reshape(24),
    "getnnz": lambda lib, A, B, D, E: A.getnnz() if hasattr(A, "getnnz") else A.nnz,
}
OPS.update({
    # attributes of every format (SciPy's AttributeError: the op is skipped for it)
    "format": lambda lib, A, B, D, E: A.format,
    "dtype": lambda lib, A, B, D, E: str(A.dtype),
    "indices": lambda lib, A, B, D, E: A.indices,
    "indptr": lambda lib, A, B, D, E: A.indptr,
    "row": lambda lib, A, B, D, E: A.row,
    "col": lambda lib, A, B, D, E: A.col,
    "coords": lambda lib, A, B, D, E: A.coords,
    "offsets": lambda lib, A, B, D, E: A.offsets,
    "blocksize": lambda lib, A, B, D, E: A.blocksize,
    "has_sorted_indices": lambda lib, A, B, D, E: A.has_sorted_indices,
    "has_canonical_format": lambda lib, A, B, D, E: A.has_canonical_format,
    "check_format": lambda lib, A, B, D, E: A.check_format(),
    "sorted_indices": lambda lib, A, B, D, E: A.sorted_indices(),
    "T_T": lambda lib, A, B, D, E: A.T.T,
    # constructors given a sparse object (the drop-in checks what users construct)
    "construct": lambda lib, A, B, D, E: getattr(lib, type(A).__name__)(A),
    "construct_copy": lambda lib, A, B, D, E: getattr(lib, type(A).__name__)(A, copy=True),
    "construct_csr": lambda lib, A, B, D, E: (
        lib.csr_array(A) if isinstance(A, lib.sparray) else lib.csr_matrix(A)),
    # indexing (dia and bsr: SciPy raises, so must we)
    "get_int": lambda lib, A, B, D, E: A[1],
    "get_scalar": lambda lib, A, B, D, E: A[2, 3],
    "get_zero": lambda lib, A, B, D, E: A[1, 1],
    "get_col": lambda lib, A, B, D, E: A[:, 2],
    "get_rows": lambda lib, A, B, D, E: A[1:3],
    "get_fancy": lambda lib, A, B, D, E: A[[0, 2, 2]],
    "get_sub": lambda lib, A, B, D, E: A[1:4, [0, 2, 5]],
    "get_inner": lambda lib, A, B, D, E: A[[0, 3], [5, 1]],
    "get_mask": lambda lib, A, B, D, E: A[np.abs(D) > 1],
    "get_ix": lambda lib, A, B, D, E: A[np.ix_([0, 3], [1, 2, 5])],
    # module functions on these operands
    "kron": lambda lib, A, B, D, E: lib.kron(A, B),
    "kron_csc": lambda lib, A, B, D, E: lib.kron(A, B.T, format="csc"),
    "kronsum": lambda lib, A, B, D, E: lib.kronsum(A @ B.T, A @ A.T),
    "hstack": lambda lib, A, B, D, E: lib.hstack([A, B]),
    "vstack": lambda lib, A, B, D, E: lib.vstack([A, B]),
    "vstack_coo": lambda lib, A, B, D, E: lib.vstack([A, B], format="coo"),
    "bmat": lambda lib, A, B, D, E: lib.bmat([[A, None], [None, B]]),
    "block_array": lambda lib, A, B, D, E: lib.block_array([[A, B]]),
    "block_diag": lambda lib, A, B, D, E: lib.block_diag([A, B]),
    "tril": lambda lib, A, B, D, E: lib.tril(A),
    "triu_k": lambda lib, A, B, D, E: lib.triu(A, k=1),
    "tril_csc": lambda lib, A, B, D, E: lib.tril(A, -1, format="csc"),
    "find": lambda lib, A, B, D, E: lib.find(A),
    "issparse": lambda lib, A, B, D, E: lib.issparse(A),
    "isspmatrix": lambda lib, A, B, D, E: lib.isspmatrix(A),
    "isspmatrix_format": lambda lib, A, B, D, E: getattr(lib, f"isspmatrix_{A.format}")(A),
    "permute_dims": lambda lib, A, B, D, E: lib.permute_dims(A, copy=True),
    "swapaxes": lambda lib, A, B, D, E: lib.swapaxes(A, 0, 1),
})
for _n in ("sin", "tan", "arcsin", "arctan", "sinh", "tanh", "arcsinh", "arctanh", "sqrt",
           "expm1", "log1p", "floor", "ceil", "trunc", "rint", "sign", "deg2rad",
           "rad2deg"):
    OPS[_n] = _ufunc(_n)


def _mutating(name, call):
    def fn(lib, A, B, D, E):
        A = A.copy()
        assert call(A) is None
        return A
    return fn


MUTATING = {
    "sum_duplicates": lambda A: A.sum_duplicates(),
    "eliminate_zeros": lambda A: A.eliminate_zeros(),
    "sort_indices": lambda A: A.sort_indices(),
    "prune": lambda A: A.prune(),
    "resize_small": lambda A: A.resize((3, 4)),
    "resize_big": lambda A: A.resize((6, 8)),
    "setdiag_scalar": lambda A: A.setdiag(7),
    "setdiag_vals": lambda A: A.setdiag(np.array([1, 2, 3]), k=1),
    "setdiag_neg": lambda A: A.setdiag(np.array([9, 8]), k=-1),
}
MUTATING.update({
    "set_scalar": lambda A: A.__setitem__((0, 1), 5),
    "set_existing": lambda A: A.__setitem__((2, 3), -7),
    "set_row": lambda A: A.__setitem__((1, slice(None)), 2),
    "set_fancy": lambda A: A.__setitem__(([0, 2], [1, 3]), [7, 8]),
    "set_mask": lambda A: A.__setitem__(np.eye(4, 6, dtype=bool), 9),
})
for _n, _c in MUTATING.items():
    OPS["mut_" + _n] = _mutating(_n, _c)


# The whole table runs on every (format, class), each test over every input of
# _inputs. JAXSPARSE_QUICK_CONFORMANCE=1 (for quick local iteration only) runs the whole
# table on csr_array and a representative subset elsewhere.
_FULL = os.environ.get("JAXSPARSE_QUICK_CONFORMANCE") != "1"
_SUBSET = {"toarray", "todense", "tocsr", "tocoo", "data", "data_mean", "T", "real",
           "imag", "neg", "abs", "add", "add_dense", "sub", "mul_scalar", "mul_sparse",
           "multiply", "div_scalar", "matmul_vec", "matmul_mat", "matmul_sparse",
           "rmatmul", "pow2", "maximum", "ne", "gt_0", "eq_0", "sum", "sum0", "mean1",
           "max0", "min", "argmax", "count_nonzero", "nonzero", "diagonal", "trace",
           "reshape", "sin", "sqrt", "floor", "sign", "mut_sum_duplicates",
           "mut_eliminate_zeros", "mut_setdiag_vals", "mut_resize_small", "nnz"}
_DTYPE_SUBSET = {"toarray", "data", "abs", "add", "multiply", "div_scalar", "matmul_vec",
                 "matmul_sparse", "sum0", "max0", "ne", "sin"}


# Ops whose behaviour does not depend on the dtype: checked on float64 only (the
# canonical and the non-canonical input).
_F64_ONLY = {"ndim", "shape", "reshape_same", "getnnz", "size", "nnz", "T", "transpose",
             "tobsr", "asformat_csc", "copy", "reshape_F", "mut_prune", "mut_sort_indices",
             "mut_resize_big", "diagonal_mk", "trace_k", "sum_neg", "format", "dtype",
             "indices", "indptr", "row", "col", "coords", "offsets", "blocksize",
             "has_sorted_indices", "has_canonical_format", "check_format", "issparse",
             "isspmatrix", "isspmatrix_format", "T_T"}


def _inputs(fmt, kind, name):
    """The inputs ``name`` runs on for (fmt, kind): (dtype, layout) pairs."""
    full = _FULL or (fmt == "csr" and kind == "array")
    if not full and name not in _SUBSET:
        return []
    out = [(np.float64, "canonical"), (np.float64, NONCANONICAL)]
    if name in _F64_ONLY or not (full or (kind == "array" and name in _DTYPE_SUBSET)):
        return out
    return out + [(dtype, "canonical") for dtype in DTYPES if dtype != np.float64]


def _grid():
    """(format, class, op) triples of the grid, chosen at collection (nothing skipped)."""
    for fmt in FORMATS:
        for kind in KINDS:
            for name in OPS:
                if _inputs(fmt, kind, name):
                    yield pytest.param(fmt, kind, name, id=f"{fmt}_{kind}-{name}")


# Canonical operands are shared between tests (each test checks that the op leaves the
# drop-in's operands as SciPy leaves its own). Non-canonical ones are built per test:
# SciPy canonicalizes some in place, and the next op must see them as built.
_CACHE = {}


def _case(fmt, kind, dtype, layout):
    if layout == NONCANONICAL:
        return Case(fmt, kind, dtype, layout)
    key = (fmt, kind, np.dtype(dtype))
    if key not in _CACHE:
        _CACHE[key] = Case(fmt, kind, dtype)
    return _CACHE[key]


@pytest.mark.parametrize("fmt, kind, name", list(_grid()))
def test_op(fmt, kind, name):
    """``name`` on every input of (fmt, kind); the failures of all inputs are reported."""
    errors = []
    for dtype, layout in _inputs(fmt, kind, name):
        case = _case(fmt, kind, dtype, layout)
        try:
            run_both(case, OPS[name], f"{case!r} {name}")
        except Exception as err:  # noqa: BLE001 - reported below, with the others
            errors.append(err)
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise ExceptionGroup(f"{fmt}_{kind} {name}: {len(errors)} inputs fail", errors)


@pytest.mark.parametrize("fmt", [*FORMATS, "lil", "dok"])
@pytest.mark.parametrize("kind", KINDS)
def test_no_methods_beyond_scipys(fmt, kind):
    """The drop-in's methods are SciPy's: where SciPy's class lacks one (DIA has no
    ``max``/``argmax``, COO no ``check_format``), the grid expects AttributeError from
    the drop-in too. A method added here would need its own test against an equivalent
    SciPy computation (e.g. the same method on a SciPy ``csr_array`` of the matrix)."""
    ours, theirs = getattr(sp, f"{fmt}_{kind}"), getattr(ss, f"{fmt}_{kind}")

    def methods(cls):
        return {n for n in dir(cls) if not n.startswith("_") and callable(getattr(cls, n))}

    assert methods(ours) - methods(theirs) == set()
