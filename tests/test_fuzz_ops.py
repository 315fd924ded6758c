"""Operation fuzzing: products, binary ops, indexing and solvers fed generated operands
(mismatched shapes, other dtypes, non-arrays) either answer as SciPy does or refuse
cleanly.

Allowed outcomes, against SciPy on the same input:

- SciPy's answer (same shape, dtype and values; sparse results compared entry by entry);
- a ValueError, TypeError or IndexError whose message names the argument or the rule.
  Where SciPy raises a ValueError for a numeric operand of the wrong shape, ours must be
  a ValueError too. For non-arrays (None, strings, object arrays) SciPy's exception type
  is an accident of its code path (AttributeError, ZeroDivisionError, "could not convert
  string to float" ValueError), so the core may raise TypeError or ValueError; where
  SciPy raises NotImplementedError (a nonzero scalar added to a sparse array) the core's
  convention is ValueError. The drop-in (``jaxsparse.scipy_compat``) must raise SciPy's
  exact type: it promises SciPy's behaviour.

Never a crash, a hang, a raw JAX error from inside tracing, another exception type, or a
silent answer where SciPy refuses (except the documented leniencies: a Python list of
numbers is an array to the core, and the core answers where SciPy itself crashes, e.g.
``minres`` with a complex ``b``; those answers are checked on their own terms).

Few examples (the ``jaxsparse`` profile), matrices of two fixed shapes and capacities so
compiled programs are shared between examples. For a long run:

    JAXSPARSE_HYPOTHESIS_PROFILE=fuzz .venv/bin/python -m pytest tests/test_fuzz_ops.py
"""

from __future__ import annotations

import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as ss
import scipy.sparse.linalg as ssl
from hypothesis import given, settings
from hypothesis import strategies as st

import jaxsparse as js
import jaxsparse.linalg as jl
import jaxsparse.scipy_compat as sp
import jaxsparse.scipy_compat.linalg as spl

_CLEAN = (ValueError, TypeError, IndexError)
_RULE_WORDS = ("must", "inconsistent", "mismatch", "broadcast", "not supported", "needs",
               "out of range", "only", "cannot", "would be dense", "not a valid array")
_NAMES = ("b", "x", "y", "B", "X", "other", "x0", "M", "A", "rtol", "atol", "maxiter")

N, M = 4, 6  # products and binary ops: a 4 x 6 matrix (catches swapped dimensions)
NS = 6  # solvers: a 6 x 6 diagonally dominant matrix

# A fixed, integer-valued pattern: products of small integers are exact in every dtype.
_DENSE = np.array([[2, 0, 1, 0, 0, 3],
                   [0, 0, 0, 0, 0, 0],
                   [1, 4, 0, 0, 2, 0],
                   [0, 0, 0, 5, 0, 1]], dtype=np.float64)
# symmetric positive definite and well conditioned (eigenvalues in [5, 11]): every
# solver converges, so SciPy's and our solutions agree far below the compared tolerance
_SQUARE = (np.diag(np.full(NS, 8.0)) + np.diag(np.full(NS - 1, -1.0), 1)
           + np.diag(np.full(NS - 1, -1.0), -1))
_SQUARE[0, 4] = _SQUARE[4, 0] = 1.0


def _scipy(fmt: str, dense, dtype):
    dense = np.asarray(dense, dtype)
    if fmt == "bsr":
        return ss.bsr_array(dense, blocksize=(2, 2))
    return getattr(ss, f"{fmt}_array")(dense)


def _core(fmt: str, dense, dtype):
    return getattr(js, fmt.upper()).from_scipy(_scipy(fmt, dense, dtype))


