"""Constructor fuzzing: every constructor, fed generated bad input, either builds the
matrix SciPy builds from the same input or refuses it cleanly.

Allowed outcomes, for the core formats (``from_arrays``, ``from_scipy``, ``fromdense``)
and for the drop-in's classes in every SciPy constructor form:

- a matrix whose entries equal SciPy's interpretation of the same input (when SciPy
  accepts it, with ``check_format(full_check=True)``); the drop-in may refuse what
  SciPy's default check lets through (out-of-range indices, unordered ``indptr``);
- a ValueError, TypeError or IndexError; from the core, its message names the argument.

Never a crash, a hang, a silent wrong answer, or work in proportion to a claimed shape
rather than the data: each call's host allocations (``tracemalloc``) must stay under
``_PEAK_BYTES`` (a shape of ``(2**40, 2**40)`` holding 3 entries allocates terabytes if
anything is shape-sized; an allocation by XLA that large fails with an error, which is
not one of the clean exceptions).

The default profile runs 25 examples per test; for a long run:

    JAXSPARSE_HYPOTHESIS_PROFILE=fuzz .venv/bin/python -m pytest tests/test_fuzz_constructors.py
"""

import tracemalloc
import warnings

import numpy as np
import pytest
import scipy.sparse as ss
from hypothesis import given
from hypothesis import strategies as st

import jaxsparse as js
import jaxsparse.scipy_compat as sp

_PEAK_BYTES = 256 * 2**20  # far above a real call here; far below a shape-sized array
_HUGE = 2**40
_CLEAN = (ValueError, TypeError, IndexError)
_ARG_WORDS = ("data", "indices", "indptr", "shape", "dtype", "row", "col", "coords",
              "offsets", "blocksize", "dense", "matrix", "index")

CORRUPTIONS = ("none", "none", "data_short", "data_long", "indptr_short", "indptr_long",
               "indptr_decreasing", "indptr_start", "indptr_past_end", "index_negative",
               "index_out_of_range", "index_float", "index_nan", "index_uint64",
               "index_2d", "data_object", "data_str", "data_int", "data_complex",
               "data_nan_inf", "data_2d", "shape_negative", "shape_zero", "shape_3d",
               "shape_huge_minor", "shape_huge_major", "shape_float", "shape_huge_both")


def _entries(m):
    """Canonical ``(coords, data)`` of a SciPy sparse matrix: sums duplicates, keeps NaN."""
    coo = ss.coo_array(m.tocoo())  # tocoo: direct from every format (no per-row indptr)
    coo.sum_duplicates()
    coo.eliminate_zeros()  # BSR blocks and DIA bands store zeros SciPy's other form may not
    return tuple(np.asarray(c, np.int64) for c in coo.coords), np.asarray(coo.data)


def _has_duplicates(m) -> bool:
    coo = m.tocoo()
    keys = np.stack([np.asarray(c, np.int64) for c in coo.coords], axis=1)
    return np.unique(keys, axis=0).shape[0] < keys.shape[0]


def _assert_same(ours, theirs):
    assert ours.shape == theirs.shape
    if max(theirs.shape, default=0) > 2**20:  # SciPy's conversions allocate per row
        assert ours.nnz == theirs.nnz
        return
    (oc, od), (tc, td) = _entries(ours), _entries(theirs)
    for a, b in zip(oc, tc, strict=True):
        np.testing.assert_array_equal(a, b)
    td = td.astype(od.dtype) if td.dtype != od.dtype else td
    if not _has_duplicates(theirs) or od.dtype.kind not in "fc":
        np.testing.assert_array_equal(od, td)
    else:  # duplicates: SciPy's conversions and ours may add them in another order
        np.testing.assert_allclose(od, td, rtol=8 * np.finfo(od.dtype).eps, atol=0)


