"""Module-level helpers of the drop-in, differential against SciPy 1.17."""

import jax
import numpy as np
import pytest
import scipy.sparse as ss
from _same import assert_same, assert_same_outcome

import jaxsparse.scipy_compat as sp

FORMATS = ["csr", "csc", "coo", "dia", "bsr"]

_D = np.array([[1, 0, 2, 0],
               [0, 0, 3, 0],
               [4, 5, 0, 0],
               [0, -1, 0, 6]])


def _dense(dtype):
    d = _D.astype(dtype)
    if np.dtype(dtype).kind == "c":
        d = d + 2j * (_D != 0)
    return d


def _pair(fmt, kind, dense):
    kw = dict(blocksize=(2, 2)) if fmt == "bsr" else {}
    return (getattr(sp, f"{fmt}_{kind}")(dense, **kw),
            getattr(ss, f"{fmt}_{kind}")(dense, **kw))


# float64 on every format and class; the other dtypes on a subset (compiles dominate
# the run time on small inputs).
GRID = [(f, k, np.float64) for f in FORMATS for k in ("array", "matrix")]
GRID += [(f, "array", d) for f in ("csr", "coo") for d in (np.complex128, np.int64)]
GRID_IDS = [f"{f}-{k}-{np.dtype(d).name}" for f, k, d in GRID]


@pytest.mark.parametrize(("fmt", "kind", "dtype"), GRID, ids=GRID_IDS)
def test_tril_triu_find(fmt, kind, dtype):
    ours, theirs = _pair(fmt, kind, _dense(dtype))
    for k in (0, 1, -1):
        for format in (None, "csr", "csc") if k == 0 else (None,):
            assert_same(sp.tril(ours, k, format=format), ss.tril(theirs, k, format=format))
            assert_same(sp.triu(ours, k, format=format), ss.triu(theirs, k, format=format))
    for got, want in zip(sp.find(ours), ss.find(theirs), strict=True):
        assert isinstance(got, np.ndarray)  # SciPy's type, not a device array
        np.testing.assert_array_equal(np.asarray(got), want)
        assert np.asarray(got).dtype == want.dtype


def test_tril_find_dense_and_duplicates():
    assert_same(sp.tril(_D), ss.tril(_D))
    for got, want in zip(sp.find(_D), ss.find(_D), strict=True):
        np.testing.assert_array_equal(np.asarray(got), want)
    args = (np.array([1.0, -1.0, 3.0, 0.0]), (np.array([0, 0, 1, 1]), np.array([1, 1, 0, 1])))
    ours, theirs = sp.coo_array(args, shape=(2, 2)), ss.coo_array(args, shape=(2, 2))
    for got, want in zip(sp.find(ours), ss.find(theirs), strict=True):  # 1 - 1 = 0 dropped
        np.testing.assert_array_equal(np.asarray(got), want)
    assert_same(sp.triu(ours), ss.triu(theirs))


def test_predicates():
    for fmt in FORMATS:
        a, am = getattr(sp, f"{fmt}_array")(_D), getattr(sp, f"{fmt}_matrix")(_D)
        s, sm = getattr(ss, f"{fmt}_array")(_D), getattr(ss, f"{fmt}_matrix")(_D)
        for x in (a, am, s, sm):
            assert sp.issparse(x)
        assert not sp.issparse(_D) and not sp.issparse(jax.numpy.ones(2))
        assert sp.isspmatrix(am) and sp.isspmatrix(sm)
        assert not sp.isspmatrix(a) and not sp.isspmatrix(s)
        for other in FORMATS:
            pred = getattr(sp, f"isspmatrix_{other}")
            ref = getattr(ss, f"isspmatrix_{other}")
            assert pred(am) == ref(sm) == (other == fmt)
            assert pred(a) == ref(s) is False
            assert pred(sm) == ref(sm)