def operand(kind: str, k: int):
    """An operand meant to have ``k`` rows (``k`` entries for vectors), of ``kind``."""
    i = np.arange(1, k + 1)
    return {
        "vec": i.astype(np.float64), "vec_f32": i.astype(np.float32),
        "vec_int": i, "vec_bool": i % 2 == 0, "vec_complex": i + 1j * i[::-1],
        "vec_f16": i.astype(np.float16), "vec_jax": jnp.asarray(i, jnp.float64),
        "vec_nan": np.where(i == 2, np.nan, i.astype(float)),
        "vec_short": np.ones(k - 1), "vec_long": np.ones(k + 1),
        "mat": np.outer(i, [1.0, -1.0, 2.0]), "mat_wrong": np.ones((k + 1, 3)),
        "col": i[:, None].astype(float), "row": i[None, :].astype(float),
        "empty_cols": np.ones((k, 0)), "three_d": np.ones((k, 2, 1)),
        "zero_d": np.array(2.0), "scalar": 3, "zero": 0, "list": [int(v) for v in i],
        "none": None, "str": "abc", "str_list": ["a"] * k,
        "object": i.astype(object), "object_none": np.array([None] * k, dtype=object),
        "ragged": [[1.0, 2.0], [3.0]], "bytes": np.array([b"x"] * k),
    }[kind]


KINDS = ("vec", "vec_f32", "vec_int", "vec_bool", "vec_complex", "vec_f16", "vec_jax",
         "vec_nan", "vec_short", "vec_long", "mat", "mat_wrong", "col", "row",
         "empty_cols", "three_d", "zero_d", "scalar", "zero", "list", "none", "str",
         "str_list", "object", "object_none", "ragged", "bytes")
NON_ARRAYS = {"none", "str", "str_list", "object", "object_none", "ragged", "bytes"}


