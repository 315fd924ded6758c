"""Indexing and item assignment of the drop-in, differential against SciPy 1.17.

Every key is applied to the same matrix under SciPy and under the drop-in; results must
agree in class, shape, dtype, values, stored arrays and order (or both must raise the
same exception type). Assignment is checked the same way, warnings included.
"""

import warnings

import jax
import numpy as np
import pytest
import scipy.sparse as ss
from _same import assert_same, assert_same_outcome

import jaxsparse.scipy_compat as sp

DTYPES = [np.float64, np.complex128, np.int64]

_BASE = np.array([[1, 0, 2, 0, 0, -3],
                  [0, 0, 3, 0, 0, 0],
                  [4, 0, 0, 5, 0, 0],
                  [0, -1, 0, 0, 0, 6],
                  [0, 0, 0, 0, 0, 0]])


def _dense(dtype):
    d = _BASE.astype(dtype)
    if np.dtype(dtype).kind == "c":
        d = d + 1j * (_BASE != 0) * np.arange(_BASE.size).reshape(_BASE.shape)
    return d


def _pair(fmt, kind, dtype, dense=None):
    dense = _dense(dtype) if dense is None else dense
    return getattr(sp, f"{fmt}_{kind}")(dense), getattr(ss, f"{fmt}_{kind}")(dense)


KEYS = {
    "int": 1, "neg_int": -2, "tuple_int": (1,), "scalar": (2, 3), "scalar_zero": (4, 4),
    "scalar_neg": (-1, -1), "row_slice": slice(1, 4), "step_slice": slice(None, None, 2),
    "neg_step": slice(None, None, -1), "col": (slice(None), 2), "row": (3, slice(None)),
    "row_partial": (0, slice(1, 5, 2)), "col_partial": (slice(4, 0, -2), 5),
    "sub": (slice(1, 3), [0, 2]), "sub2": ([0, 2, 3], slice(1, None)),
    "fancy_rows": [0, 2, 2], "fancy_np": np.array([3, 0]), "inner": ([0, 2], [2, 3]),
    "inner_neg": ([-1, 0], [0, -1]), "outer_ix": np.ix_([0, 3], [1, 2, 5]),
    "bool_rows": np.array([True, False, True, False, True]),
    "bool_cols": (slice(None), np.array([1, 0, 1, 0, 0, 1], bool)),
    "bool_list": [True, False, False, True, False], "ellipsis": (Ellipsis, 1),
    "ellipsis_only": Ellipsis, "newaxis": (None, 1), "int_array_2d": np.array([[0, 1], [2, 3]]),
    "int_x_array": (1, [0, 2, 5]), "array_x_int": ([1, 3], 5), "empty_list": ([],),
    "full": (slice(None), slice(None)), "jax_rows": jax.numpy.array([0, 3]),
    "oob_row": 5, "oob_col": (0, 6), "oob_neg": (-6, 0), "oob_fancy": ([0, 9],),
    "too_many": (0, 0, 0), "bad_bool": np.array([True, False]), "float_key": 1.5,
}


