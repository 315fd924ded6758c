"""Constructors of the drop-in, differential against SciPy 1.17 on the same inputs."""

import numpy as np
import pytest
import scipy.sparse as ss
from _same import assert_same, assert_same_outcome

import jaxsparse.scipy_compat as sp

FORMATS = ["csr", "csc", "coo", "dia", "bsr"]
OUT_FORMATS = [None, "csr", "csc", "coo", "dia", "bsr"]

_A = np.array([[1, 0, 2, 0],
               [0, 0, 3, 0],
               [4, 5, 0, 0],
               [0, 0, 0, 6]])
_B = np.array([[0, 7],
               [8, 0],
               [0, 9],
               [1, 0]])


def _dense(base, dtype):
    d = base.astype(dtype)
    if np.dtype(dtype).kind == "c":
        d = d - 1j * (base != 0) * np.arange(base.size).reshape(base.shape)
    return d


def _pair(fmt, kind, dense):
    if fmt == "bsr":
        return (getattr(sp, f"bsr_{kind}")(dense, blocksize=(2, 2)),
                getattr(ss, f"bsr_{kind}")(dense, blocksize=(2, 2)))
    return getattr(sp, f"{fmt}_{kind}")(dense), getattr(ss, f"{fmt}_{kind}")(dense)


# -- no sparse input: SciPy builds, we convert ---------------------------------------


@pytest.mark.parametrize("format", OUT_FORMATS)
def test_eye_identity(format):
    assert_same(sp.eye(4, 5, k=1, format=format), ss.eye(4, 5, k=1, format=format))
    assert_same(sp.eye(3, dtype=np.int64, format=format),
                ss.eye(3, dtype=np.int64, format=format))
    assert_same(sp.eye_array(4, 3, k=-1, dtype=complex, format=format),
                ss.eye_array(4, 3, k=-1, dtype=complex, format=format))
    assert_same(sp.identity(4, format=format), ss.identity(4, format=format))


def test_eye_defaults_are_scipys():
    assert type(sp.eye(3)) is sp.dia_matrix
    assert type(sp.eye_array(3)) is sp.dia_array
    assert type(sp.identity(3)) is sp.dia_matrix
    assert sp.eye(3).dtype == np.float64


@pytest.mark.parametrize("format", [None, "csr", "coo"])
def test_diags(format):
    diagonals = [[1, 2, 3], [4, 5], [6.5, 7]]
    offsets = [0, 1, -1]
    assert_same(sp.diags(diagonals, offsets, format=format),
                ss.diags(diagonals, offsets, format=format))
    assert_same(sp.diags_array(diagonals, offsets=offsets, format=format),
                ss.diags_array(diagonals, offsets=offsets, format=format))
    assert_same(sp.diags([1j, 2], [0, 2], shape=(3, 4), format=format, dtype=complex),
                ss.diags([1j, 2], [0, 2], shape=(3, 4), format=format, dtype=complex))
    assert_same(sp.diags_array([1, 2, 3], dtype=np.int64, format=format),
                ss.diags_array([1, 2, 3], dtype=np.int64, format=format))
    data = np.array([[1, 2, 3, 4], [5, 6, 7, 8]])
    assert_same(sp.spdiags(data, [0, -1], 4, 4, format=format),
                ss.spdiags(data, [0, -1], 4, 4, format=format))
    assert_same_outcome(lambda: sp.diags([[1, 2], [3]], [0, 0]),
                        lambda: ss.diags([[1, 2], [3]], [0, 0]))


@pytest.mark.parametrize("format", ["coo", "csr", "csc", "dia"])
def test_random_draws_match_scipy(format):
    for kw in [dict(rng=3), dict(random_state=4), dict(rng=np.random.default_rng(5)),
               dict(dtype=np.float32, rng=6), dict(rng=7, data_rvs=np.ones)]:
        kw2 = {k: (np.random.default_rng(5) if k == "rng" and not isinstance(v, int)
                   else v) for k, v in kw.items()}
        ours = sp.random(6, 5, density=0.3, format=format, **kw)
        theirs = ss.random(6, 5, density=0.3, format=format, **kw2)
        assert_same(ours, theirs)
    assert_same(sp.random(4, 4, 0.5, format, None, 11), ss.random(4, 4, 0.5, format, None, 11))
    assert_same(sp.rand(5, 3, density=0.4, format=format, rng=8),
                ss.rand(5, 3, density=0.4, format=format, rng=8))
    assert_same(sp.random_array((3, 7), density=0.5, format=format, rng=9),
                ss.random_array((3, 7), density=0.5, format=format, rng=9))
    np.random.seed(12)
    ours = sp.random(5, 5, density=0.4, format=format)
    np.random.seed(12)
    assert_same(ours, ss.random(5, 5, density=0.4, format=format))


def test_random_array_1d_and_classes():
    assert_same(sp.random_array((8,), density=0.5, rng=1),
                ss.random_array((8,), density=0.5, rng=1))
    assert type(sp.random(3, 3, rng=0)) is sp.coo_matrix
    assert type(sp.random_array((3, 3), rng=0)) is sp.coo_array