def _run(fn):
    """``(result, None)`` or ``(None, exception)``; every exception is caught."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn(), None
    except Exception as e:  # noqa: BLE001 - the caller decides which are allowed
        return None, e


def _to_host(r):
    if isinstance(r, tuple):
        r = r[0]
    if hasattr(r, "to_scipy"):
        r = r.to_scipy()
    if ss.issparse(r):
        return "sparse", r
    return "dense", np.asarray(r)


def _assert_same_answer(ours, theirs, *, dtype_too=True, rtol=None):
    kind, ours = _to_host(ours)
    tkind, theirs = _to_host(theirs)
    if theirs.dtype == object:  # SciPy keeps object operands' dtype; no toarray for it
        assert kind == tkind and ours.dtype == object and ours.shape == theirs.shape
        if kind == "sparse":  # the stored arrays, as SciPy converts no object matrix
            assert ours.format == theirs.format
            for name in ("data", "indices", "indptr", "offsets", "row", "col"):
                if hasattr(theirs, name):
                    np.testing.assert_array_equal(getattr(ours, name), getattr(theirs, name))
        else:
            np.testing.assert_array_equal(ours, theirs)
        return
    if tkind == "sparse":
        theirs = theirs.toarray()
    if kind == "sparse":
        ours = ours.toarray()
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    if dtype_too:
        assert ours.dtype == theirs.dtype, (ours.dtype, theirs.dtype)
    if rtol is None:
        low = np.dtype(ours.dtype) in (np.float32, np.complex64, np.float16)
        rtol = 1e-5 if low else 1e-12
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol, equal_nan=True)


def _names_rule(err) -> bool:
    msg = str(err)
    words = msg
    for c in "(),:'\"":
        words = words.replace(c, " ")
    return any(w in msg for w in _RULE_WORDS) or any(w in words.split() for w in _NAMES)


def host(v):
    """What SciPy is given for operand ``v``: a NumPy array for a ``jax.Array`` (SciPy
    does not take JAX arrays; the core does)."""
    return np.asarray(v) if isinstance(v, jax.Array) else v


def check_core(ours_fn, scipy_fn, kind: str, *, check=None, dtype_too=True, rtol=None):
    """The core's outcome for an input of ``kind`` against SciPy's (see module doc).
    ``check(result)``: where the core answers and SciPy cannot (a documented leniency),
    verify the answer on its own terms."""
    theirs, their_err = _run(scipy_fn)
    ours, err = _run(ours_fn)
    if err is not None:
        assert isinstance(err, _CLEAN), f"not a clean refusal: {err!r}"
        assert _names_rule(err), f"message names neither argument nor rule: {err}"
        if isinstance(their_err, ValueError) and kind not in NON_ARRAYS:
            assert isinstance(err, ValueError), (err, their_err)
        return
    if their_err is None:
        _assert_same_answer(ours, theirs, dtype_too=dtype_too, rtol=rtol)
        return
    assert kind == "list" or check is not None, (
        f"the core answered where SciPy refuses ({their_err!r})")
    if check is not None:
        check(ours)


def check_dropin(ours_fn, scipy_fn):
    """The drop-in's outcome equals SciPy's: the same exception type, or the answer."""
    theirs, their_err = _run(scipy_fn)
    ours, err = _run(ours_fn)
    if their_err is not None:
        assert type(err) is type(their_err), (err, their_err)
        return
    assert err is None, f"the drop-in refused what SciPy accepts: {err!r}"
    if ours is NotImplemented or theirs is NotImplemented:
        assert ours is theirs
        return
    _assert_same_answer(ours, theirs)
    if ss.issparse(theirs):
        assert type(ours).__module__ == "jaxsparse.scipy_compat", type(ours)


FORMATS = ("csr", "csc", "coo", "dia", "bsr")
FLOATS = (np.float64, np.float32)
# Each example of the compiling tests below is a new program (~0.1 s to compile): half
# the profile's examples there (12 by default; 1000 under the fuzz profile).
FEW = settings(max_examples=max(6, settings.default.max_examples // 2))


# -- products ----------------------------------------------------------------------------
PRODUCTS = {
    "A @ v": (lambda A, v: A @ v, lambda S, v: S @ v, M),
    "v @ A": (lambda A, v: v @ A, lambda S, v: v @ S, N),
    "matmul(A, v)": (lambda A, v: js.ops.matmul(A, v), lambda S, v: S @ v, M),
    "spmv(A, v)": (lambda A, v: js.ops.spmv(A, v), lambda S, v: S @ v, M),
    "spmm(A, v)": (lambda A, v: js.ops.spmm(A, v), lambda S, v: S @ v, M),
    "A.T @ v": (lambda A, v: A.T @ v, lambda S, v: S.T @ v, N),
}


@FEW
@given(fmt=st.sampled_from(FORMATS), dtype=st.sampled_from(FLOATS),
       op=st.sampled_from(sorted(PRODUCTS)), kind=st.sampled_from(KINDS))
def test_products_with_generated_operands(fmt, dtype, op, kind):
    ours, theirs, k = PRODUCTS[op]
    A, S = _core(fmt, _DENSE, dtype), _scipy(fmt, _DENSE, dtype)
    v = operand(kind, k)
    # spmv takes vectors, spmm matrices: their refusals of the other are by design
    check_core(lambda: ours(A, v), lambda: theirs(S, host(v)), kind)


SPARSE_SHAPES = {"short": (M - 1, 3), "wide": (3, M), "long": (M + 2, N + 1), "fits": (M, 3)}


@pytest.mark.parametrize("shape", sorted(SPARSE_SHAPES))
def test_sparse_products_with_mismatched_shapes(shape):
    """sparse @ sparse both ways, every format on the left: SciPy's product where the
    inner sizes agree (only "fits"; one compiled spgemm), a ValueError where not."""
    dense_b = np.arange(np.prod(SPARSE_SHAPES[shape]), dtype=float).reshape(
        SPARSE_SHAPES[shape]) % 3
    B, T = _core("csr", dense_b, np.float64), ss.csr_array(dense_b)
    for fmt in FORMATS if shape != "fits" else ("csr",):
        A, S = _core(fmt, _DENSE, np.float64), _scipy(fmt, _DENSE, np.float64)
        check_core(lambda A=A: A @ B, lambda S=S: S @ T, "mat")
        check_core(lambda A=A: B @ A, lambda S=S: T @ S, "mat")
        check_core(lambda A=A: js.ops.spgemm(A, B), lambda S=S: S @ T, "mat")


# -- binary ops --------------------------------------------------------------------------
BINARY = {
    "+": (lambda A, v: A + v, lambda S, v: S + v),
    "-": (lambda A, v: A - v, lambda S, v: S - v),
    "r-": (lambda A, v: v - A, lambda S, v: v - S),
    "*": (lambda A, v: A * v, lambda S, v: S * v),
    "multiply": (lambda A, v: A.multiply(v), lambda S, v: S.multiply(v)),
    "maximum": (lambda A, v: A.maximum(v), lambda S, v: S.maximum(v)),
    "minimum": (lambda A, v: A.minimum(v), lambda S, v: S.minimum(v)),
    "/": (lambda A, v: A / v, lambda S, v: S / v),
}


def _dense_like(kind: str):
    """Operands for elementwise ops: the 4 x 6 matrix's shape, rows, columns, wrong."""
    if kind == "full":
        return np.arange(N * M, dtype=float).reshape(N, M) - 7
    if kind == "row_bcast":
        return np.arange(M, dtype=float) - 2
    if kind == "col_bcast":
        return np.arange(N, dtype=float)[:, None] + 1
    if kind == "transposed":
        return np.ones((M, N))
    if kind == "three_d_bcast":
        return np.ones((2, N, M))
    if kind == "sparse_same":
        return _scipy("csr", _DENSE[::-1], np.float64)
    if kind == "sparse_row":  # SciPy broadcasts a 1 x n sparse in multiply only
        return _scipy("csr", _DENSE[:1], np.float64)
    if kind == "negative_scalar":
        return -1.5
    return operand(kind, M)


