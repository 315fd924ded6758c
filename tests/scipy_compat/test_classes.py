"""The drop-in classes beyond value conformance: isinstance, constructors, validation,
attribute assignment, mutation (and its refusal under jit), pytrees."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as ss
from _same import assert_same

import jaxsparse.scipy_compat as sp

D = np.array([[1.0, 0, 2], [0, 0, 3], [4, 0, 0]])


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "bsr"])
def test_isinstance_and_constructors(fmt):
    arr, mat = getattr(sp, f"{fmt}_array"), getattr(sp, f"{fmt}_matrix")
    A, M = arr(D), mat(D)
    assert isinstance(A, sp.sparray) and not isinstance(A, sp.spmatrix)
    assert isinstance(M, sp.spmatrix) and not isinstance(M, sp.sparray)
    for src in (D.tolist(), jnp.asarray(D), getattr(ss, f"{fmt}_array")(D), A, M,
                ss.csr_matrix(D)):
        B = arr(src)
        np.testing.assert_array_equal(np.asarray(B.toarray()), D)
        assert B.format == fmt
    E = arr((2, 3), dtype=np.int64)
    assert E.shape == (2, 3) and E.nnz == 0 and E.dtype == np.int64
    assert arr(D, dtype=np.complex128).dtype == np.complex128


@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "bsr"])
def test_constructors_run_scipy_on_plain_attributes(fmt, monkeypatch):
    """SciPy's constructor runs on its own class, whose arrays are plain attributes, and
    the drop-in takes them over: none of its many reads of data/indices/indptr goes
    through the drop-in's stored-array descriptors (which doubled a small CSR's
    construction time). The object still holds SciPy's arrays, and SciPy's values."""
    from jaxsparse.scipy_compat import _device

    S = getattr(ss, f"{fmt}_array")(D)
    parts = {"coo": lambda: ((S.data, S.coords),), "dia": lambda: ((S.data, S.offsets),)}
    args = parts.get(fmt, lambda: ((S.data, S.indices, S.indptr),))()
    reads = []
    real_get = _device.Stored.__get__
    monkeypatch.setattr(_device.Stored, "__get__",
                        lambda self, obj, objtype=None: (reads.append(self.name),
                                                         real_get(self, obj, objtype))[1])
    A = getattr(sp, f"{fmt}_array")(*args, shape=S.shape)
    assert reads == []
    assert np.shares_memory(A.data, S.data)  # shared, as SciPy's constructor shares them
    assert reads == ["data"]
    np.testing.assert_array_equal(A.toarray(), D)


def test_tuple_forms_and_shape_inference():
    A = sp.csr_array(([1.0, 2, 3], [0, 2, 1], [0, 2, 2, 3]))
    S = ss.csr_array(([1.0, 2, 3], [0, 2, 1], [0, 2, 2, 3]))
    assert A.shape == S.shape
    C = sp.coo_array(([1.0, 2, 5], ([0, 0, 1], [1, 1, 2])), shape=(2, 3))
    assert C.nnz == 3  # duplicates kept in COO
    R = sp.csr_array(([1.0, 2, 5], ([0, 0, 1], [1, 1, 2])), shape=(2, 3))
    assert R.nnz == 2 and np.asarray(R.data).tolist() == [3.0, 5.0]  # summed, as SciPy
    V = sp.coo_array(([1.0, 2.0], ([0, 3],)), shape=(5,))
    assert V.shape == (5,) and V.ndim == 1
    G = sp.dia_array(([[1.0, 2, 3], [4, 5, 6]], [0, 1]), shape=(3, 3))
    np.testing.assert_array_equal(
        np.asarray(G.toarray()), ss.dia_array(([[1.0, 2, 3], [4, 5, 6]], [0, 1]),
                                              shape=(3, 3)).toarray())
    blocks = np.arange(8.0).reshape(2, 2, 2)
    B = sp.bsr_array((blocks, [0, 1], [0, 1, 2]), shape=(4, 4))
    assert B.blocksize == (2, 2)
    np.testing.assert_array_equal(
        np.asarray(B.toarray()),
        ss.bsr_array((blocks, [0, 1], [0, 1, 2]), shape=(4, 4)).toarray())
    assert sp.bsr_array(np.eye(4), blocksize=(2, 2)).blocksize == (2, 2)


def test_validation_is_stricter_than_scipy():
    # SciPy's default check skips index bounds and indptr order (and its compiled code
    # then trusts them); a drop-in constructor called by user code checks fully.
    ss.csr_array(([1.0], [5], [0, 1]), shape=(1, 3))  # SciPy accepts this
    with pytest.raises(ValueError, match="indices"):
        sp.csr_array(([1.0], [5], [0, 1]), shape=(1, 3))
    with pytest.raises(ValueError, match="indptr"):
        sp.csr_array(([1.0, 2.0], [0, 1], [0, 2, 1]), shape=(2, 3))
    with pytest.raises(ValueError, match="index 4 exceeds"):
        sp.coo_array(([1.0], ([4], [0])), shape=(2, 2))


def test_data_assignment_and_mutation():
    A = sp.csr_array(D)
    A.data = A.data * 2
    np.testing.assert_array_equal(np.asarray(A.toarray()), 2 * D)
    A.data *= 0.5
    np.testing.assert_array_equal(np.asarray(A.toarray()), D)
    A.data = np.array([1.0, 0.0, 3.0, 4.0])
    assert A.eliminate_zeros() is None and A.nnz == 3
    C = sp.coo_array(([1.0, 2, 5], ([0, 0, 1], [1, 1, 2])), shape=(2, 3))
    assert C.sum_duplicates() is None
    assert C.nnz == 2 and C.has_canonical_format


def test_mutation_refused_under_jit_and_pytree():
    A = sp.csr_array(D)

    @jax.jit
    def f(A, x):
        return A @ x, (2 * A).data

    y, data = f(A, jnp.ones(3))
    np.testing.assert_allclose(np.asarray(y), D @ np.ones(3))
    np.testing.assert_allclose(np.asarray(data), 2 * np.asarray(A.data))

    @jax.jit
    def g(A):
        A.sum_duplicates()
        return A.data

    with pytest.raises(TypeError, match="jit"):
        g(A)
    leaves, tree = jax.tree_util.tree_flatten(A)
    B = jax.tree_util.tree_unflatten(tree, leaves)
    assert type(B) is sp.csr_array


def test_matrix_semantics():
    M = sp.csr_matrix(D)
    S = ss.csr_matrix(D)
    assert isinstance(M.todense(), np.matrix)
    np.testing.assert_allclose(np.asarray((M * M).toarray()), (S * S).toarray())
    assert isinstance(M.sum(axis=0), np.matrix) and M.sum(axis=0).shape == (1, 3)
    assert M.max(axis=1).shape == (3, 1)
    A = sp.csr_array(D)
    m = A.max(axis=0)
    assert isinstance(m, sp.coo_array) and m.shape == (3,)
    assert np.linalg.norm(A @ np.ones(3)) == pytest.approx(np.linalg.norm(D @ np.ones(3)))


@pytest.mark.parametrize("kind", ["array", "matrix"])
def test_dense_results_are_writable_numpy_as_scipys(kind):
    A, S = getattr(sp, f"csr_{kind}")(D), getattr(ss, f"csr_{kind}")(D)
    dense = A.toarray(order="F")
    assert type(dense) is type(S.toarray()) is np.ndarray
    assert dense.flags.f_contiguous and dense.flags.writeable
    dense[0, 1] = 7.0  # SciPy programs edit the dense copy in place
    np.testing.assert_array_equal(A.toarray(), D)
    assert type(A.todense()) is type(S.todense())
    out = np.zeros((3, 3))
    assert A.toarray(out=out) is out and np.array_equal(out, D)
    traced = jax.jit(lambda M: M.toarray())(A)
    np.testing.assert_array_equal(traced, D)
    with pytest.raises(TypeError, match="out="):
        jax.jit(lambda M: M.toarray(out=np.zeros((3, 3))))(A)


@pytest.mark.parametrize("fmt", ["lil", "dok"])
@pytest.mark.parametrize("kind", ["array", "matrix"])
def test_lil_and_dok_assemble_drop_in_matrices(fmt, kind):
    """SciPy's assembly idiom: build in LIL/DOK, convert, multiply."""
    A = getattr(sp, f"{fmt}_{kind}")((3, 3))
    S = getattr(ss, f"{fmt}_{kind}")((3, 3))
    for M in (A, S):
        M[0, 1] = 2.0
        M[2, 2] = -1.0
    assert type(A).__name__ == type(S).__name__ and isinstance(A, type(S))
    C = A.tocsr()
    assert type(C) is getattr(sp, f"csr_{kind}")
    assert_same(C, S.tocsr())
    back = getattr(sp.csr_array(D), "to" + fmt)()
    assert type(back) is getattr(sp, f"{fmt}_array")
    np.testing.assert_array_equal(back.toarray(), D)