@pytest.mark.parametrize(("fmt", "kind", "dtype"), GRID, ids=GRID_IDS)
def test_npz_interchange(tmp_path, fmt, kind, dtype):
    ours, theirs = _pair(fmt, kind, _dense(dtype))
    for compressed in (True, False):
        # ours -> SciPy
        path = tmp_path / f"ours_{compressed}.npz"
        sp.save_npz(path, ours, compressed=compressed)
        loaded = ss.load_npz(path)
        assert type(loaded) is type(theirs)
        np.testing.assert_array_equal(loaded.toarray(), theirs.toarray())
        with np.load(path) as ours_keys:
            keys_ours = sorted(ours_keys.files)
        # SciPy -> ours
        path2 = tmp_path / f"theirs_{compressed}.npz"
        ss.save_npz(path2, theirs, compressed=compressed)
        with np.load(path2) as theirs_keys:
            assert keys_ours == sorted(theirs_keys.files)
        assert_same(sp.load_npz(path2), theirs)
        assert_same(sp.load_npz(path), theirs)


def test_get_index_dtype():
    assert sp.get_index_dtype() == ss.get_index_dtype()
    big = 2**40
    assert sp.get_index_dtype(maxval=big) == ss.get_index_dtype(maxval=big)
    arr = np.array([1, 2], np.int64)
    for check in (False, True):
        assert (sp.get_index_dtype((jax.numpy.asarray(arr),), check_contents=check)
                == ss.get_index_dtype((arr,), check_contents=check))


@pytest.mark.parametrize("fmt", FORMATS)
def test_safely_cast_index_arrays(fmt):
    ours, theirs = _pair(fmt, "array", _D.astype(float))
    for idx_dtype in (np.int32, np.int64, np.int8):
        got = sp.safely_cast_index_arrays(ours, idx_dtype)
        want = ss.safely_cast_index_arrays(theirs, idx_dtype)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want, strict=True):
            assert np.asarray(g).dtype == w.dtype
            np.testing.assert_array_equal(np.asarray(g), w)
    wide = getattr(sp, f"{fmt}_array")(np.eye(200)[:, :200])
    wide_sp = getattr(ss, f"{fmt}_array")(np.eye(200)[:, :200])
    assert_same_outcome(lambda: sp.safely_cast_index_arrays(wide, np.int8, "tiny"),
                        lambda: ss.safely_cast_index_arrays(wide_sp, np.int8, "tiny"))


def test_axis_helpers():
    v, w = sp.coo_array(np.array([0.0, 3.0, 0.0, 4.0])), ss.coo_array(
        np.array([0.0, 3.0, 0.0, 4.0]))
    for axis in (0, 1, -1, -2):
        assert_same(sp.expand_dims(v, axis=axis), ss.expand_dims(w, axis=axis))
    assert_same_outcome(lambda: sp.expand_dims(v, axis=3),
                        lambda: ss.expand_dims(w, axis=3))
    for fmt in ("csr", "coo"):
        a, s = _pair(fmt, "array", _D.astype(float))
        # SciPy's permute_dims(copy=False) transposes a coo input in place, and so does
        # the drop-in (it is SciPy's function): both get a fresh copy here.
        assert_same(sp.permute_dims(a.copy()), ss.permute_dims(s.copy()))
        assert_same(sp.permute_dims(a, axes=(1, 0), copy=True),
                    ss.permute_dims(s, axes=(1, 0), copy=True))
        assert sp.permute_dims(a, axes=(0, 1)) is a
        assert_same(sp.swapaxes(a, 0, 1), ss.swapaxes(s, 0, 1))
        assert_same_outcome(lambda a=a: sp.swapaxes(a, 0, 2), lambda s=s: ss.swapaxes(s, 0, 2))
    # n-D COO arrays are SciPy's own, so 3-D results work as in SciPy
    assert_same(sp.expand_dims(sp.coo_array(_D), axis=0), ss.expand_dims(ss.coo_array(_D), axis=0))