BIN_KINDS = ("full", "row_bcast", "col_bcast", "transposed", "three_d_bcast",
             "sparse_same", "sparse_row", "negative_scalar") + KINDS


@FEW
@given(fmt=st.sampled_from(FORMATS), dtype=st.sampled_from((np.float64, np.complex128)),
       op=st.sampled_from(sorted(BINARY)), kind=st.sampled_from(BIN_KINDS))
def test_binary_ops_with_generated_operands(fmt, dtype, op, kind):
    ours, theirs = BINARY[op]
    if op in ("maximum", "minimum") and dtype == np.complex128:
        dtype = np.float64  # SciPy orders complex numbers lexicographically; we refuse
    A, S = _core(fmt, _DENSE, dtype), _scipy(fmt, _DENSE, dtype)
    v = _dense_like(kind)
    ours_v = js.CSR.from_scipy(v) if ss.issparse(v) else v
    # sparse results may come back in another format than SciPy's (the core keeps A's).
    # Where SciPy's Python division by a Python 0 raises ZeroDivisionError, the core
    # divides as NumPy does: SciPy's answer for a NumPy zero. A float16/float32 divisor:
    # SciPy takes 1 / v in that dtype and multiplies, so its quotients carry its rounding.
    check_core(lambda: ours(A, ours_v), lambda: theirs(S, host(v)),
               "mat" if ss.issparse(v) else kind,
               check=(lambda r: _assert_same_answer(r, theirs(S, np.float64(v))))
               if op == "/" and kind == "zero" else None,
               rtol={"vec_f16": 1e-3, "vec_f32": 1e-6}.get(kind) if op == "/" else None)


# -- the drop-in: the same operands must give SciPy's exact outcome ----------------------
@given(fmt=st.sampled_from(FORMATS),
       op=st.sampled_from(sorted(BINARY) + ["@", "r@", "dot"]),
       kind=st.sampled_from(BIN_KINDS))
def test_dropin_ops_match_scipy_exactly(fmt, op, kind):
    D = _DENSE
    ours_m = getattr(sp, f"{fmt}_array")(_scipy(fmt, D, np.float64))
    theirs_m = _scipy(fmt, D, np.float64)
    if op in ("@", "r@", "dot"):
        v = operand(kind, M if op != "r@" else N) if kind in KINDS else _dense_like(kind)
        fn = {"@": lambda A: A @ v, "r@": lambda A: v @ A, "dot": lambda A: A.dot(v)}[op]
        check_dropin(lambda: fn(ours_m), lambda: fn(theirs_m))
        return
    v = _dense_like(kind)
    # a SciPy operand on the left of a reflected op would run SciPy's own method
    ours_v = sp.csr_array(v) if ss.issparse(v) else v
    check_dropin(lambda: BINARY[op][0](ours_m, ours_v), lambda: BINARY[op][1](theirs_m, v))


