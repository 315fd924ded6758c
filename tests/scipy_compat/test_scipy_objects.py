"""The drop-in's matrices are SciPy's objects: consumers accept them, their arrays are
writable NumPy with a device copy that never goes stale, results follow the operand's
type, and work is routed by cost."""

from __future__ import annotations

import pickle
import warnings

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.io
import scipy.sparse as ss
import scipy.sparse.csgraph as csgraph
import scipy.sparse.linalg as ssl

import jaxsparse.scipy_compat as sp


def _poisson(n):
    return ss.diags_array([-np.ones(n - 1), 2.5 * np.ones(n), -np.ones(n - 1)],
                          offsets=[-1, 0, 1], format="csr")


@pytest.fixture
def on_device():
    """Route every product to the device (as for a large matrix)."""
    sp.set_device_min_nnz(0)
    yield
    sp.set_device_min_nnz(None)


def _has_device_copy(A) -> bool:
    return "_device" in A.__dict__


# -- SciPy's own objects ------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc", "coo", "dia", "bsr", "lil", "dok"])
@pytest.mark.parametrize("kind", ["array", "matrix"])
def test_classes_are_scipy_classes(fmt, kind):
    A = getattr(sp, f"{fmt}_{kind}")(np.eye(3))
    base = getattr(ss, f"{fmt}_{kind}")
    assert isinstance(A, base) and ss.issparse(A)
    assert isinstance(A, ss.sparray if kind == "array" else ss.spmatrix)
    again = base(A)  # SciPy's own constructor takes it
    np.testing.assert_array_equal(again.toarray(), np.eye(3))
    assert type(A.tocsr()) is getattr(sp, f"csr_{kind}")  # results stay drop-in


def test_every_public_name_of_scipy_sparse_resolves():
    for name in ss.__all__:
        assert hasattr(sp, name), name
    for name in ssl.__all__:
        assert hasattr(sp.linalg, name), name
    for name in csgraph.__all__:
        assert hasattr(sp.csgraph, name), name
    assert sp.linalg.MatrixRankWarning is ssl.MatrixRankWarning


def test_forwarded_functions_give_drop_in_results():
    A = sp.csr_array(_poisson(5))
    K = sp.kron(A, ss.eye_array(2))
    assert type(K) is getattr(sp, type(ss.kron(_poisson(5), ss.eye_array(2))).__name__)
    assert type(ss.hstack([A, ss.eye_array(5)], format="csr")).__module__.startswith("scipy")
    assert type(sp.hstack([A, ss.eye_array(5)], format="csr")) is sp.csr_array
    assert type(sp.random_array((4, 4), density=0.5, rng=0)) is sp.coo_array
    r, c, v = sp.find(A)
    assert all(isinstance(a, np.ndarray) for a in (r, c, v))
    L = sp.csgraph.laplacian(A)
    assert type(L) is getattr(sp, type(csgraph.laplacian(_poisson(5))).__name__)


def test_laplacian_nd_gives_drop_in_matrices():
    L, R = sp.linalg.LaplacianNd((3, 4)), ssl.LaplacianNd((3, 4))
    S = L.tosparse()
    assert type(S) is getattr(sp, type(R.tosparse()).__name__)
    np.testing.assert_array_equal(S.toarray(), R.tosparse().toarray())
    assert type(L.toarray()) is np.ndarray
    np.testing.assert_array_equal(L.toarray(), R.toarray())


