"""``load_npz`` on hostile files: the core ``jaxsparse.load_npz`` and the drop-in's.

Each crafted file breaks one rule; both loaders must refuse it with a ValueError or
TypeError naming the array at fault, quickly, without unpickling and without allocating
anything the size of a claimed shape. Valid files load to what SciPy loads.
"""

import time

import numpy as np
import pytest
import scipy.sparse as ss

import jaxsparse as js
import jaxsparse.scipy_compat as sp

UNPICKLED = []


def _record_unpickling():
    UNPICKLED.append(True)
    return "payload"


class _Payload:
    """Unpickling this object runs ``_record_unpickling``: proof that a loader unpickled."""

    def __reduce__(self):
        return (_record_unpickling, ())


def _csr_arrays(**override):
    arrays = dict(format=np.array("csr"), shape=np.array([3, 4]),
                  data=np.array([1.0, 2.0, 3.0]), indices=np.array([0, 3, 1], np.int32),
                  indptr=np.array([0, 1, 2, 3], np.int32), _is_array=np.array(True))
    arrays.update(override)
    return {k: v for k, v in arrays.items() if v is not None}


def _save(tmp_path, **arrays):
    path = tmp_path / "m.npz"
    np.savez(path, **arrays)
    return path


def _core(path):
    return js.load_npz(path)


def _dropin(path):
    return sp.load_npz(path)


LOADERS = pytest.mark.parametrize("load", [_core, _dropin], ids=["core", "dropin"])


def _dense(m):
    return np.asarray(m.todense() if hasattr(m, "todense") else m.toarray())


@LOADERS
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "bsr"])
@pytest.mark.parametrize("kind", ["array", "matrix"])
def test_valid_files_load_as_scipy_does(tmp_path, load, fmt, kind):
    rng = np.random.default_rng(0)
    dense = rng.random((4, 6)) * (rng.random((4, 6)) < 0.4)
    ref = getattr(ss, f"{fmt}_{kind}")(dense) if fmt != "bsr" else \
        getattr(ss, f"bsr_{kind}")(dense, blocksize=(2, 3))
    path = tmp_path / "m.npz"
    ss.save_npz(path, ref)
    ours = load(path)
    theirs = ss.load_npz(path)
    assert ours.shape == theirs.shape
    np.testing.assert_array_equal(_dense(ours), theirs.toarray())
    assert ours.format_name if load is _core else ours.format == fmt
    if load is _dropin:
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.dtype == theirs.dtype


@LOADERS
@pytest.mark.parametrize("name", ["data", "indices", "indptr", "shape"])
def test_object_arrays_are_refused_never_unpickled(tmp_path, load, name):
    UNPICKLED.clear()
    bad = np.array([_Payload(), 1, 2, 3][: 2 if name == "shape" else 3 + (name == "indptr")],
                   dtype=object)
    path = _save(tmp_path, **_csr_arrays(**{name: bad}))
    with pytest.raises(ValueError, match=rf"'{name}'.*object"):
        load(path)
    assert UNPICKLED == []


# (override of the valid CSR file, exception, words the message must contain)
BAD_CSR = {
    "indptr too short": (dict(indptr=np.array([0, 1, 3])), ValueError, "indptr"),
    "indptr too long": (dict(indptr=np.array([0, 1, 2, 3, 3])), ValueError, "indptr"),
    "indptr decreasing": (dict(indptr=np.array([0, 2, 1, 3])), ValueError,
                          "non-decreasing"),
    "indptr[0] not 0": (dict(indptr=np.array([1, 1, 2, 3])), ValueError, "indptr"),
    "indptr past indices": (dict(indptr=np.array([0, 1, 2, 9])), ValueError, "indptr"),
    "data shorter": (dict(data=np.array([1.0, 2.0])), ValueError, "data"),
    "indices out of range": (dict(indices=np.array([0, 4, 1])), ValueError, "indices"),
    "negative indices": (dict(indices=np.array([0, -1, 1])), ValueError, "indices"),
    "float indices": (dict(indices=np.array([0.0, 3.0, 1.0])), TypeError, "indices"),
    "NaN indices": (dict(indices=np.array([0.0, np.nan, 1.0])), TypeError, "indices"),
    "float indptr": (dict(indptr=np.array([0.0, 1.0, 2.0, 3.0])), TypeError, "indptr"),
    "2-D indices": (dict(indices=np.array([[0, 3, 1]])), ValueError, "indices"),
    "unknown format": (dict(format=np.array("lol")), ValueError, "format"),
    "format not a string": (dict(format=np.array(3)), ValueError, "format"),
    "no format": (dict(format=None), ValueError, "format"),
    "no indices": (dict(indices=None), ValueError, "indices"),
    "negative shape": (dict(shape=np.array([-3, 4])), ValueError, "shape"),
    "3-D shape": (dict(shape=np.array([3, 4, 1])), ValueError, "shape"),
    "float shape": (dict(shape=np.array([3.0, 4.0])), TypeError, "shape"),
    "string data": (dict(data=np.array(["a", "b", "c"])), TypeError, "data"),
    # the claimed shape cannot be backed: indptr would need 10**12 + 1 entries
    "huge rows": (dict(shape=np.array([10**12, 5])), ValueError, "indptr"),
    "huge columns, indices out of range": (
        dict(shape=np.array([3, 2]), indices=np.array([0, 2**40, 1])), ValueError,
        "indices"),
}