# -- indexing (the drop-in; the core formats have no __getitem__) ------------------------
_SLICES = st.builds(slice, st.one_of(st.none(), st.integers(-8, 8)),
                    st.one_of(st.none(), st.integers(-8, 8)),
                    st.one_of(st.none(), st.integers(-3, 3)))
_ONE_KEY = st.one_of(
    st.integers(-8, 8), _SLICES,
    st.lists(st.integers(-7, 7), max_size=4).map(np.array),
    st.lists(st.integers(-7, 7), max_size=4),
    st.lists(st.booleans(), min_size=1, max_size=7).map(np.array),
    st.sampled_from([None, Ellipsis, 1.5, "a", np.int64(2), np.uint8(1), np.float64(1.0),
                     np.array([0, None], dtype=object), np.array([[0, 1], [1, 2]]),
                     [[0, 1], [1, 2]], np.array([0.5, 1.5]), (), [True, False]]),
)
KEYS = st.one_of(_ONE_KEY, st.tuples(_ONE_KEY, _ONE_KEY),
                 st.tuples(_ONE_KEY, _ONE_KEY, _ONE_KEY))


@given(fmt=st.sampled_from(FORMATS + ("lil", "dok")), key=KEYS)
def test_dropin_getitem_matches_scipy(fmt, key):
    theirs_m = _scipy(fmt, _DENSE, np.float64)
    ours_m = getattr(sp, f"{fmt}_array")(theirs_m)
    check_dropin(lambda: ours_m[key], lambda: theirs_m[key])


# -- solvers -----------------------------------------------------------------------------
SQUARE_SOLVERS = ("cg", "gmres", "bicgstab", "minres", "qmr", "tfqmr", "lgmres")
SOLVERS = SQUARE_SOLVERS + ("spsolve", "lsqr", "lsmr", "spsolve_triangular")
SOLVER_ARGS = ("b", "x0", "M", "rtol", "maxiter", "A")
_A_CORE = js.CSR.from_scipy(ss.csr_array(_SQUARE))


def _solver_call(lib, name, A, arg, value):
    b = operand("vec", NS)
    kwargs = {}
    if name == "spsolve_triangular":
        A = ss.csr_array(np.tril(_SQUARE)) if lib is ssl else js.CSR.from_scipy(
            ss.csr_array(np.tril(_SQUARE)))
    if arg == "b":
        b = value
    elif arg == "A":
        A = value
    elif name not in ("spsolve", "spsolve_triangular", "lsqr", "lsmr"):
        kwargs[arg] = value
    elif arg == "x0" and name in ("lsqr", "lsmr"):
        kwargs[arg] = value
    else:
        return None  # the direct/least-squares solvers take no M, rtol or maxiter
    if name in SQUARE_SOLVERS:
        kwargs.setdefault("rtol", 1e-12)
    if name in ("lsqr", "lsmr"):  # converged far past the compared tolerance
        kwargs.update(atol=1e-14, btol=1e-14)
    fn = getattr(lib, name)
    return lambda: fn(A, b, **kwargs)


def _solution_check(name, arg, value):
    """For answers where SciPy itself fails: ``x`` must solve the system it was given;
    with ``maxiter=0`` (SciPy's gmres: UnboundLocalError), SciPy's other solvers' answer:
    ``x0`` (zeros) and ``info == 0``."""
    def check(result):
        x = np.asarray(result[0] if isinstance(result, tuple) else result)
        if arg == "maxiter" and np.ndim(value) == 0 and value == 0:
            np.testing.assert_array_equal(x, 0)
            assert int(result[1]) == 0
            return
        b = value if arg == "b" else operand("vec", NS)
        b = np.asarray(b, dtype=np.result_type(np.asarray(b).dtype, float))
        A = np.tril(_SQUARE) if name == "spsolve_triangular" else _SQUARE
        if np.all(np.isfinite(b)) and x.shape == b.shape:
            np.testing.assert_allclose(A @ x, b, rtol=1e-6, atol=1e-6)
    return check