# -- storage: writable NumPy, and a device copy that is never stale -----------------------
def test_arrays_are_writable_numpy_and_writes_reach_the_next_product(on_device):
    S = _poisson(6)
    A = sp.csr_array(S)
    x = np.arange(6.0)
    np.testing.assert_allclose(A @ x, S @ x)
    assert _has_device_copy(A)
    for _ in range(3):
        A @ x  # a loop of products keeps the one upload
    assert _has_device_copy(A)
    assert isinstance(A.data, np.ndarray) and A.data.flags.writeable
    A.data[0] = 7.0  # through the handed-out array
    S.data[0] = 7.0
    np.testing.assert_allclose(A @ x, S @ x)
    A.data[A.data < 0] = 0.0  # NumPy idiom: prune small values in place
    S.data[S.data < 0] = 0.0
    np.testing.assert_allclose(A @ x, S @ x)
    A.setdiag(1.0)  # a SciPy method that rewrites the arrays
    S.setdiag(1.0)
    np.testing.assert_allclose(A @ x, S @ x)
    A[0, 5] = 3.0  # item assignment (a structural change)
    S2 = S.tolil()
    S2[0, 5] = 3.0
    np.testing.assert_allclose(A @ x, S2.tocsr() @ x)


@pytest.mark.parametrize("one_device", [True, False])
@pytest.mark.parametrize("k", [None, 3])
def test_large_results_are_the_device_buffer_made_writable_and_stay_independent(
        on_device, monkeypatch, k, one_device):
    """A large result on one CPU device is handed to NumPy without a copy (``_device.
    writable_result``): it must still be writable, correct, alive after everything else
    is gone, and writing into it must reach nothing else (x, the matrix, later
    results). A result sharded over several devices is gathered: a copy."""
    from jaxsparse.scipy_compat import _device
    from jaxsparse.sharding import _default

    if one_device:
        monkeypatch.setattr(_default, "_default", None)  # set_default_mesh(None)

    n = 2 * _device.ADOPT_MIN_BYTES // 8  # float64 results of 2 MB (per column)
    S = _poisson(n)
    A = sp.csr_array(S)
    x = np.linspace(0.0, 1.0, n) if k is None else np.ones((n, k)) * np.arange(1, k + 1)
    x_before = x.copy()
    y = A @ x
    assert isinstance(y, np.ndarray) and y.flags.writeable and y.flags.c_contiguous
    assert y.flags.owndata is not one_device  # one device: the buffer itself
    want = S @ x
    np.testing.assert_allclose(y, want, rtol=1e-15)
    y[...] = -1.0  # the user's to write
    np.testing.assert_array_equal(x, x_before)
    np.testing.assert_allclose(A @ x, want, rtol=1e-15)
    np.testing.assert_allclose(x @ A.T if k is None else (A @ x), want, rtol=1e-15)
    y2 = A @ x
    del A
    import gc

    gc.collect()
    for _ in range(3):  # freed buffers get reused by later computations
        jnp.ones(n).block_until_ready()
        (jnp.arange(n, dtype=jnp.float64) * 3).block_until_ready()
    np.testing.assert_allclose(y2, want, rtol=1e-15)
    assert (y == -1.0).all()


def test_a_result_that_is_an_input_is_copied():
    """A result can be an input passed through (an eager ``.T`` of a vector), and the CPU
    device may read a 64-byte-aligned NumPy array in place: NumPy must then get a copy,
    or writing the result would write the user's x."""
    import mmap

    from jaxsparse.scipy_compat import _device

    n = 2 * _device.ADOPT_MIN_BYTES // 8
    x = np.frombuffer(mmap.mmap(-1, 8 * n), np.float64)
    x[:] = 1.0
    xd = jax.device_put(x)
    same = xd.T  # an eager pass-through: the same buffer
    assert same.unsafe_buffer_pointer() == xd.unsafe_buffer_pointer()
    out = _device.writable_result(same, xd)
    out[:] = 5.0
    assert (x == 1.0).all() and (np.asarray(xd) == 1.0).all()


def test_a_third_party_write_is_seen():
    """scikit-learn's normalize(copy=False) writes into A.data from compiled code."""
    S = ss.random_array((30, 20), density=0.3, format="csr", rng=1)
    A = sp.csr_array(S.copy())  # (SciPy's constructor shares the arrays it is given)
    sp.set_device_min_nnz(0)
    try:
        x = np.ones(20)
        A @ x
        A.data *= 2.0  # in-place ufunc on the handed-out array
        np.testing.assert_allclose(A @ x, 2.0 * (S @ x))
    finally:
        sp.set_device_min_nnz(None)


