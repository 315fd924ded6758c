"""Malformed input raises the right exception, naming the argument and the rule."""

from __future__ import annotations

import numpy as np
import pytest

import jaxsparse as js

I = np.array  # noqa: E741  (short for the tables below)


def csr(data=(1.0, 2.0), indices=(0, 1), indptr=(0, 1, 2), shape=(2, 2), **kw):
    return js.CSR.from_arrays(I(data), I(indices), I(indptr), shape=shape, **kw)


def csc(data=(1.0, 2.0), indices=(0, 1), indptr=(0, 1, 2), shape=(2, 2), **kw):
    return js.CSC.from_arrays(I(data), I(indices), I(indptr), shape=shape, **kw)


def bsr(data=None, indices=(0,), indptr=(0, 1, 1), shape=(4, 4), **kw):
    data = np.ones((1, 2, 2)) if data is None else data
    return js.BSR.from_arrays(data, I(indices), I(indptr), shape=shape, **kw)


CASES = [
    # compressed (CSR and CSC share the checks)
    ("indptr length", lambda: csr(indptr=(0, 2)), ValueError, r"indptr must have shape"),
    ("indptr[0]", lambda: csr(indptr=(1, 1, 2)), ValueError, r"indptr\[0\] must be 0"),
    ("decreasing", lambda: csr(indptr=(0, 2, 1)), ValueError, "indptr must be non-decreasing"),
    ("indptr[-1] > len", lambda: csr(indptr=(0, 1, 3)), ValueError,
     r"indptr\[-1\] \(3\) must be <= len\(indices\)"),
    ("len(data)", lambda: csr(data=(1.0,)), ValueError, "data and indices must have the same"),
    ("negative index", lambda: csr(indices=(0, -1)), ValueError,
     "indices must be non-negative"),
    ("index too big", lambda: csr(indices=(0, 2)), ValueError,
     r"indices must be < the number of columns \(2\)"),
    ("csc index too big", lambda: csc(indices=(0, 5)), ValueError,
     r"indices must be < the number of rows \(2\)"),
    ("float indices", lambda: csr(indices=(0.0, 1.0)), TypeError,
     "indices must have an integer dtype"),
    ("2-D indptr", lambda: csr(indptr=((0, 1, 2),)), ValueError, "indptr must be 1-D"),
    ("negative shape", lambda: csr(shape=(-1, 2)), ValueError, "shape must be non-negative"),
    ("rank 3", lambda: csr(shape=(2, 2, 2)), ValueError, "CSR shape must have 2 dimensions"),
    ("shape not ints", lambda: csr(shape=(2.5, 2)), TypeError,
     "shape must be a tuple of integers"),
    ("shape None", lambda: csr(shape=None), TypeError, "shape must be a tuple of integers"),
    ("object data", lambda: csr(data=I([1, "a"], dtype=object)), TypeError,
     "data must have a boolean, integer, floating or complex dtype, got object"),
    ("str data", lambda: csr(data=("a", "b")), TypeError, "data must have a boolean"),
    ("bad dtype=", lambda: csr(dtype=object), TypeError, "dtype must have a boolean"),
    # COO
    ("coo lengths", lambda: js.COO.from_arrays(I([1.0]), (I([0, 1]), I([0, 1])), shape=(2, 2)),
     ValueError, "row and data must have the same length"),
    ("coo col range", lambda: js.COO.from_arrays(I([1.0]), (I([0]), I([3])), shape=(2, 2)),
     ValueError, r"col must be < the number of columns \(2\)"),
    ("coo negative row", lambda: js.COO.from_arrays(I([1.0]), (I([-1]), I([0])), shape=(2, 2)),
     ValueError, "row must be non-negative"),
    ("coo coords count", lambda: js.COO.from_arrays(I([1.0]), (I([0]),), shape=(2, 2)),
     ValueError, "coords must hold one index array per dimension"),
    ("coo rank", lambda: js.COO.from_arrays(I([1.0]), (I([0]),) * 3, shape=(2, 2, 2)),
     ValueError, "COO shape must have 1 or 2 dimensions"),
    ("coo str data", lambda: js.COO.from_arrays(I(["x"]), (I([0]), I([0])), shape=(2, 2)),
     TypeError, "data must have a boolean"),
    ("coo float row", lambda: js.COO.from_arrays(I([1.0]), (I([0.5]), I([0])), shape=(2, 2)),
     TypeError, "row must have an integer dtype"),
    # DIA
    ("dia 1-D data", lambda: js.DIA.from_arrays(I([1.0, 2.0]), I([0]), shape=(2, 2)),
     ValueError, r"data must be 2-D \(n_diags, n_cols\)"),
    ("dia 2-D offsets", lambda: js.DIA.from_arrays(np.ones((1, 2)), I([[0]]), shape=(2, 2)),
     ValueError, "offsets must be 1-D"),
    ("dia float offsets", lambda: js.DIA.from_arrays(np.ones((1, 2)), I([0.5]), shape=(2, 2)),
     TypeError, "offsets must have an integer dtype"),
    ("dia duplicate offsets",
     lambda: js.DIA.from_arrays(np.ones((2, 2)), I([1, 1]), shape=(2, 2)),
     ValueError, "offsets must be unique"),
    ("dia rows != offsets", lambda: js.DIA.from_arrays(np.ones((2, 2)), I([0]), shape=(2, 2)),
     ValueError, "data must have one row per offset"),
    ("dia shape", lambda: js.DIA.from_arrays(np.ones((1, 2)), I([0]), shape=(2, -2)),
     ValueError, "shape must be non-negative"),
    ("dia object", lambda: js.DIA.from_arrays(np.full((1, 2), None), I([0]), shape=(2, 2)),
     TypeError, "data must have a boolean"),
    # BSR
    ("bsr 2-D data", lambda: bsr(data=np.ones((1, 4))), ValueError,
     r"data must be 3-D \(n_blocks, R, C\)"),
    ("bsr blocksize divides", lambda: bsr(data=np.ones((1, 3, 3))), ValueError,
     r"blocksize \(3, 3\) must divide the shape \(4, 4\)"),
    ("bsr blocksize mismatch", lambda: bsr(blocksize=(1, 2)), ValueError,
     "data blocks must have shape blocksize"),
    ("bsr blocksize type", lambda: bsr(blocksize=3), TypeError,
     "blocksize must be a pair of integers"),
    ("bsr indptr length", lambda: bsr(indptr=(0, 1)), ValueError,
     r"indptr must have shape \(n_block rows \+ 1,\) = \(3,\)"),
    ("bsr block column range", lambda: bsr(indices=(2,)), ValueError,
     r"indices must be < the number of block columns \(2\)"),
    ("bsr decreasing", lambda: bsr(indptr=(0, 1, 0)), ValueError,
     "indptr must be non-decreasing"),
    # from_scipy / fromdense
    ("from_scipy dense", lambda: js.CSR.from_scipy(np.eye(2)), TypeError,
     "matrix must be a scipy.sparse array"),
    ("dia from_scipy dense", lambda: js.DIA.from_scipy(np.eye(2)), TypeError,
     "matrix must be a scipy.sparse array"),
    ("bsr from_scipy dense", lambda: js.BSR.from_scipy(np.eye(2)), TypeError,
     "matrix must be a scipy.sparse array"),
    ("fromdense str", lambda: js.CSR.fromdense(I([["a"]])), TypeError, "dense must have"),
    ("fromdense 3-D", lambda: js.CSR.fromdense(np.ones((2, 2, 2))), ValueError,
     "must have 1 or 2 dimensions"),
    ("fromdense nse", lambda: js.COO.fromdense(np.eye(3), nse=1), ValueError,
     r"nse=1 is smaller than the number of nonzeros \(3\)"),
    ("bsr fromdense str", lambda: js.BSR.fromdense(I([["a"]])), TypeError,
     "dense must have"),
    ("bsr fromdense nse", lambda: js.BSR.fromdense(np.eye(4), blocksize=(2, 2), nse=1),
     ValueError, r"nse=1 is smaller than the number of nonzero blocks \(2\)"),
    ("eliminate_zeros nse", lambda: csr().eliminate_zeros(nse=-1), ValueError,
     "nse must be a non-negative int"),
]


@pytest.mark.parametrize("name, build, exc, match", CASES, ids=[c[0] for c in CASES])
def test_bad_input_raises(name, build, exc, match):
    with pytest.raises(exc, match=match):
        build()


def test_good_input_passes_every_check():
    """The same constructors accept the valid counterparts (so the checks are not vacuous)."""
    assert csr().nnz == 2 and csc().nnz == 2
    assert bsr().nnz == 4
    assert js.DIA.from_arrays(np.ones((2, 2)), I([1, -1]), shape=(2, 2)).nnz == 2
    assert js.COO.from_arrays(I([1.0]), (I([1]), I([1])), shape=(2, 2)).nnz == 1
    # SciPy's rule: indptr[-1] may be < len(indices); the tail is capacity.
    A = csr(data=(1.0, 2.0, 9.0), indices=(0, 1, 7), indptr=(0, 1, 2))
    assert A.nnz == 2 and A.capacity == 3
    # Empty index arrays of any dtype are fine (SciPy builds them as float sometimes).
    assert js.CSR.from_arrays(I([]), I([]), I([0, 0]), shape=(1, 3)).nnz == 0