def _scipy_outcome(build):
    """SciPy's matrix for the input, fully checked, or the exception it raises."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = build()
            if hasattr(out, "check_format"):
                out.check_format(full_check=True)
            if out.format == "coo" and out.nnz:
                for c, n in zip(out.coords, out.shape, strict=True):
                    if c.min() < 0 or c.max() >= n:
                        raise ValueError("coords out of range")
        return out, None
    except Exception as e:  # noqa: BLE001 - any SciPy refusal counts as a refusal
        return None, e


def _bounded(build, also=(), *, limit=True):
    """``build()``, or the clean exception it raises; with ``limit``, its host
    allocations must stay far below what a claimed shape of 2**31 or more would need
    (work in proportion to the shape, not the data). Memory, not time: a time limit
    flakes on a busy machine. The drop-in's constructors are SciPy's, which allocate an
    ``indptr`` slot per row (lazily zeroed pages) however few the entries: no limit."""
    tracemalloc.start()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return build(), None
    except _CLEAN + also as e:
        return None, e
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert not limit or peak < _PEAK_BYTES, (
            f"{peak / 2**20:.0f} MiB: work in proportion to the shape?")


def _check_core(build, build_scipy, *, lenient=()):
    """Core constructor: refuse naming the argument, or equal SciPy's full-checked result.
    ``lenient`` names inputs the core accepts on purpose where SciPy refuses them."""
    ours, err = _bounded(build)
    if err is not None:
        assert any(w in str(err) for w in _ARG_WORDS), f"message names no argument: {err}"
        return
    theirs, their_err = _scipy_outcome(build_scipy)
    if theirs is None:
        assert lenient, f"core accepted what SciPy refuses ({their_err!r})"
        return
    _assert_same(ours.to_scipy(), theirs)


def _check_dropin(build, build_scipy):
    """Drop-in constructor: SciPy's own refusal, our stricter index check, or SciPy's
    matrix (the same entries, as a drop-in object)."""
    theirs, their_err = _scipy_outcome(build_scipy)
    # SciPy's own refusal passes through unchanged: e.g. MemoryError for CSR/CSC/BSR
    # shapes whose indptr (one slot per row) does not fit, which is SciPy's design
    ours, err = _bounded(build, also=(type(their_err),) if their_err is not None else (),
                         limit=False)
    if err is not None:
        if their_err is not None and type(err) is type(their_err):
            return
        if their_err is None:  # only our extra index checks may refuse what SciPy takes
            assert "ind" in str(err), f"drop-in refused what SciPy accepts: {err!r}"
        return
    assert sp.issparse(ours) and type(ours).__module__ == "jaxsparse.scipy_compat"
    if theirs is None:
        # SciPy's default check lets it through (only full_check refuses): ours must not
        assert not isinstance(their_err, _CLEAN) or ours.format in ("dia", "coo"), (
            f"drop-in accepted what SciPy's full check refuses: {their_err!r}")
        return
    if theirs.dtype.kind not in "biufc":  # SciPy keeps object/str DIA data, can't convert
        assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
        return
    _assert_same(ours, theirs)


@st.composite
def compressed_input(draw, n_max=4):
    """``(data, indices, indptr, shape, corruption)`` of a CSR-like triple, corrupted."""
    n, m = draw(st.integers(0, n_max)), draw(st.integers(0, n_max))
    nnz = draw(st.integers(0, 6)) if m else 0
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    indices = rng.integers(0, max(m, 1), nnz)
    cuts = np.sort(rng.integers(0, nnz + 1, max(n - 1, 0)))
    indptr = np.concatenate([[0], cuts, [nnz]]) if n else np.array([0])
    if n == 0:
        indices = indices[:0]
    nnz = indices.size
    indptr[-1] = nnz
    data = rng.standard_normal(nnz)
    shape = (n, m)
    how = draw(st.sampled_from(CORRUPTIONS))
    if how == "data_short" and nnz:
        data = data[:-1]
    elif how == "data_long":
        data = np.append(data, 1.0)
    elif how == "indptr_short":
        indptr = indptr[:-1]
    elif how == "indptr_long":
        indptr = np.append(indptr, nnz)
    elif how == "indptr_decreasing" and indptr.size > 2 and nnz:
        indptr[1] = nnz
        indptr[2] = 0
    elif how == "indptr_start" and nnz:
        indptr = indptr + 1
    elif how == "indptr_past_end":
        indptr[-1] = nnz + 3
    elif how == "index_negative" and nnz:
        indices[0] = -1
    elif how == "index_out_of_range" and nnz:
        indices[-1] = m + draw(st.sampled_from([0, 1, 2**31, 2**62]))
    elif how == "index_float":
        indices = indices + 0.5
    elif how == "index_nan":
        indices = np.where(np.arange(nnz) == 0, np.nan, indices)
    elif how == "index_uint64":
        indices = indices.astype(np.uint64)
    elif how == "index_2d":
        indices = indices[None]
    elif how == "data_object":
        data = data.astype(object)
    elif how == "data_str":
        data = data.astype(str)
    elif how == "data_int":
        data = (data * 10).astype(np.int64)
    elif how == "data_complex":
        data = data + 1j
    elif how == "data_nan_inf" and nnz:
        data[0], data[-1] = np.nan, -np.inf
    elif how == "data_2d":
        data = data[None]
    elif how == "shape_negative":
        shape = (-n - 1, m)
    elif how == "shape_zero":
        shape = (n, 0)
    elif how == "shape_3d":
        shape = (n, m, 1)
    elif how == "shape_huge_minor":
        shape = (n, _HUGE)
    elif how == "shape_huge_major":
        shape = (_HUGE, m)
    elif how == "shape_float":
        shape = (float(n), m + 0.5)
    elif how == "shape_huge_both":
        shape = (_HUGE, _HUGE)
    return data, indices, indptr, shape, how


@pytest.mark.parametrize("fmt", ["CSR", "CSC"])
@given(case=compressed_input())
def test_core_compressed_from_arrays(fmt, case):
    data, indices, indptr, shape, _ = case
    cls, scipy_cls = getattr(js, fmt), getattr(ss, f"{fmt.lower()}_array")
    _check_core(lambda: cls.from_arrays(data, indices, indptr, shape=shape),
                lambda: scipy_cls((data, indices, indptr), shape=shape))


@given(case=compressed_input())
def test_core_bsr_from_arrays(case):
    data, indices, indptr, shape, _ = case
    blocks = np.asarray(data)[..., None, None] if np.ndim(data) == 1 else data
    _check_core(lambda: js.BSR.from_arrays(blocks, indices, indptr, shape=shape),
                lambda: ss.bsr_array((blocks, indices, indptr), shape=shape))


@given(case=compressed_input())
def test_core_coo_from_arrays(case):
    data, indices, indptr, shape, _ = case
    # rows: the same corruption, applied to the column indices, shifted onto the rows
    row = np.asarray(indices)[::-1].copy() if np.ndim(indices) == 1 else indices
    _check_core(lambda: js.COO.from_arrays(data, (row, indices), shape=shape),
                lambda: ss.coo_array((data, (row, indices)), shape=shape))


@given(case=compressed_input(), k=st.integers(0, 3))
def test_core_dia_from_arrays(case, k):
    data, indices, _, shape, _ = case
    # offsets: the (corrupted) indices, shifted to reach both triangles; data, k x width
    offsets = np.asarray(indices)[:k] - 2 if np.ndim(indices) == 1 else indices
    width = np.shape(data)[-1] if np.ndim(data) else 0
    band = np.resize(np.asarray(data), (k, width)) if np.ndim(data) == 1 else data
    _check_core(lambda: js.DIA.from_arrays(band, offsets, shape=shape),
                lambda: ss.dia_array((band, offsets), shape=shape))


DENSE = st.one_of(
    st.sampled_from([(0, 3), (1, 3), (2, 2), (2, 4), (4, 4)]).map(  # few compiles
        lambda s: np.arange(s[0] * s[1], dtype=float).reshape(s) % 3),
    st.sampled_from([
        np.ones((2, 2, 2)), np.ones(()), np.array([[1, None]], dtype=object),
        np.array([["a", "b"]]), np.array([[np.nan, np.inf], [0, -np.inf]]),
        np.array([[True, False]]), np.array([[1 + 2j, 0]]), np.zeros((0, 0)),
        np.array([[1, 2], [3, 4]], np.uint64), [[1, 2], [3]], "not an array",
        np.array([[1.0, 0.0]], np.float16),
    ]),
)


@pytest.mark.parametrize("fmt", ["CSR", "CSC", "COO", "BSR", "DIA"])
@given(dense=DENSE)
def test_core_fromdense(fmt, dense):
    cls = getattr(js, fmt)

    def scipy_build():
        arr = np.asarray(dense)
        if arr.ndim != 2:  # the core takes 1-D for COO/CSR (as a row); SciPy's 2-D only
            raise ValueError("not 2-D")
        return getattr(ss, f"{fmt.lower()}_array")(arr)

    # float16: the core takes it on purpose (SciPy does not support it)
    _check_core(lambda: cls.fromdense(dense), scipy_build,
                lenient=getattr(dense, "ndim", None) == 1
                or getattr(dense, "dtype", None) == np.float16)


@pytest.mark.parametrize("fmt", ["CSR", "CSC", "COO", "BSR", "DIA"])
@given(case=compressed_input())
def test_core_from_scipy_of_unchecked_scipy_matrix(fmt, case):
    """SciPy's default check lets corrupt arrays through; ``from_scipy`` must not."""
    data, indices, indptr, shape, _ = case
    built, err = _bounded(lambda: ss.csr_array((data, indices, indptr), shape=shape))
    if err is not None or not isinstance(built, ss.csr_array):
        return  # SciPy itself refused: nothing to convert
    cls = getattr(js, fmt)

    def scipy_build():
        built.check_format(full_check=True)
        return built

    _check_core(lambda: cls.from_scipy(built), scipy_build)