def test_read_only_methods_keep_the_device_copy(on_device):
    A = sp.csr_array(_poisson(8))
    A @ np.ones(8)
    A.nnz, A.dtype, A.shape, repr(A), A.sum(), A.toarray()  # noqa: B018
    assert _has_device_copy(A)


def test_pickle_and_copy_keep_the_class_and_not_the_device_copy(on_device):
    A = sp.csr_array(_poisson(5))
    A @ np.ones(5)
    B = pickle.loads(pickle.dumps(A))
    assert type(B) is sp.csr_array and not _has_device_copy(B)
    np.testing.assert_array_equal(B.toarray(), A.toarray())
    assert type(A.copy()) is sp.csr_array


# -- results follow the operand's type ---------------------------------------------------
@pytest.mark.parametrize("device", [False, True], ids=["host", "device"])
def test_products_return_what_the_operand_is(device):
    sp.set_device_min_nnz(0 if device else None)
    try:
        S = _poisson(7)
        A = sp.csr_array(S)
        x = np.arange(7.0)
        y = A @ x
        assert type(y) is np.ndarray and y.flags.writeable
        y[0] = 0.0  # FEM codes zero boundary rows of the result
        np.testing.assert_allclose(x @ A, x @ S)
        assert type(x @ A) is np.ndarray
        X = np.ones((7, 2))
        assert type(A @ X) is np.ndarray and (A @ X).shape == (7, 2)
        yj = A @ jnp.asarray(x)
        assert isinstance(yj, jax.Array)
        np.testing.assert_allclose(np.asarray(yj), S @ x)
        M = sp.csr_matrix(S)
        assert isinstance(M * np.asmatrix(x).T, np.matrix)
    finally:
        sp.set_device_min_nnz(None)


def test_solvers_return_what_b_is():
    S = _poisson(40)
    b = np.linspace(0, 1, 40)
    A = sp.csr_array(S)
    x, info = sp.linalg.cg(A, b, rtol=1e-10)
    assert type(x) is np.ndarray and info == 0
    xj, info = sp.linalg.cg(A, jnp.asarray(b), rtol=1e-10)
    assert isinstance(xj, jax.Array) and int(info) == 0
    np.testing.assert_allclose(np.asarray(xj), ssl.spsolve(S.tocsc(), b), rtol=1e-7)
    sp.set_solver_min_nnz(0)  # a large problem: jaxsparse's solver, NumPy out
    try:
        x, info = sp.linalg.cg(A, b, rtol=1e-10)
        assert type(x) is np.ndarray and x.flags.writeable and info == 0
        assert _has_device_copy(A)
    finally:
        sp.set_solver_min_nnz(None)
    np.testing.assert_allclose(x, ssl.spsolve(S.tocsc(), b), rtol=1e-7)


# -- routing by cost ---------------------------------------------------------------------
def test_small_products_and_structural_work_stay_on_the_host():
    A = sp.csr_array(_poisson(50))
    A @ np.ones(50)
    (A.T @ A).tocsc()[3:9, :]
    assert not _has_device_copy(A)  # nothing was uploaded, nothing compiled


@pytest.mark.parametrize("name, env, default", [
    ("device_min_nnz", "JAXSPARSE_DEVICE_MIN_NNZ", 2_000_000),
    ("solver_min_nnz", "JAXSPARSE_SOLVER_MIN_NNZ", 1_000_000)])
def test_routing_threshold_settings(monkeypatch, name, env, default):
    get, put = getattr(sp, name), getattr(sp, "set_" + name)
    assert get() == default
    monkeypatch.setenv(env, "10")
    assert get() == 10
    put(5)
    assert get() == 5
    put(None)
    monkeypatch.setenv(env, "lots")
    with pytest.raises(ValueError, match=f"{env} must be an integer"):
        get()
    monkeypatch.delenv(env)  # read on every call, removal included
    assert get() == default
    with pytest.raises(ValueError, match="non-negative"):
        put(-1)


