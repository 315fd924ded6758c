"""Shared assertion for the differential tests of the drop-in against SciPy."""

import numpy as np
import scipy.sparse as ss

from jaxsparse.scipy_compat._classes import Containers as _spbase


def assert_same(ours, theirs, *, structure=True):
    """``ours`` (drop-in result) equals ``theirs`` (SciPy's result on the same input):
    class name, shape, dtype, values, and (``structure``) the stored arrays and order."""
    if ss.issparse(theirs):
        assert isinstance(ours, _spbase), f"expected a drop-in sparse result, got {type(ours)}"
        assert type(ours).__name__ == type(theirs).__name__
        assert ours.shape == theirs.shape
        assert ours.dtype == theirs.dtype
        np.testing.assert_array_equal(host_dense(ours), theirs.toarray())
        if structure:
            assert ours.nnz == theirs.nnz
            if theirs.format == "dia":  # out-of-band slots: SciPy keeps garbage, we 0
                assert np.shape(ours.data) == theirs.data.shape
            else:
                np.testing.assert_array_equal(np.asarray(ours.data), theirs.data)
            fields = {"coo": ("coords",), "dia": ("offsets",)}.get(
                theirs.format, ("indices", "indptr"))
            for f in fields:
                a, b = getattr(ours, f), getattr(theirs, f)
                if f == "coords":
                    assert len(a) == len(b)
                    for x, y in zip(a, b, strict=True):
                        np.testing.assert_array_equal(np.asarray(x), y)
                else:
                    np.testing.assert_array_equal(np.asarray(a), b)
            if theirs.format == "bsr":
                assert ours.blocksize == theirs.blocksize
        return
    assert not isinstance(ours, _spbase), f"expected a dense result, got {type(ours)}"
    if isinstance(theirs, np.matrix):
        assert isinstance(ours, np.matrix), f"expected np.matrix, got {type(ours)}"
    got = np.asarray(ours)
    want = np.asarray(theirs)
    assert got.shape == want.shape
    assert got.dtype == want.dtype, (got.dtype, want.dtype)
    np.testing.assert_array_equal(got, want)


def host_dense(A):
    """``A``'s dense values computed on the host from its public arrays (cheaper than
    ``A.toarray()`` in tests: no XLA compile per shape)."""
    fmt = A.format
    data = np.asarray(A.data)
    if fmt == "coo":
        coords = tuple(np.asarray(c) for c in A.coords)
        return ss.coo_array((data, coords), shape=A.shape).toarray()
    if fmt == "dia":
        return ss.dia_array((data, np.asarray(A.offsets)), shape=A.shape).toarray()
    args = (data, np.asarray(A.indices), np.asarray(A.indptr))
    if fmt == "bsr":
        return ss.bsr_array(args, shape=A.shape, blocksize=A.blocksize).toarray()
    return getattr(ss, f"{fmt}_array")(args, shape=A.shape).toarray()


def outcome(fn):
    """``fn()``'s result, or the exception it raised."""
    try:
        return fn()
    except Exception as err:  # noqa: BLE001 - compared by type below
        return err


def assert_same_outcome(ours_fn, theirs_fn, **kw):
    theirs = outcome(theirs_fn)
    ours = outcome(ours_fn)
    if isinstance(theirs, Exception):
        assert isinstance(ours, Exception), f"SciPy raised {theirs!r}, ours returned {ours!r}"
        assert type(ours) is type(theirs) or isinstance(ours, type(theirs)), (ours, theirs)
        return
    if isinstance(ours, Exception):
        raise ours
    assert_same(ours, theirs, **kw)