def _solver_value(arg: str, kind: str):
    if kind == "sparse_wrong" and arg not in ("M", "A"):
        return ss.csr_array(np.ones((NS - 1, 1)))
    if arg in ("b", "x0"):
        return operand(kind, NS)
    special = {
        "M": {"vec": np.ones(NS), "mat": np.eye(NS), "mat_wrong": np.eye(NS + 1),
              "three_d": np.ones((NS, NS, 1)), "sparse_wrong": ss.eye_array(NS - 1),
              "scalar": 2.0},
        "rtol": {"vec": np.full(NS, 1e-8), "scalar": 50, "zero_d": np.array(1e-8),
                 "none": None},
        "maxiter": {"vec": np.full(NS, 1e-8), "scalar": 50, "zero_d": np.array(1e-8),
                    "none": None},
        "A": {"mat": np.ones((NS, NS - 1)), "vec": np.ones(NS),
              "three_d": np.ones((NS, NS, 1)), "scalar": 2.0,
              "sparse_wrong": ss.csr_array(np.ones((NS, NS - 1)))},
    }[arg]
    return special[kind] if kind in special else operand(kind, NS)


SOLVER_KINDS = KINDS + ("sparse_wrong",)


@FEW
@given(name=st.sampled_from(SOLVERS), arg=st.sampled_from(SOLVER_ARGS),
       kind=st.sampled_from(SOLVER_KINDS))
def test_solvers_with_generated_arguments(name, arg, kind):
    value = _solver_value(arg, kind)
    ours = _solver_call(jl, name, _A_CORE, arg, value)
    theirs = _solver_call(ssl, name, ss.csr_array(_SQUARE), arg, value)
    if ours is None:
        return
    if arg in ("A", "M") and ss.issparse(value):  # the core takes its own matrices
        ours = _solver_call(jl, name, _A_CORE, arg, js.CSR.from_scipy(value))
    # a Python number or list as the matrix: SciPy's type is an accident of the solver
    # (spsolve's ValueError, cg's TypeError from aslinearoperator); the core takes no
    # lists or numbers as matrices and says so with a TypeError naming A
    rule_kind = "mat" if arg in ("A", "M") and ss.issparse(value) else (
        "none" if arg == "A" and isinstance(value, int | float | list) else kind)
    # iterative results agree to the solvers' tolerance (both stop at a residual of
    # 1e-12 * |b| on a matrix of condition number about 2), not bitwise; dtypes may differ:
    # SciPy drops a complex x0's imaginary part (ComplexWarning), ours solves in complex
    # (SciPy's lsqr/lsmr run their recurrences on a float16/float32 b in that dtype)
    check_core(ours, theirs, rule_kind, check=_solution_check(name, arg, value),
               dtype_too=False, rtol={"vec_f16": 1e-2, "vec_f32": 1e-5}.get(kind, 1e-8))


@given(name=st.sampled_from(("cg", "gmres", "spsolve", "lsqr")),
       kind=st.sampled_from(KINDS))
def test_dropin_solvers_match_scipy_exactly(name, kind):
    b = operand(kind, NS)
    A = sp.csr_array(_SQUARE)
    S = ss.csr_array(_SQUARE)
    kw = {"rtol": 1e-12} if name in ("cg", "gmres") else {}
    check_dropin(lambda: getattr(spl, name)(A, b, **kw),
                 lambda: getattr(ssl, name)(S, b, **kw))


@pytest.mark.parametrize("kind", ["none", "str", "object", "three_d", "vec_short", "zero_d"])
def test_sharded_products_refuse_bad_operands_cleanly(kind):
    """A ShardedCSR over 2 devices: the same refusals, by name, as the core (before the
    fix, unshard_vector(None / "abc" / 0-d) raised AttributeError / IndexError and
    As * "abc" NumPy's "Only integer scalar arrays can be converted")."""
    import jaxsparse.sharding as jsh

    mesh = jax.make_mesh((2,), ("x",), devices=jax.devices()[:2])
    As = jsh.shard(ss.csr_array(_SQUARE), mesh, "x")
    v = operand(kind, NS)
    for fn in (lambda: As @ v, lambda: v @ As, lambda: As.T @ v, lambda: As.shard_vector(v),
               lambda: As.unshard_vector(v), lambda: jl.cg(As, v)):
        _, err = _run(fn)
        assert isinstance(err, _CLEAN), f"not a clean refusal: {err!r}"
        assert _names_rule(err), err
    if kind != "zero_d":  # a 0-d array is a scalar: As * array(2.0) scales
        _, err = _run(lambda: As * v)
        assert isinstance(err, TypeError) and "scalar" in str(err), err