def test_small_solves_run_scipys_solver_and_large_ones_jaxsparses(monkeypatch):
    S = _poisson(40)
    A = sp.csr_array(S)
    b = np.ones(40)
    sp.linalg.cg(A, b)
    assert not _has_device_copy(A)  # SciPy's own cg: nothing uploaded or compiled
    monkeypatch.setenv("JAXSPARSE_SOLVER_MIN_NNZ", str(A.nnz))
    x, info = sp.linalg.cg(A, b, rtol=1e-10)
    assert _has_device_copy(A) and info == 0
    np.testing.assert_allclose(x, ssl.spsolve(S.tocsc(), b), rtol=1e-7)


@pytest.mark.parametrize("solver", ["cg", "gmres", "lsqr"])
def test_small_solves_multiply_by_plain_scipy_views(monkeypatch, solver):
    """On the host path the solver gets plain SciPy arrays sharing the drop-in's arrays:
    its products skip the drop-in's per-product routing (a third of a small ``cg``
    iteration), and its results are SciPy's bit for bit. Preconditioners too."""
    S = _poisson(40)
    Mref = ss.csr_matrix(ss.diags_array(1 / S.diagonal()))
    A, M = sp.csr_array(S), sp.csr_matrix(Mref)
    b = np.arange(40.0)
    calls = []
    for cls in (type(A), type(M)):
        original = cls._matmul_dispatch

        def counted(self, other, original=original):
            calls.append(type(self).__name__)
            return original(self, other)

        monkeypatch.setattr(cls, "_matmul_dispatch", counted)
    kw = {} if solver == "lsqr" else {"M": M, "rtol": 1e-10}
    got = getattr(sp.linalg, solver)(A, b, **kw)
    ref = getattr(ssl, solver)(S, b, **({} if solver == "lsqr" else {"M": Mref,
                                                                      "rtol": 1e-10}))
    assert calls == []
    assert type(got[0]) is np.ndarray and not _has_device_copy(A)
    for g, r in zip(got[:2], ref[:2], strict=True):
        np.testing.assert_array_equal(g, r)
    np.testing.assert_array_equal(A @ b, S @ b)  # A itself is untouched and usable


def test_numpy_linear_operator_is_called_as_often_as_under_scipy():
    S = _poisson(30)
    b = np.ones(30)
    counts = {}

    def op(module, key):
        def matvec(v):
            counts[key] = counts.get(key, 0) + 1
            out = np.empty_like(v)
            out[:] = S @ v  # writes into a buffer: NumPy-only code
            return out

        return module.LinearOperator(S.shape, matvec=matvec, dtype=np.float64)

    x_ref, _ = ssl.gmres(op(ssl, "scipy"), b, rtol=1e-10)
    x, _ = sp.linalg.gmres(op(sp.linalg, "ours"), b, rtol=1e-10)
    assert counts["ours"] == counts["scipy"]
    np.testing.assert_allclose(x, x_ref)


def test_an_untraceable_operator_on_the_device_path_runs_on_the_host():
    """A jax.Array b selects the JAX solver; a NumPy-only matvec cannot be traced, so
    the solve runs as SciPy's, at the cost of the one failed (traced) call."""
    S = _poisson(30)
    calls = []

    def matvec(v):
        calls.append(1)
        out = np.empty(30)
        out[:] = S @ np.asarray(v)  # NumPy only: fails on a tracer
        return out

    op = sp.linalg.LinearOperator(S.shape, matvec=matvec, dtype=np.float64)
    x, info = sp.linalg.cg(op, jnp.ones(30), rtol=1e-10)
    assert info == 0
    np.testing.assert_allclose(S @ np.asarray(x), np.ones(30), atol=1e-8)
    ref_calls = []
    ssl.cg(ssl.LinearOperator(S.shape, matvec=lambda v: ref_calls.append(1) or S @ v,
                              dtype=np.float64), np.ones(30), rtol=1e-10)
    assert len(calls) == len(ref_calls) + 1