@pytest.mark.parametrize("key", list(KEYS), ids=list(KEYS))
@pytest.mark.parametrize("kind", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_getitem_float64(fmt, kind, key):
    ours, theirs = _pair(fmt, kind, np.float64)
    k = KEYS[key]
    assert_same_outcome(lambda: ours[k], lambda: theirs[np.asarray(k) if isinstance(
        k, jax.Array) else k])


_SOME = ["int", "scalar", "scalar_zero", "col", "sub", "inner", "outer_ix", "bool_rows",
         "step_slice", "newaxis"]


@pytest.mark.parametrize("dtype", [np.complex128, np.int64], ids=["c128", "i64"])
@pytest.mark.parametrize("kind", ["array", "matrix"])
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo"])
def test_getitem_dtypes(fmt, kind, dtype):
    ours, theirs = _pair(fmt, kind, dtype)
    for key in _SOME:
        assert_same_outcome(lambda k=KEYS[key]: ours[k], lambda k=KEYS[key]: theirs[k])


# coo_array (not coo_matrix) supports indexing in SciPy 1.17: tested with the others above
@pytest.mark.parametrize(
    "fmt, kind",
    [("coo", "matrix"), ("dia", "array"), ("dia", "matrix"), ("bsr", "array"), ("bsr", "matrix")],
)
def test_unsupported_formats_raise_like_scipy(fmt, kind):
    ours, theirs = _pair(fmt, kind, np.float64)
    for key in [1, (0, 0), slice(0, 2)]:
        assert_same_outcome(lambda k=key: ours[k], lambda k=key: theirs[k])

        def set_ours(k=key):
            ours[k] = 1

        def set_theirs(k=key):
            theirs[k] = 1

        assert_same_outcome(set_ours, set_theirs)


def test_getitem_1d_coo():
    v = np.array([0.0, 2.0, 0.0, -1.0, 5.0])
    ours, theirs = sp.coo_array(v), ss.coo_array(v)
    for key in [1, 3, -1, slice(1, 4), slice(None, None, -2), [0, 3, 3], (Ellipsis,),
                np.array([True, False, True, True, False]), (None, slice(None)), 7]:
        assert_same_outcome(lambda k=key: ours[k], lambda k=key: theirs[k])


def test_getitem_row_is_1d_coo_array_and_matrix_stays_2d():
    a = sp.csr_array(_dense(np.float64))
    m = sp.csr_matrix(_dense(np.float64))
    assert type(a[3]) is sp.coo_array and a[3].shape == (6,)
    assert type(a[:, 4]) is sp.coo_array and a[:, 4].shape == (5,)
    assert type(m[3]) is sp.csr_matrix and m[3].shape == (1, 6)
    assert type(m[:, 4]) is sp.csr_matrix and m[:, 4].shape == (5, 1)


def test_getitem_with_duplicates_and_unsorted_indices():
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    indices = np.array([2, 0, 2, 1, 1])
    indptr = np.array([0, 3, 3, 5])
    ours = sp.csr_array((data, indices, indptr), shape=(3, 3))
    theirs = ss.csr_array((data, indices, indptr), shape=(3, 3))
    for key in [(0, 2), (2, 1), 0, (slice(None), 2), ([0, 2], [2, 1]), slice(0, 2),
                ([2, 0],), np.ix_([0, 2], [1, 2])]:
        t = theirs.copy()
        assert_same_outcome(lambda k=key: ours[k], lambda k=key, t=t: t[k], structure=False)


def test_getitem_keeps_explicit_zeros_and_gives_host_arrays():
    ours = sp.csr_array((np.array([0.0, 2.0]), np.array([0, 1]), np.array([0, 2, 2])),
                        shape=(2, 2))
    theirs = ss.csr_array((np.array([0.0, 2.0]), np.array([0, 1]), np.array([0, 2, 2])),
                          shape=(2, 2))
    assert_same(ours[0:1], theirs[0:1])
    assert isinstance(ours[0:1].data, np.ndarray) and ours[0:1].data.flags.writeable
    assert type(ours[0, 1]) is type(theirs[0, 1])


def test_getitem_under_jit_raises():
    A = sp.csr_array(_dense(np.float64))
    with pytest.raises(TypeError, match="jit"):
        jax.jit(lambda M: M[0, 0])(A)


# -- assignment ------------------------------------------------------------------------

ASSIGNMENTS = {
    "existing_scalar": ((0, 0), 7),
    "new_scalar": ((4, 4), 9),
    "zero_existing": ((0, 2), 0),
    "zero_missing": ((1, 1), 0),
    "row_scalar": (1, 5),
    "row_zero": (2, 0),
    "col_array": ((slice(None), 1), [1, 0, 2, 0, 3]),
    "sub_block": ((slice(1, 3), [0, 2]), [[5, 6], [7, 0]]),
    "fancy_inner": (([0, 4], [5, 0]), [8, 9]),
    "bool_rows": (np.array([True, False, False, True, False]), 2),
    "step_slice": ((slice(None, None, 2), slice(1, None, 3)), 4),
    "neg_index": ((-1, -2), 3),
    "sparse_value": ((slice(0, 2), slice(0, 2)), "sparse"),
    "broadcast_row": ((slice(0, 3), slice(0, 2)), [[1, 2]]),
    "oob": ((5, 0), 1),
    "bad_shape": ((slice(0, 2), slice(0, 2)), [1, 2, 3]),
    "sequence_to_item": ((0, 0), [1, 2]),
}


def _value(v, lib, dtype, kind):
    if isinstance(v, str):
        dense = np.array([[0, 3], [4, 0]], dtype=dtype)
        return getattr(lib, f"csr_{kind}")(dense)
    return v


_FMT_KINDS = ["csr_array", "csc_array", "csr_matrix", "csc_matrix", "coo_array"]
# every case in float64; the other dtypes on the cases where values matter most
SET_GRID = [(fk, c, np.float64) for fk in _FMT_KINDS for c in ASSIGNMENTS]
SET_GRID += [(fk, c, d) for fk in ("csr_array", "coo_array")
             for c in ("new_scalar", "sub_block", "sparse_value", "row_zero")
             for d in (np.complex128, np.int64)]


@pytest.mark.parametrize(("fmt_kind", "case", "dtype"), SET_GRID,
                         ids=[f"{a}-{b}-{np.dtype(c).name}" for a, b, c in SET_GRID])
def test_setitem(fmt_kind, case, dtype):
    fmt, kind = fmt_kind.split("_")
    ours, theirs = _pair(fmt, kind, dtype)
    key, value = ASSIGNMENTS[case]

    def run(A, lib):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            A[key] = _value(value, lib, dtype, kind)
        return [w.category.__name__ for w in caught]

    theirs_out = outcome_warn(lambda: run(theirs, ss))
    ours_out = outcome_warn(lambda: run(ours, sp))
    if isinstance(theirs_out, Exception):
        assert type(ours_out) is type(theirs_out), (ours_out, theirs_out)
        return
    if isinstance(ours_out, Exception):
        raise ours_out
    assert ours_out == theirs_out  # same warnings (SparseEfficiencyWarning or none)
    assert_same(ours, theirs)


def outcome_warn(fn):
    try:
        return fn()
    except Exception as err:  # noqa: BLE001
        return err


def test_setitem_warning_is_ours():
    A = sp.csr_array(_dense(np.float64))
    with pytest.warns(sp.SparseEfficiencyWarning, match="sparsity structure"):
        A[4, 4] = 1.0
    assert float(A[4, 4]) == 1.0


def test_setitem_1d_coo():
    v = np.array([0.0, 2.0, 0.0, -1.0, 5.0])
    ours, theirs = sp.coo_array(v), ss.coo_array(v)
    for key, val in [(0, 3.0), (1, 0.0), (slice(2, 4), [7.0, 8.0]), ([4, 0], 1.5)]:
        ours[key] = val
        theirs[key] = val
        assert_same(ours, theirs)


def test_setitem_under_jit_raises():
    A = sp.csr_array(_dense(np.float64))

    def f(M):
        M[0, 0] = 1.0
        return M

    with pytest.raises(TypeError, match="jit"):
        jax.jit(f)(A)