# -- sparse/dense inputs: structure from SciPy, values from our data -----------------


# Full output-format grid for float64 on every format and class; the other dtypes on
# a subset (compiles dominate the run time on small inputs).
GRID = [(fmt, kind, np.float64, OUT_FORMATS) for fmt in FORMATS for kind in ("array", "matrix")]
GRID += [(fmt, "array", dt, [None, "csr"]) for fmt in ("csr", "coo")
         for dt in (np.complex128, np.int64)]
GRID_IDS = [f"{f}-{k}-{np.dtype(d).name}" for f, k, d, _ in GRID]


@pytest.mark.parametrize(("fmt", "kind", "dtype", "out_formats"), GRID, ids=GRID_IDS)
def test_stacking(fmt, kind, dtype, out_formats):
    a_ours, a_sp = _pair(fmt, kind, _dense(_A, dtype))
    b_ours, b_sp = sp.csr_matrix(_B), ss.csr_matrix(_B)  # a matrix: class from `a`
    for format in out_formats:
        assert_same(sp.hstack([a_ours, b_ours], format=format),
                    ss.hstack([a_sp, b_sp], format=format))
        assert_same(sp.vstack([a_ours, a_ours], format=format),
                    ss.vstack([a_sp, a_sp], format=format))
        assert_same(sp.bmat([[a_ours, None], [None, a_ours]], format=format),
                    ss.bmat([[a_sp, None], [None, a_sp]], format=format))
        assert_same(sp.block_array([[a_ours, b_ours]], format=format),
                    ss.block_array([[a_sp, b_sp]], format=format))
        assert_same(sp.block_diag([a_ours, _B, [[1, 0, 2]], 3], format=format),
                    ss.block_diag([a_sp, _B, [[1, 0, 2]], 3], format=format))
    assert_same(sp.hstack([a_ours, b_ours], dtype=np.complex64),
                ss.hstack([a_sp, b_sp], dtype=np.complex64))


def test_stacking_fast_paths_and_mixed_inputs():
    a, s = sp.csr_array(_A), ss.csr_array(_A)
    assert_same(sp.hstack([a, a]), ss.hstack([s, s]))  # csr fast path
    c, t = sp.csc_matrix(_A), ss.csc_matrix(_A)
    assert_same(sp.vstack([c, c]), ss.vstack([t, t]))  # csc fast path
    assert_same(sp.hstack([a, s]), ss.hstack([s, s]))  # SciPy's objects accepted
    assert_same(sp.vstack([_A, a]), ss.vstack([_A, s]))  # dense blocks
    assert_same(sp.bmat([[_A, None], [None, _B.T]]), ss.bmat([[_A, None], [None, _B.T]]))
    assert_same_outcome(lambda: sp.hstack([a, sp.csr_array(_A[:3])]),
                        lambda: ss.hstack([s, ss.csr_array(_A[:3])]))
    assert_same_outcome(lambda: sp.bmat([a, a]), lambda: ss.bmat([s, s]))


def test_stacking_keeps_duplicates_like_scipy():
    coo_args = (np.array([1.0, 2.0, 3.0]), (np.array([0, 0, 1]), np.array([1, 1, 0])))
    a, s = sp.coo_array(coo_args, shape=(2, 2)), ss.coo_array(coo_args, shape=(2, 2))
    assert_same(sp.hstack([a, a]), ss.hstack([s, s]))
    assert_same(sp.hstack([a, a], format="csr"), ss.hstack([s, s], format="csr"),
                structure=False)


@pytest.mark.parametrize(("fmt", "kind", "dtype", "out_formats"), GRID, ids=GRID_IDS)
def test_kron_kronsum(fmt, kind, dtype, out_formats):
    a_ours, a_sp = _pair(fmt, kind, _dense(_A, dtype))
    small = np.array([[2, 0], [1, 3]])
    for format in out_formats:
        assert_same(sp.kron(a_ours, sp.csr_matrix(_B), format=format),
                    ss.kron(a_sp, ss.csr_matrix(_B), format=format))
        assert_same(sp.kron(small, a_ours, format=format),  # dense B: bsr by default
                    ss.kron(small, a_sp, format=format))
        assert_same(sp.kronsum(a_ours, small, format=format),
                    ss.kronsum(a_sp, small, format=format), structure=False)
    assert_same_outcome(lambda: sp.kronsum(sp.csr_array(_B), a_ours),
                        lambda: ss.kronsum(ss.csr_array(_B), a_sp))


def test_kron_of_empty_and_dense():
    assert_same(sp.kron(sp.csr_array((2, 3)), np.eye(2)),
                ss.kron(ss.csr_array((2, 3)), np.eye(2)))
    assert_same(sp.kron(np.eye(2), _B), ss.kron(np.eye(2), _B))


def test_results_are_ours_with_exact_capacity():
    out = sp.hstack([sp.csr_array(_A), sp.coo_array(_B)], format="csr")
    assert isinstance(out, sp.csr_array)
    assert out.data.shape[0] == out.nnz == out.indptr[-1]