# -- JAX transformations ---------------------------------------------------------------
def test_jit_and_grad_through_a_drop_in_argument():
    S = _poisson(6)
    A = sp.csr_array(S)
    x = jnp.arange(6.0)
    np.testing.assert_allclose(jax.jit(lambda M, v: M @ v)(A, x), S @ np.arange(6.0))
    np.testing.assert_allclose(jax.jit(lambda M, v: v @ M.T)(A, x), S @ np.arange(6.0))
    g = jax.grad(lambda v: jnp.sum((A @ v) ** 2))(x)
    np.testing.assert_allclose(g, 2 * S.T @ (S @ np.arange(6.0)), rtol=1e-12)
    B = jax.jit(lambda M: M)(A)
    assert type(B) is sp.csr_array
    np.testing.assert_array_equal(B.toarray(), S.toarray())


# -- consumers -------------------------------------------------------------------------
def test_csgraph_and_scipy_linalg_accept_drop_in_matrices():
    S = _poisson(20)
    A = sp.csr_array(S)
    assert csgraph.connected_components(A)[0] == 1
    np.testing.assert_allclose(csgraph.shortest_path(abs(A)), csgraph.shortest_path(abs(S)))
    np.testing.assert_array_equal(csgraph.reverse_cuthill_mckee(A),
                                  csgraph.reverse_cuthill_mckee(S))
    b = np.ones(20)
    np.testing.assert_allclose(ssl.spsolve(A.tocsc(), b), ssl.spsolve(S.tocsc(), b))
    np.testing.assert_allclose(ssl.splu(A.tocsc()).solve(b), ssl.spsolve(S.tocsc(), b))
    np.testing.assert_allclose(ssl.cg(A, b, rtol=1e-10)[0], ssl.cg(S, b, rtol=1e-10)[0])
    np.testing.assert_allclose(np.sort(ssl.eigsh(A, k=3)[0]), np.sort(ssl.eigsh(S, k=3)[0]))
    assert ssl.norm(A) == pytest.approx(ssl.norm(S))
    assert ssl.aslinearoperator(A).matvec(b).shape == (20,)
    np.testing.assert_allclose(np.sort(ssl.svds(A, k=2, random_state=0)[1]),
                               np.sort(ssl.svds(S, k=2, random_state=0)[1]))
    np.testing.assert_allclose(ssl.gmres(A, b, rtol=1e-10)[0], ssl.gmres(S, b, rtol=1e-10)[0])
    K = ss.kron(A, ss.eye_array(2), format="csr")  # SciPy's functions on mixed inputs
    np.testing.assert_array_equal(K.toarray(), ss.kron(S, ss.eye_array(2)).toarray())


def test_index_dtypes_follow_scipy():
    rows, cols = np.array([0, 2], np.int64), np.array([1, 0], np.int64)
    ours = sp.coo_array(([1.0, 2.0], (rows, cols)), shape=(3, 3)).tocsr()
    theirs = ss.coo_array(([1.0, 2.0], (rows, cols)), shape=(3, 3)).tocsr()
    assert ours.indices.dtype == theirs.indices.dtype
    assert ours.indptr.dtype == theirs.indptr.dtype