# -- defects these fuzzers found, pinned (each was a raw or wrong error, or an answer) ---
_ROW = js.CSR.from_scipy(ss.csr_array(_DENSE[:1]))
_B = np.ones(NS)
FOUND = {
    # None reached jnp.asarray: "None is not a valid value for jnp.array", naming nothing
    "A + None": (lambda: _core("csr", _DENSE, np.float64) + None, TypeError, "b must be"),
    "A @ None": (lambda: _core("csr", _DENSE, np.float64) @ None, TypeError, "must be"),
    # matmul took np.ndim of a list: NumPy's "inhomogeneous shape" ValueError, unnamed
    "A @ ragged list": (lambda: _core("csr", _DENSE, np.float64) @ [[1.0, 2.0], [3.0]],
                        ValueError, "b is not a valid array"),
    # a 3-D dense operand broadcast silently to a 3-D sum (SciPy refuses: ValueError)
    "A + 3-D": (lambda: _core("coo", _DENSE, np.float64) + np.ones((2, N, M)), ValueError,
                "sparse shape"),
    # a dense operand larger than the sparse one broadcast it up (SciPy refuses)
    "row + full": (lambda: _ROW + np.ones((N, M)), ValueError, "sparse shape"),
    # incompatible shapes: JAX's TypeError from inside jnp.add / jnp.maximum
    "A - wrong": (lambda: _core("dia", _DENSE, np.float64) - np.ones((3, 2)), ValueError,
                  "must broadcast"),
    "maximum wrong": (lambda: _core("csr", _DENSE, np.float64).maximum(np.ones((3, 2))),
                      ValueError, "do not broadcast"),
    # gmres read b's length before any check: IndexError "tuple index out of range"
    "gmres(A, None)": (lambda: jl.gmres(_A_CORE, None), TypeError, "b must be"),
    "gmres(A, 2.0)": (lambda: jl.gmres(_A_CORE, 2.0), ValueError, "b must be 1-D"),
    # object/str arrays reached tracing: "Error interpreting argument to stage ..."
    "cg(A, object b)": (lambda: jl.cg(_A_CORE, _B.astype(object)), TypeError, "b must"),
    "cg(M=object)": (lambda: jl.cg(_A_CORE, _B, M=np.eye(NS).astype(object)), TypeError,
                     "M must"),
    "cg(x0=str)": (lambda: jl.cg(_A_CORE, _B, x0="abc"), TypeError, "x0 must"),
    "spsolve(A, object b)": (lambda: jl.spsolve(_A_CORE, _B.astype(object)), TypeError,
                             "b must"),
    "lsqr(A, str)": (lambda: jl.lsqr(_A_CORE, "abc"), TypeError, "b must"),
    # a vector rtol / string maxiter: "cond_fun must return a boolean scalar" from JAX
    "cg(rtol=vector)": (lambda: jl.cg(_A_CORE, _B, rtol=np.full(NS, 1e-8)), ValueError,
                        "rtol must be a scalar"),
    "cg(maxiter=str)": (lambda: jl.cg(_A_CORE, _B, maxiter="ten"), TypeError, "maxiter"),
    "minres(shift=str)": (lambda: jl.minres(_A_CORE, _B, shift="x"), TypeError, "shift"),
    # a float maxiter ran (SciPy: range(maxiter) refuses it)
    "cg(maxiter=0.5)": (lambda: jl.cg(_A_CORE, _B, maxiter=np.array(0.5)), TypeError,
                        "maxiter must be an integer"),
    # a 1-D array as the triangular matrix: TypeError where SciPy raises ValueError
    "spsolve_triangular(1-D A)": (lambda: jl.spsolve_triangular(_B, _B), ValueError,
                                  "A must be 2-D"),
}


@pytest.mark.parametrize("case", sorted(FOUND))
def test_found_defects_refuse_by_name(case):
    fn, exc, words = FOUND[case]
    with pytest.raises(exc, match=words):
        fn()
