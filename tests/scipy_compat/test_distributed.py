"""Transparent distribution: an unmodified SciPy program runs sharded over the mesh."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.sparse as ss
from jax.sharding import AxisType

import jaxsparse as js
import jaxsparse.scipy_compat as sp
from jaxsparse import sharding
from jaxsparse.sharding import ShardedCSR


@pytest.fixture
def small_threshold(monkeypatch):
    """Shard even tiny matrices, over a 4-device Auto mesh (the drop-in's default kind)."""
    monkeypatch.setattr(sharding._default, "MIN_SHARDED_NNZ", 1)
    monkeypatch.setattr(sharding, "MIN_SHARDED_NNZ", 1)
    mesh = jax.make_mesh((4,), ("x",), axis_types=(AxisType.Auto,))
    js.set_default_mesh(mesh)
    sp.set_device_min_nnz(0)  # and route even tiny NumPy products and solves to JAX
    sp.set_solver_min_nnz(0)
    yield mesh
    sp.set_device_min_nnz(None)
    sp.set_solver_min_nnz(None)
    sharding._default._default = sharding._default._UNSET


def _cached_operator(A):
    """The product operator the drop-in has cached for A (None: none yet)."""
    return A.__dict__.get("_device", {}).get("operator")


def _poisson(n):
    return ss.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)],
                          offsets=[-1, 0, 1], format="csr")


def test_default_mesh_uses_every_device_with_auto_axes():
    sharding._default._default = sharding._default._UNSET
    mesh = js.sharding.default_mesh()
    assert mesh is not None and mesh.devices.size == len(jax.devices())
    assert mesh.axis_types == (AxisType.Auto,)
    js.set_default_mesh(None)
    assert js.sharding.default_mesh() is None
    sharding._default._default = sharding._default._UNSET
    with pytest.raises(TypeError, match="mesh must be a jax.sharding.Mesh"):
        js.set_default_mesh("all")


def test_products_of_large_matrices_run_sharded_and_mutation_invalidates(small_threshold):
    S = _poisson(30)
    A = sp.csr_array(S)
    x = np.arange(30.0)
    np.testing.assert_allclose(np.asarray(A @ x), S @ x)
    assert isinstance(A._operator(), ShardedCSR)
    first = A._operator()
    assert A._operator() is first  # cached, not re-planned per product
    A.setdiag(5.0)  # mutation: the sharded copy must not answer any more
    S2 = S.tolil()
    S2.setdiag(5.0)
    np.testing.assert_allclose(np.asarray(A @ x), S2.tocsr() @ x)
    assert A._operator() is not first


def test_small_matrices_stay_on_one_device():
    A = sp.csr_array(_poisson(10))
    assert not isinstance(A._operator(), ShardedCSR)


def test_unmodified_power_iteration_runs_distributed(small_threshold):
    def program(sp_module, S):
        A = sp_module.csr_array(S)
        x = np.ones(A.shape[1])
        for _ in range(20):
            x = A @ x
            x = x / np.linalg.norm(x)
        return np.asarray(x)

    S = _poisson(40) + ss.eye_array(40) * 0.1
    expected = program(ss, S)
    got = program(sp, S)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_unmodified_solver_program_runs_distributed(small_threshold):
    import scipy.sparse.linalg as ssl

    S = _poisson(48)
    b = np.linspace(-1.0, 1.0, 48)
    A = sp.csr_array(S)
    for solver in ("cg", "gmres", "bicgstab"):
        x_ref, info_ref = getattr(ssl, solver)(S, b, rtol=1e-10)
        x, info = getattr(sp.linalg, solver)(A, b, rtol=1e-10)
        assert info == info_ref == 0
        np.testing.assert_allclose(np.asarray(x), x_ref, rtol=1e-7, atol=1e-9)
    assert isinstance(A._operator(), ShardedCSR)