def test_scipy_io_round_trips(tmp_path):
    A = sp.csr_array(_poisson(6))
    scipy.io.mmwrite(tmp_path / "a.mtx", A)
    np.testing.assert_array_equal(scipy.io.mmread(tmp_path / "a.mtx").toarray(), A.toarray())
    scipy.io.savemat(tmp_path / "a.mat", {"A": A})
    back = scipy.io.loadmat(tmp_path / "a.mat")["A"]
    np.testing.assert_array_equal(back.toarray(), A.toarray())  # data, not None
    for cls in (sp.csr_array, sp.csr_matrix, sp.coo_array):
        ss.save_npz(tmp_path / "a.npz", cls(A))
        assert type(sp.load_npz(tmp_path / "a.npz")) is cls
        assert type(ss.load_npz(tmp_path / "a.npz")).__name__ == cls.__name__


def test_scikit_learn_accepts_drop_in_matrices():
    sklearn = pytest.importorskip("sklearn", reason="scikit-learn is a test extra")
    from sklearn.decomposition import TruncatedSVD
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import NearestNeighbors
    from sklearn.preprocessing import StandardScaler, normalize
    from sklearn.utils import check_array

    del sklearn
    S = ss.random_array((60, 12), density=0.3, format="csr", rng=2)
    A = sp.csr_array(S)
    assert ss.issparse(check_array(A, accept_sparse="csr"))
    B = A.copy()
    normalize(B, copy=False)  # writes into B.data in place
    np.testing.assert_allclose(B.toarray(), normalize(S).toarray())
    np.testing.assert_allclose(TruncatedSVD(3, random_state=0).fit_transform(A),
                               TruncatedSVD(3, random_state=0).fit_transform(S))
    np.testing.assert_allclose(StandardScaler(with_mean=False).fit_transform(A).toarray(),
                               StandardScaler(with_mean=False).fit_transform(S).toarray())
    y = (np.arange(60) % 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        np.testing.assert_allclose(LogisticRegression().fit(A, y).coef_,
                                   LogisticRegression().fit(S, y).coef_)
    np.testing.assert_array_equal(NearestNeighbors(n_neighbors=3).fit(A).kneighbors(A)[1],
                                  NearestNeighbors(n_neighbors=3).fit(S).kneighbors(S)[1])


def test_pyamg_solves_a_drop_in_matrix():
    pyamg = pytest.importorskip("pyamg", reason="pyamg is a test extra")
    S = pyamg.gallery.poisson((20, 20), format="csr")
    A = sp.csr_array(S)
    b = np.ones(A.shape[0])
    x = pyamg.ruge_stuben_solver(A).solve(b, tol=1e-10)
    np.testing.assert_allclose(S @ x, b, atol=1e-7)


def test_networkx_reads_drop_in_matrices():
    nx = pytest.importorskip("networkx", reason="networkx is a test extra")
    A = sp.csr_array(_poisson(10))
    G = nx.from_scipy_sparse_array(A)
    assert G.number_of_nodes() == 10 and G.number_of_edges() == 19
    back = nx.to_scipy_sparse_array(G)
    np.testing.assert_allclose(back.toarray(), A.toarray())
    row_sums = A.sum(axis=1)
    assert type(row_sums) is np.ndarray and row_sums.flags.writeable
    row_sums[row_sums != 0] = 1.0 / row_sums[row_sums != 0]  # PageRank writes into it
    ranks = nx.pagerank(nx.from_scipy_sparse_array(abs(A)))
    assert len(ranks) == 10 and sum(ranks.values()) == pytest.approx(1.0)


def test_device_copy_first_made_inside_a_trace_outlives_it():
    """A drop-in matrix first multiplied inside ``jit`` (a solver's right-hand side)
    builds its device copy from concrete arrays: a later trace reuses the copy instead
    of meeting the first trace's leaked tracers."""
    S = _poisson(6)
    A = sp.csr_array(S)
    x = np.arange(S.shape[0], dtype=float)
    np.testing.assert_allclose(jax.jit(lambda v: A @ v)(jnp.asarray(x)), S @ x)
    np.testing.assert_allclose(jax.jit(lambda v: 2 * (A @ v))(jnp.asarray(x)), 2 * (S @ x))
    np.testing.assert_allclose(A @ x, S @ x)  # and eagerly