DROPIN_FORMS = ("triple", "coo_pair", "dense", "shape_only", "sparse")


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "bsr", "dia"])
@pytest.mark.parametrize("form", DROPIN_FORMS)
@given(case=compressed_input())
def test_dropin_constructors(fmt, form, case):
    data, indices, indptr, shape, how = case
    ours_cls, their_cls = getattr(sp, f"{fmt}_array"), getattr(ss, f"{fmt}_array")
    if form == "triple":
        if fmt == "coo":
            return  # the triple is not a COO form (coo_pair covers COO)
        blocks = np.asarray(data)[..., None, None] if fmt == "bsr" and np.ndim(data) == 1 \
            else data
        arg = (blocks, indices, indptr) if fmt != "dia" else \
            (np.atleast_2d(data)[:1], np.asarray(indices)[:1])
    elif form == "coo_pair":
        row = np.asarray(indices)[::-1].copy() if np.ndim(indices) == 1 else indices
        arg = (data, (row, indices))
    elif form == "dense":
        arg = np.resize(np.asarray(data), shape[:2]) if all(
            isinstance(s, int) and 0 <= s <= 8 for s in shape) else data
        shape = None
    elif form == "shape_only":
        if fmt in ("csr", "bsr") and isinstance(shape[0], int) and shape[0] > 2**20:
            shape = shape[::-1]  # SciPy allocates indptr for the rows: keep that small
        if fmt == "csc" and len(shape) > 1 and isinstance(shape[1], int) and \
                shape[1] > 2**20:
            shape = shape[::-1]
        if any(isinstance(s, int) and s > 2**20 for s in shape[:1]) and fmt in ("csr", "bsr"):
            return
        if len(shape) > 1 and isinstance(shape[1], int) and shape[1] > 2**20 and \
                fmt in ("csc", "bsr"):
            return
        arg, shape = shape, None
    else:
        source, err = _bounded(lambda: ss.coo_array((data, (indices, indices)), shape=shape))
        if err is not None or any(s > 64 for s in source.shape):
            return  # SciPy refused the source, or converting it allocates per row
        arg, shape = source, None
    kwargs = {} if shape is None else {"shape": shape}
    _check_dropin(lambda: ours_cls(arg, **kwargs), lambda: their_cls(arg, **kwargs))