def test_eigen_svd_and_matrix_functions_multiply_by_the_sharded_copy(small_threshold):
    import scipy.sparse.linalg as ssl

    S = _poisson(40)
    A = sp.csr_array(S)
    vals = np.sort(np.asarray(sp.linalg.eigsh(A, k=3, which="LA")[0]))
    np.testing.assert_allclose(vals, np.sort(ssl.eigsh(S, k=3, which="LA")[0]), rtol=1e-8)
    # eigsh itself planned the sharded copy (nothing else has multiplied by A yet)
    assert isinstance(_cached_operator(A), ShardedCSR)
    vals = np.asarray(sp.linalg.eigs(A, k=2, which="LM")[0])
    ref = ssl.eigs(S, k=2, which="LM")[0]
    np.testing.assert_allclose(np.sort(vals.real), np.sort(ref.real), rtol=1e-8)
    np.testing.assert_allclose(np.sort(np.asarray(sp.linalg.svds(A, k=2)[1])),
                               np.sort(ssl.svds(S, k=2)[1]), rtol=1e-8)
    b = np.linspace(0.0, 1.0, 40)
    np.testing.assert_allclose(np.asarray(sp.linalg.expm_multiply(-0.1 * A, b)),
                               ssl.expm_multiply(-0.1 * S, b), rtol=1e-10, atol=1e-12)
    assert float(sp.linalg.onenormest(A)) == pytest.approx(ssl.onenormest(S))
    X = np.random.default_rng(0).standard_normal((40, 3))
    w = np.asarray(sp.linalg.lobpcg(A, X, largest=True, tol=1e-8, maxiter=200)[0])
    np.testing.assert_allclose(np.sort(w), np.sort(ssl.eigsh(S, k=3, which="LA")[0]),
                               rtol=1e-8)


# -- the conformance table's products and reductions, with the default mesh active ------
_SHARDED_OPS = ["matmul_vec", "matmul_mat", "rmatmul", "rmatmul_mat", "dot", "matmul_sparse",
                "sum0", "sum1", "mean1", "max0", "diagonal", "trace", "add", "sub_dense",
                "multiply", "mul_scalar", "neg", "abs", "sin", "count_nonzero", "toarray",
                "tocsr", "transpose", "get_col", "mut_setdiag_vals"]


@pytest.mark.parametrize("name", _SHARDED_OPS)
@pytest.mark.parametrize("key", [("csr", "array", np.float64), ("csc", "matrix", np.float64),
                                 ("coo", "array", np.complex128), ("dia", "array", np.float32),
                                 ("bsr", "array", np.float64)],
                         ids=["csr_array-f64", "csc_matrix-f64", "coo_array-c128",
                              "dia_array-f32", "bsr_array-f64"])
def test_conformance_subset_on_the_default_mesh(small_threshold, key, name):
    """Every operand is big enough to shard: products go through the cached ShardedCSR,
    everything else must still agree with SciPy while the default mesh is active."""
    _sharded_conformance(key, name)


_PRODUCTS = ("matmul_vec", "matmul_mat", "rmatmul", "rmatmul_mat", "dot")


def _sharded_conformance(key, name):
    from test_conformance import OPS, Case, run_both

    case = Case(*key)
    run_both(case, OPS[name], f"{case!r} {name} (sharded)")
    if name in _PRODUCTS:
        # the product itself planned and cached the distributed copy
        assert isinstance(_cached_operator(case.A), ShardedCSR)


@pytest.mark.parametrize("name", _PRODUCTS)
@pytest.mark.parametrize("fmt, kind", [("csr", "array"), ("coo", "matrix"), ("bsr", "array")])
def test_products_of_noncanonical_input_on_the_default_mesh(small_threshold, fmt, kind, name):
    """Duplicates, explicit zeros and unsorted indices reach the sharded device copy as
    SciPy stores them: its products agree with SciPy's."""
    _sharded_conformance((fmt, kind, np.float64, "noncanonical"), name)


def _mutations():
    """(name, mutate the drop-in matrix, mutate the SciPy reference the same way)."""
    def set_existing(M):
        M[3, 4] = 7.5

    def set_new(M):
        M[0, 29] = -2.0  # a new entry: changes the pattern and the halo

    def scale_data(M):
        M.data *= 2

    def through_a_view(M):
        view = M.data  # a handed-out array written later, through numpy
        np.negative(view, out=view)

    return [("A[i, j] = v (existing)", set_existing), ("A[i, j] = v (new)", set_new),
            ("A.data *= 2", scale_data), ("write through a handed-out array", through_a_view)]