@LOADERS
@pytest.mark.parametrize("case", list(BAD_CSR))
def test_bad_csr_files_are_refused_naming_the_array(tmp_path, load, case):
    override, exc, word = BAD_CSR[case]
    path = _save(tmp_path, **_csr_arrays(**override))
    start = time.perf_counter()
    with pytest.raises(exc, match=word):
        load(path)
    assert time.perf_counter() - start < 5  # refused before any shape-sized work


def test_scipy_loader_would_trust_out_of_range_indices(tmp_path):
    """Why the drop-in does not forward to SciPy's ``load_npz``: SciPy accepts this file
    (its compiled code would then read past the end of the row)."""
    path = _save(tmp_path, **_csr_arrays(indices=np.array([0, 10**6, 1])))
    assert ss.load_npz(path).nnz == 3
    with pytest.raises(ValueError, match="indices"):
        sp.load_npz(path)


BAD_OTHER = {
    "coo row out of range": (dict(format=np.array("coo"), row=np.array([0, 3]),
                                  col=np.array([0, 1]), data=np.ones(2)), ValueError, "row"),
    "coo col negative": (dict(format=np.array("coo"), row=np.array([0, 1]),
                              col=np.array([0, -1]), data=np.ones(2)), ValueError, "col"),
    "coo lengths differ": (dict(format=np.array("coo"), row=np.array([0, 1, 2]),
                                col=np.array([0, 1]), data=np.ones(2)), ValueError, "row"),
    "coo float coords": (dict(format=np.array("coo"), coords=np.array([[0.0], [1.0]]),
                              data=np.ones(1)), TypeError, "coords"),
    "coo NaN row": (dict(format=np.array("coo"), row=np.array([np.nan]),
                         col=np.array([0]), data=np.ones(1)), TypeError, "row"),
    "coo 3 coords for 2-D": (dict(format=np.array("coo"), coords=np.zeros((3, 1), int),
                                  data=np.ones(1)), ValueError, "coords"),
    "dia offsets float": (dict(format=np.array("dia"), data=np.ones((1, 4)),
                               offsets=np.array([0.5])), TypeError, "offsets"),
    "dia offsets repeated": (dict(format=np.array("dia"), data=np.ones((2, 4)),
                                  offsets=np.array([1, 1])), ValueError, "offsets"),
    "dia one data row short": (dict(format=np.array("dia"), data=np.ones((1, 4)),
                                    offsets=np.array([0, 1])), ValueError, "offset"),
    "bsr 2-D data": (dict(format=np.array("bsr"), data=np.ones((3, 1))), ValueError, "data"),
    "bsr blocks do not divide": (dict(format=np.array("bsr"), data=np.ones((3, 2, 3)),
                                      indptr=np.array([0, 3])), ValueError, "blocksize"),
}


@LOADERS
@pytest.mark.parametrize("case", list(BAD_OTHER))
def test_bad_coo_dia_bsr_files_are_refused(tmp_path, load, case):
    override, exc, word = BAD_OTHER[case]
    arrays = _csr_arrays(**override)
    if arrays["format"].item() in ("coo", "dia"):
        for name in ("indices", "indptr"):
            if name not in override:
                arrays.pop(name)
    path = _save(tmp_path, **arrays)
    with pytest.raises(exc, match=word):
        load(path)


@LOADERS
def test_not_an_npz_file(tmp_path, load):
    garbage = tmp_path / "g.npz"
    garbage.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(ValueError, match="npz"):
        load(garbage)
    single = tmp_path / "a.npy"
    np.save(single, np.arange(3))
    with pytest.raises(ValueError, match="npz"):
        load(single)


def test_dia_claiming_a_huge_width_is_refused_before_allocating(tmp_path):
    """SciPy keeps a narrow DIA ``data`` as it is (so the drop-in loads this file); the
    core pads ``data`` to ``n_cols`` columns, and refuses a width no memory can hold."""
    arrays = dict(format=np.array("dia"), shape=np.array([2**40, 2**40]),
                  data=np.ones((1, 3)), offsets=np.array([0]), _is_array=np.array(True))
    path = _save(tmp_path, **arrays)
    loaded = sp.load_npz(path)
    assert loaded.shape == (2**40, 2**40) and loaded.nnz == 3
    start = time.perf_counter()
    with pytest.raises(ValueError, match="columns.*memory"):
        js.load_npz(path)
    assert time.perf_counter() - start < 5


@LOADERS
def test_huge_shape_backed_by_few_entries_loads(tmp_path, load):
    """A (3, 2**40) CSR holds 3 entries and a 4-entry indptr: nothing shape-sized."""
    path = tmp_path / "m.npz"
    ss.save_npz(path, ss.csr_array((np.ones(3), np.array([0, 2**40 - 1, 5]),
                                    np.array([0, 1, 2, 3])), shape=(3, 2**40)))
    out = load(path)
    assert out.shape == (3, 2**40)
    assert int(out.indices.max()) == 2**40 - 1
    assert np.dtype(out.indices.dtype) == np.int64