HUGE_CORE = {
    "CSR": lambda: js.CSR.from_arrays(np.ones(3), np.array([0, 5, _HUGE - 1]),
                                      np.array([0, 1, 3]), shape=(2, _HUGE)),
    "CSC": lambda: js.CSC.from_arrays(np.ones(3), np.array([0, 5, _HUGE - 1]),
                                      np.array([0, 1, 3]), shape=(_HUGE, 2)),
    "COO": lambda: js.COO.from_arrays(np.ones(3), (np.array([0, 1, _HUGE - 1]),) * 2,
                                      shape=(_HUGE, _HUGE)),
    "BSR": lambda: js.BSR.from_arrays(np.ones((3, 1, 1)), np.array([0, 5, _HUGE - 1]),
                                      np.array([0, 1, 3]), shape=(2, _HUGE)),
    "DIA": lambda: js.DIA.from_arrays(np.ones((1, 3)), np.array([0]),
                                      shape=(_HUGE, _HUGE)),
    "CSR rows": lambda: js.CSR.from_arrays(np.ones(3), np.arange(3), np.array([0, 1, 3]),
                                           shape=(_HUGE, _HUGE)),
}


@pytest.mark.parametrize("name", list(HUGE_CORE))
def test_core_huge_shape_with_three_entries(name):
    """(2**40)-sized shapes holding 3 entries: built with int64 indices, or refused
    before anything shape-sized exists (DIA pads to n_cols; CSR needs n_rows + 1)."""
    out, err = _bounded(HUGE_CORE[name])
    if name in ("DIA", "CSR rows"):
        assert isinstance(err, ValueError)
        assert ("memory" if name == "DIA" else "indptr") in str(err)
        return
    assert err is None, err
    assert out.nnz == 3 and np.dtype(out.data.dtype) == np.float64
    assert all(np.dtype(a.dtype) == np.int64 for a in
               ((out.indices,) if hasattr(out, "indices") else out.coords))
    coo = out.to_scipy().tocoo()
    assert max(int(c.max()) for c in coo.coords) == _HUGE - 1  # not wrapped to int32