@pytest.mark.parametrize("name,mutate", _mutations())
def test_mutation_with_a_cached_sharded_copy_never_serves_stale_values(small_threshold,
                                                                       name, mutate):
    """Products and solves interleaved with mutations: each result is the mutated
    matrix's, whether the operand is NumPy or a jax.Array."""
    import jax.numpy as jnp
    import scipy.sparse.linalg as ssl

    S = (_poisson(30) + ss.eye_array(30)).tocsr()
    A = sp.csr_array(S)
    x = np.linspace(-1.0, 2.0, 30)
    np.testing.assert_allclose(np.asarray(A @ x), S @ x)
    assert isinstance(_cached_operator(A), ShardedCSR)
    ref = S.copy().tolil() if "new" in name else S.copy()
    with np.errstate(all="ignore"):
        mutate(A)
        mutate(ref)
    ref = ss.csr_array(ref)
    np.testing.assert_allclose(np.asarray(A @ x), ref @ x, err_msg=name)
    np.testing.assert_allclose(np.asarray(A @ jnp.asarray(x)), ref @ x, err_msg=name)
    np.testing.assert_allclose(np.asarray(A.T @ x), ref.T @ x, err_msg=name)
    if name != "write through a handed-out array":  # keep it positive definite for cg
        x_ref, _ = ssl.gmres(ref, x, rtol=1e-10)
        x_got, info = sp.linalg.gmres(A, x, rtol=1e-10)
        assert info == 0
        np.testing.assert_allclose(np.asarray(x_got), x_ref, rtol=1e-6, atol=1e-8)


def test_sum_duplicates_with_a_cached_sharded_copy(small_threshold):
    """A non-canonical matrix (duplicates) multiplied, then canonicalised in place:
    the products before and after agree with SciPy's (duplicates sum either way)."""
    row = np.array([0, 0, 1, 5, 5, 5, 29, 29])
    col = np.array([1, 1, 2, 7, 7, 0, 29, 29])
    vals = np.arange(1.0, 9.0)
    S = ss.csr_array((vals, (row, col)), shape=(30, 30))
    S.sum_duplicates()
    A = sp.coo_array((vals, (row, col)), shape=(30, 30)).tocsr()
    x = np.arange(30.0)
    np.testing.assert_allclose(np.asarray(A @ x), S @ x)
    A.sum_duplicates()
    assert A.has_canonical_format and A.nnz == S.nnz
    np.testing.assert_allclose(np.asarray(A @ x), S @ x)
    A.data[:] = 1.0
    np.testing.assert_allclose(np.asarray(A @ x), ss.csr_array((np.ones(S.nnz), S.indices,
                                                                 S.indptr), shape=S.shape) @ x)


def test_a_preconditioner_is_sharded_with_the_matrix_layout(small_threshold):
    """A 2-D Poisson matrix's plan balances its nonzeros (boundary rows hold fewer), a
    diagonal preconditioner's plan splits rows evenly: on 4 devices the two layouts
    differ with equal block sizes. The solve must apply M in A's layout (it used to
    return a wrong x with info == maxiter); a core ShardedCSR M of another layout is
    refused."""
    import scipy.sparse.linalg as ssl

    k = 24
    t = ss.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(k, k))
    S = (ss.kron(t, ss.eye_array(k)) + ss.kron(ss.eye_array(k), t)).tocsr()
    S = S + ss.diags_array(np.linspace(0.5, 4.0, k * k))  # a varying diagonal
    Md = ss.diags_array(1.0 / S.diagonal()).tocsr()
    b = np.random.default_rng(0).standard_normal(k * k)
    A, M = sp.csr_array(S), sp.csr_array(Md)
    own_A, own_M = A._operator(), M._operator()
    assert not own_M.plan.rows.same_as(own_A.plan.rows)  # the case this test is about
    x_ref, info_ref = ssl.cg(S, b, rtol=1e-10, M=Md)
    for solver in ("cg", "bicgstab", "gmres"):
        x, info = getattr(sp.linalg, solver)(A, b, rtol=1e-10, M=M)
        assert info == 0, solver
        np.testing.assert_allclose(np.asarray(x), ssl.spsolve(S, b), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(np.asarray(sp.linalg.cg(A, b, rtol=1e-10, M=M)[0]), x_ref,
                               rtol=1e-7, atol=1e-9)
    with pytest.raises(ValueError, match="M must be sharded with A's layout"):
        js.linalg.cg(own_A, own_A.shard_vector(b), M=own_M)


def test_the_sharded_copy_is_built_from_the_host_arrays(small_threshold):
    # No whole-matrix device copy first (it would hold the matrix twice on the devices,
    # and be read back to the host to be planned): the core appears only when asked.
    S = _poisson(30)
    A = sp.csr_array(S)
    x = np.arange(30.0)
    np.testing.assert_allclose(np.asarray(A @ x), S @ x)
    assert isinstance(_cached_operator(A), ShardedCSR)
    assert "core" not in A.__dict__["_device"]
    assert A._core.shape == S.shape  # built on demand, beside the sharded copy
    assert isinstance(_cached_operator(A), ShardedCSR)