@pytest.fixture
def one_device():
    """No default mesh: large matrices stay on one device."""
    from jaxsparse import sharding

    sharding.set_default_mesh(None)
    yield
    sharding._default._default = sharding._default._UNSET


@pytest.mark.parametrize("backend", ["xla", "native"])
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("pattern", ["random", "banded"])
def test_large_compressed_matrices_multiply_through_a_cached_view(one_device, fmt, backend,
                                                                   pattern, monkeypatch):
    """A banded pattern multiplies through a cached DIA view (its diagonals move fewer
    bytes than CSR), on either backend. A random one: on the xla backend a cached COO
    view (row ids stored once); with the native CPU kernels, which walk indptr
    themselves, the core itself. Cached either way; a mutation drops the cache."""
    from jaxsparse.formats import COO, DIA
    from jaxsparse.ops import _dispatch
    from jaxsparse.scipy_compat._product_view import MIN_COO_VIEW_NNZ, MIN_DIA_VIEW_NNZ

    if backend not in _dispatch.available("csr_matmul"):
        pytest.skip(f"the {backend} backend is not built here")
    monkeypatch.setattr(_dispatch, "pick", lambda op, b=None: b or backend)
    if pattern == "random":
        S = ss.random_array((300, 200), density=0.1, format=fmt, rng=0)
    else:  # 7 diagonals of a rectangular band: 56 bytes a column against CSR's ~88
        rng = np.random.default_rng(0)
        S = ss.diags_array([rng.standard_normal(700) for _ in range(-3, 4)],
                           offsets=range(-3, 4), shape=(800, 700)).asformat(fmt)
    assert S.nnz >= max(MIN_COO_VIEW_NNZ, MIN_DIA_VIEW_NNZ)
    A = getattr(sp, f"{fmt}_array")(S)
    n, m = S.shape
    x, X, y = np.arange(float(m)), np.ones((m, 3)), np.arange(float(n))
    np.testing.assert_allclose(np.asarray(A @ x), S @ x, rtol=1e-13)
    view = A._operator()
    if pattern == "banded":
        assert isinstance(view, DIA) and view.shape == S.shape
        assert sorted(np.asarray(view.offsets).tolist()) == list(range(-3, 4))
    elif backend == "xla":
        assert isinstance(view, COO) and view.data is A._core.data  # shared, not copied
    else:
        assert view is A._core
    assert A._operator() is view  # built once
    np.testing.assert_allclose(np.asarray(A @ X), S @ X, rtol=1e-13)
    np.testing.assert_allclose(np.asarray(y @ A), y @ S, rtol=1e-13)
    A.data = A.data * 2  # a mutation drops the cache: it must not answer any more
    assert A._operator() is not view
    np.testing.assert_allclose(np.asarray(A @ x), 2 * (S @ x), rtol=1e-13)
    small = getattr(sp, f"{fmt}_array")(D)
    assert small._operator() is small._core