@pytest.mark.parametrize("fmt", ["CSR", "CSC", "COO", "BSR", "DIA"])
def test_from_scipy_refuses_a_decreasing_indptr_that_scipy_lets_through(fmt):
    """indptr [0, 5, 0] ends at 0, so SciPy's full check (which only runs on stored
    entries) passes it; SciPy's tocsc() then read out of bounds and crashed the process
    (found by the fuzz profile)."""
    bad = ss.csr_array((np.ones(5), np.array([3, 1, 2, 2, 1]), np.array([0, 5, 0])),
                       shape=(2, 4))
    with pytest.raises(ValueError, match="indptr must be non-decreasing"):
        getattr(js, fmt).from_scipy(bad)


@pytest.mark.parametrize("name", ["csr_array", "csc_array", "coo_matrix", "bsr_array",
                                  "dia_array", "lil_array", "dok_matrix"])
def test_dropin_refuses_a_decreasing_indptr_before_scipy_converts_it(name):
    """SciPy's own ``csc_array(bad_csr)`` crashes the process on that indptr; the drop-in
    checks a compressed argument before SciPy's conversion reads it."""
    bad = ss.csr_array((np.ones(5), np.array([3, 1, 2, 2, 1]), np.array([0, 5, 0])),
                       shape=(2, 4))
    with pytest.raises(ValueError, match="indptr must be a non-decreasing"):
        getattr(sp, name)(bad)


@pytest.mark.parametrize("fmt", ["CSC", "BSR"])
def test_from_scipy_refuses_a_conversion_sized_by_a_huge_shape(fmt):
    """A 2 x 2**40 CSR with one entry: CSC needs 2**40 + 1 indptr slots, and SciPy's BSR
    conversion a slot per column; refused before SciPy allocates terabytes."""
    wide = ss.csr_array((np.ones(1), np.array([0]), np.array([0, 1, 1])), shape=(2, _HUGE))
    out, err = _bounded(lambda: getattr(js, fmt).from_scipy(wide))
    assert isinstance(err, ValueError) and "shape" in str(err) and "memory" in str(err)


@pytest.mark.parametrize("fmt", ["coo", "dia"])
def test_dropin_huge_shape_with_three_entries(fmt):
    if fmt == "coo":
        build = lambda cls: cls((np.ones(3), (np.array([0, 1, _HUGE - 1]),) * 2),  # noqa: E731
                                shape=(_HUGE, _HUGE))
    else:
        build = lambda cls: cls((np.ones((1, 3)), [0]), shape=(_HUGE, _HUGE))  # noqa: E731
    ours, err = _bounded(lambda: build(getattr(sp, f"{fmt}_array")))
    assert err is None, err
    assert ours.shape == (_HUGE, _HUGE) and ours.nnz == 3
    assert type(ours) is getattr(sp, f"{fmt}_array")
