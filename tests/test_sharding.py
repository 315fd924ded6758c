"""Sharded matrices on 1-, 2- and 4-device CPU meshes, against SciPy and one device."""

from __future__ import annotations

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from _helpers import assert_close
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxsparse as js
import jaxsparse.sharding as jsh
from jaxsparse.ops.native import missing_reason


def mesh_of(n_devices, kind=AxisType.Explicit, names=("x",), shape=None):
    shape = shape or (n_devices,)
    return jax.make_mesh(shape, names, axis_types=(kind,) * len(names),
                         devices=jax.devices()[:n_devices])


def banded(n=37, half=2):
    diags = [np.full(n - abs(k), 1.0 + k) for k in range(-half, half + 1)]
    return sps.diags_array(diags, offsets=range(-half, half + 1), format="csr")


def poisson2d(nx=6, ny=7):
    t = lambda k: sps.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)],
                                  offsets=[-1, 0, 1])
    return sps.csr_array(sps.kronsum(t(nx), t(ny)))


def random(n=41, density=0.15, seed=0):
    return sps.random_array((n, n), density=density, format="csr",
                            rng=np.random.default_rng(seed))


def skewed(n=40):
    """Row i has i + 1 nonzeros: rows sorted by degree."""
    rows = np.concatenate([np.full(i + 1, i) for i in range(n)])
    cols = np.concatenate([np.arange(i + 1) for i in range(n)])
    return sps.csr_array((np.linspace(1, 2, rows.size), (rows, cols)), shape=(n, n))


def power_law(n=2000, seed=0):
    rng = np.random.default_rng(seed)
    deg = np.minimum(n, (rng.pareto(1.2, n) + 1).astype(int))
    rows = np.repeat(np.arange(n), deg)
    cols = rng.integers(0, n, rows.size)
    S = sps.csr_array((np.ones(rows.size), (rows, cols)), shape=(n, n))
    S.sum_duplicates()
    return S


def empty_rows(n=30):
    S = random(n, 0.3, seed=3).tolil()
    S[::2] = 0
    return sps.csr_array(S)


MATRICES = {"banded": banded, "poisson2d": poisson2d, "random": random,
            "skewed": skewed, "empty_rows": empty_rows}


@pytest.mark.parametrize("n_devices", [1, 2, 4])
@pytest.mark.parametrize("name", sorted(MATRICES))
def test_spmv_matches_scipy_and_keeps_sharding(name, n_devices):
    S = MATRICES[name]()
    mesh = mesh_of(n_devices)
    As = jsh.shard(S, mesh, "x")
    x = np.random.default_rng(1).standard_normal(S.shape[1])
    xs = As.shard_vector(x)
    assert xs.sharding == NamedSharding(mesh, P("x"))
    ys = jax.jit(lambda A, v: A @ v)(As, xs)
    assert ys.sharding == xs.sharding
    assert_close(As.unshard_vector(ys), S @ x, np.float64)
    assert_close(As @ x, S @ x, np.float64)  # plain vector in, plain vector out
    assert_close(As.T @ x, S.T @ x, np.float64)
    # padding slots of the layout stay zero; the plan's host mask is the device mask
    np.testing.assert_array_equal(As.plan.mask, np.asarray(As.mask))
    np.testing.assert_array_equal(np.asarray(ys)[~As.plan.mask], 0.0)


def test_rectangular_has_row_and_column_layouts():
    S = sps.random_array((30, 45), density=0.2, format="csr",
                         rng=np.random.default_rng(5))
    As = jsh.shard(S, mesh_of(4), "x")
    x = np.arange(45.0)
    xs = As.shard_vector(x, side="cols")
    ys = As @ xs
    assert ys.shape[0] == As.row_index.size != xs.shape[0]
    assert_close(As.unshard_vector(ys, side="rows"), S @ x, np.float64)
    y = np.arange(30.0)
    assert_close(As.T @ y, S.T @ y, np.float64)
    with pytest.raises(ValueError, match="x must have length 45"):
        As @ np.ones(17)


def test_left_products_and_the_transpose_as_a_jit_argument():
    """``y @ As`` (NumPy and JAX y) and ``As.T`` passed into ``jit`` as a pytree."""
    S = sps.random_array((30, 45), density=0.2, format="csr",
                         rng=np.random.default_rng(6))
    As = jsh.shard(S, mesh_of(4), "x")
    y = np.linspace(-1.0, 1.0, 30)
    assert_close(y @ As, y @ S, np.float64)
    assert_close(jnp.asarray(y) @ As, y @ S, np.float64)
    assert_close(jax.jit(lambda v, A: v @ A)(jnp.asarray(y), As), y @ S, np.float64)
    leaves, tree = jax.tree_util.tree_flatten(As.T)
    assert len(leaves) == len(jax.tree_util.tree_leaves(As))
    At = jax.tree_util.tree_unflatten(tree, leaves)
    assert isinstance(At, jsh.TransposedShardedCSR) and At.shape == (45, 30)
    assert_close(jax.jit(lambda T, v: T @ v)(As.T, y), S.T @ y, np.float64)
    Y = np.ones((2, 30))
    assert_close(Y @ As, Y @ S, np.float64)


@pytest.mark.parametrize("kind", [AxisType.Explicit, AxisType.Auto])
def test_explicit_and_auto_meshes(kind):
    S = poisson2d()
    As = jsh.shard(S, mesh_of(4, kind), "x")
    x = np.linspace(0, 1, S.shape[0])
    xs = As.shard_vector(x)
    ys = As @ xs
    assert ys.sharding == xs.sharding
    # zero-preserving jnp code on layout vectors: norms, axpys, sum-of-products
    r = ys - 0.5 * xs
    dot = jnp.sum(r * r)
    assert_close(dot, np.sum((S @ x - 0.5 * x) ** 2), np.float64)
    assert_close(jnp.linalg.norm(ys), np.linalg.norm(S @ x), np.float64)


def _collectives(As, xs):
    text = jax.jit(lambda A, v: A @ v).lower(As, xs).compile().as_text()
    return {op: text.count(op) for op in ("all-gather", "all-to-all", "collective-permute")}


def test_banded_spmv_uses_neighbour_rounds_only():
    S = banded(64, half=3)
    As = jsh.shard(S, mesh_of(4), "x")
    assert As.plan.halo.method == "ppermute"
    assert set(As.plan.halo.shifts) == {1, 3}  # right and left neighbours
    ops = _collectives(As, As.shard_vector(np.ones(64)))
    assert ops["all-gather"] == 0 and ops["all-to-all"] == 0
    assert ops["collective-permute"] >= 2
    # halo volume is the distinct off-shard columns, up to <= 10% padding
    assert As.plan.halo_volume <= 1.10 * As.plan.halo.distinct.max()
    assert As.plan.halo_volume == 6


@pytest.mark.parametrize("method, hlo", [("all_to_all", "all-to-all"),
                                         ("all_gather", "all-gather"),
                                         ("ppermute", "collective-permute")])
def test_compiled_program_uses_the_planned_collective(method, hlo):
    S = random(40, 0.2, seed=2)
    As = jsh.shard(S, mesh_of(4), "x", halo=method)
    assert As.plan.halo.method == method
    xs = As.shard_vector(np.ones(40))
    assert _collectives(As, xs)[hlo] >= 1
    assert_close(As.unshard_vector(As @ xs), S @ np.ones(40), np.float64)


def test_two_shards_trade_whole_blocks_instead_of_gathering():
    """On two shards "all_gather" moves the other shard's block alone (one ppermute each
    way): the halo vector is one block wide, and neither the product nor its transpose
    gathers or reduce-scatters the whole vector."""
    S = random(40, 0.6, seed=4)
    As = jsh.shard(S, mesh_of(2), "x")
    assert As.plan.halo.method == "all_gather"
    assert As.plan.halo.width == As.plan.cols.block == As.plan.halo_volume
    xs, ys = As.shard_vector(np.ones(40)), As.shard_vector(np.ones(40), side="rows")
    ops = _collectives(As, xs)
    assert ops["all-gather"] == 0 and ops["collective-permute"] >= 1
    text = jax.jit(lambda A, v: A.T @ v).lower(As, ys).compile().as_text()
    assert "reduce-scatter" not in text and "collective-permute" in text
    assert_close(As.unshard_vector(As @ xs), S @ np.ones(40), np.float64)
    assert_close(As.unshard_vector(As.T @ ys, side="cols"), S.T @ np.ones(40), np.float64)


@pytest.mark.skipif(missing_reason() is not None,
                    reason="the check names the native kernels' custom calls; not built here")
def test_owned_product_does_not_wait_for_the_halo_exchange():
    """In the compiled program, the owned block's product reads no exchanged value: only
    the halo product does. So a scheduler with asynchronous collectives (XLA on GPUs)
    may run the owned product while the halo is in flight. (XLA:CPU's collectives are
    synchronous: there the owned product is simply ordered before the exchange.)"""
    S = banded(64)
    # CSR blocks: both products are native custom calls (a DIA owned block runs as an
    # XLA fusion on CPU, where this text check could not name it)
    As = jsh.shard(S, mesh_of(2), "x", local_format="csr", halo="ppermute")
    xs = As.shard_vector(np.ones(64))
    hlo = jax.jit(lambda A, v: A @ v).lower(As, xs).compile().as_text()
    exchanged = set(re.findall(r"%([\w.-]+) = \S+ collective-permute\(", hlo))
    assert exchanged
    products = re.findall(r"= \S+ custom-call\(([^)]*)\), "
                          r"custom_call_target=\"jaxsparse_csr_matmul", hlo)
    reads_halo = [any(op.strip().lstrip("%") in exchanged for op in args.split(","))
                  for args in products]
    assert sorted(reads_halo) == [False, True], products  # owned: no; halo: yes
    assert_close(As.unshard_vector(As @ xs), S @ np.ones(64), np.float64)


def test_scattered_pattern_picks_all_to_all_and_dense_halo_all_gather():
    assert jsh.plan(random(400, 0.004, seed=4), mesh_of(4), "x").halo.method == "all_to_all"
    assert jsh.plan(random(64, 0.6, seed=4), mesh_of(4), "x").halo.method == "all_gather"


@pytest.mark.parametrize("build", [skewed, power_law], ids=["skewed", "power_law"])
def test_nnz_balance_on_skewed_matrices(build):
    S = build() if build is power_law else build(400)
    plan = jsh.plan(S, mesh_of(4), "x")
    assert plan.nnz_imbalance <= 1.10
    assert plan.nnz_per_shard.sum() == S.nnz
    rows_per_shard = [(plan.rows.index[s] < S.shape[0]).sum() for s in range(4)]
    assert max(rows_per_shard) <= np.ceil(1.1 * S.shape[0] / 4)


@pytest.mark.parametrize("build", [power_law, lambda: random(400, 0.004, seed=4)],
                         ids=["power_law", "random"])
def test_plan_is_shards_plan_and_places_nothing(build, monkeypatch):
    S = build()
    mesh = mesh_of(4)
    puts = []
    real_put = jax.device_put
    monkeypatch.setattr(jax, "device_put", lambda *a, **k: puts.append(1) or real_put(*a, **k))
    plan = jsh.plan(S, mesh, "x")
    assert not puts  # host work only: no block is built or moved to a device
    monkeypatch.undo()
    placed = jsh.shard(S, mesh, "x").plan
    assert repr(plan) == repr(placed)
    for name in ("shape", "own_capacity", "halo_capacity", "halo_block_rows", "permuted",
                 "local_format", "own_diagonals"):
        assert getattr(plan, name) == getattr(placed, name), name
    assert plan.halo.method == placed.halo.method and plan.halo.sizes == placed.halo.sizes
    np.testing.assert_array_equal(plan.halo.send, placed.halo.send)
    np.testing.assert_array_equal(plan.rows.index, placed.rows.index)
    np.testing.assert_array_equal(plan.nnz_per_shard, placed.nnz_per_shard)


def test_permuted_plan_still_computes_the_same_product():
    S = power_law(300)
    As = jsh.shard(S, mesh_of(4), "x")
    x = np.random.default_rng(0).standard_normal(300)
    assert_close(As @ x, S @ x, np.float64)
    assert_close(As.unshard_vector(As @ As.shard_vector(x)), S @ x, np.float64)


def test_like_shares_the_layout_and_mismatches_raise():
    mesh = mesh_of(4)
    A = poisson2d()
    As = jsh.shard(A, mesh, "x")
    Bs = jsh.shard(2 * A, mesh, "x", like=As)
    xs = As.shard_vector(np.ones(A.shape[0]))
    assert_close(As.unshard_vector(Bs @ (As @ xs)), 2 * (A @ (A @ np.ones(A.shape[0]))),
                 np.float64)
    assert_close(As.unshard_vector((As + Bs) @ xs), 3 * (A @ np.ones(A.shape[0])),
                 np.float64)
    Cs = jsh.shard(skewed(A.shape[0]), mesh, "x")
    with pytest.raises(ValueError, match="like="):
        As + Cs


def test_vectors_of_the_wrong_length_raise():
    As = jsh.shard(banded(), mesh_of(4), "x")
    with pytest.raises(ValueError, match="x must have length 37"):
        As @ np.ones(36)
    with pytest.raises(ValueError, match="must have length 37"):
        As.shard_vector(np.ones(3))


def test_grad_through_sharded_spmv_and_with_values_under_jit():
    S = poisson2d()
    D = S.toarray()
    mesh = mesh_of(4)
    As = jsh.shard(S, mesh, "x")
    x = np.random.default_rng(0).standard_normal(S.shape[0])
    xs = As.shard_vector(x)

    @jax.jit
    def loss(vals, xs):
        return jnp.sum((As.with_values(vals) @ xs) ** 2)

    with jax.set_mesh(mesh):  # Explicit meshes: grad's scalar seed lives on the mesh
        g_vals, g_x = jax.grad(loss, argnums=(0, 1))(As.vals, xs)
    assert_close(As.unshard_vector(g_x), 2 * D.T @ (D @ x), np.float64)
    # d loss / d A_ij = 2 (A x)_i x_j on A's pattern: compare through a single-device CSR
    A1 = js.CSR.from_scipy(S)
    g1 = jax.grad(lambda d: jnp.sum((A1.with_data(d) @ x) ** 2))(A1.data)
    dense_sharded = sum_blocks_to_dense(As, g_vals)
    assert_close(dense_sharded, A1.with_data(g1).todense(), np.float64)
    scaled = jax.jit(lambda v: As.with_values((v[0] * 2, v[1] * 2)) @ xs)(As.vals)
    assert_close(As.unshard_vector(scaled), 2 * (S @ x), np.float64)


def sum_blocks_to_dense(As, vals):
    """Scatter per-shard (owned, halo) values back into a dense global matrix."""
    plan = As.plan
    n, m = As.shape
    out = np.zeros((n, m))
    own_d, halo_d = (np.asarray(v) for v in vals)
    send = np.asarray(As.send)
    for s in range(plan.n_shards):
        rows = plan.rows.index[s]
        for block, data in (("own", own_d[s]), ("halo", halo_d[s])):
            idx = np.asarray(getattr(As, f"{block}_indices"))[s]
            ptr = np.asarray(getattr(As, f"{block}_indptr"))[s]
            for r in range(plan.rows.block):
                for k in range(ptr[r], ptr[r + 1]):
                    col = _global_col(plan, s, block, idx[k], send)
                    out[rows[r], col] += data[k]
    return out


def _global_col(plan, s, block, local, send):
    if block == "own":
        return plan.cols.index[s, local]
    h = plan.halo
    if h.method == "all_gather":
        if plan.n_shards == 2:  # the other shard's block
            return plan.cols.index[1 - s, local]
        return plan.cols.index.reshape(-1)[local]
    if h.method == "all_to_all":
        owner, pos = divmod(local, h.sizes[0])
        return plan.cols.index[owner, send[owner, s * h.sizes[0] + pos]]
    offsets = np.concatenate([[0], np.cumsum(h.sizes)])
    i = np.searchsorted(offsets, local, side="right") - 1
    owner = (s - h.shifts[i]) % plan.n_shards
    return plan.cols.index[owner, send[owner, local]]


def test_sharded_sddmm_and_its_gradient():
    S = random(24, 0.3, seed=6)
    As = jsh.shard(S, mesh_of(4), "x")
    rng = np.random.default_rng(1)
    B = rng.standard_normal((24, 3))
    C = rng.standard_normal((3, 24))
    R = jsh.sddmm(As, B, C)
    expect = S.toarray() * (B @ C)
    assert_close(sum_blocks_to_dense(R, R.vals), expect, np.float64)
    A1 = js.CSR.from_scipy(S)
    g1 = jax.grad(lambda B: jnp.sum(js.ops.sddmm(A1, B, C).data ** 2))(B)
    gs = jax.jit(jax.grad(lambda B: sum(jnp.sum(v ** 2) for v in jsh.sddmm(As, B, C).vals)))(B)
    assert_close(gs, g1, np.float64)
    # and with respect to the values: d/dvals sum(sddmm^2) = 2 vals (B @ C)^2 on the pattern
    g_vals = jax.jit(jax.grad(
        lambda v: sum(jnp.sum(w ** 2) for w in jsh.sddmm(As.with_values(v), B, C).vals)))(
        As.vals)
    expect_g = 2 * S.toarray() * (B @ C) ** 2
    assert_close(sum_blocks_to_dense(As, g_vals), expect_g, np.float64)


def test_reductions_and_diagonal():
    S = random(33, 0.2, seed=7) + sps.eye_array(33)
    As = jsh.shard(S, mesh_of(4), "x")
    assert_close(As.sum(), S.sum(), np.float64)
    assert_close(As.unshard_vector(As.sum(axis=1)), S.sum(axis=1), np.float64)
    assert_close(As.unshard_vector(As.sum(axis=0), side="cols"), S.sum(axis=0), np.float64)
    assert_close(As.unshard_vector(As.diagonal()), S.diagonal(), np.float64)
    assert_close(As.unshard_vector((-As * 3.0) @ As.shard_vector(np.ones(33))),
                 -3 * (S @ np.ones(33)), np.float64)


def test_spmm_on_a_2d_mesh_with_columns_over_y():
    S = poisson2d()
    n = S.shape[0]
    mesh = mesh_of(4, names=("x", "y"), shape=(2, 2))
    As = jsh.shard(S, mesh, "x")
    X = np.random.default_rng(2).standard_normal((n, 4))
    Xs = jax.device_put(As.shard_vector(X), NamedSharding(mesh, P("x", "y")))
    Ys = As @ Xs
    assert Ys.sharding == Xs.sharding
    assert_close(As.unshard_vector(Ys), S @ X, np.float64)


def test_same_sized_matrices_reuse_the_compiled_program():
    mesh = mesh_of(4)
    traces = []

    @jax.jit
    def f(A, v):
        traces.append(1)
        return A @ v

    for shift in (0.0, 1.0):
        S = banded(40) + shift * sps.eye_array(40)
        As = jsh.shard(sps.csr_array(S), mesh, "x")
        assert_close(As.unshard_vector(f(As, As.shard_vector(np.ones(40)))),
                     S @ np.ones(40), np.float64)
    assert len(traces) == 1


@pytest.mark.parametrize("kind", [AxisType.Explicit, AxisType.Auto])
def test_cg_on_a_sharded_matrix_matches_scipy(kind):
    import scipy.sparse.linalg as spla

    S = poisson2d(8, 9)
    b = np.random.default_rng(3).standard_normal(S.shape[0])
    x_ref, info_ref = spla.cg(S, b, rtol=1e-10)
    mesh = mesh_of(4, kind)
    As = jsh.shard(S, mesh, "x")
    bs = As.shard_vector(b)
    with jax.set_mesh(mesh):
        xs, info = jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=1e-10))(As, bs)
    assert xs.sharding == bs.sharding
    assert int(info) == info_ref == 0
    assert_close(As.unshard_vector(xs), x_ref, np.float64, scale=1e3)
    x_plain, info = js.linalg.cg(As, b, rtol=1e-10)  # plain b: laid out once, inside
    assert_close(x_plain, x_ref, np.float64, scale=1e3)
    # Jacobi preconditioner on layout vectors: plan.mask keeps padding slots at 0
    d = As.diagonal()
    inv_d = jnp.where(As.mask, 1.0 / jnp.where(As.mask, d, 1.0), 0.0)
    xs_pc, info = js.linalg.cg(As, bs, rtol=1e-10, M=lambda v: inv_d * v)
    assert int(info) == 0
    assert_close(As.unshard_vector(xs_pc), x_ref, np.float64, scale=1e3)


def test_cg_iteration_moves_only_the_halo():
    """The compiled solver's loop body holds the plan's collectives, no all-gather."""
    S = poisson2d(8, 9)
    mesh = mesh_of(4)
    As = jsh.shard(S, mesh, "x", halo="ppermute")
    bs = As.shard_vector(np.ones(S.shape[0]))
    with jax.set_mesh(mesh):
        text = jax.jit(lambda A, b: js.linalg.cg(A, b, maxiter=5)).lower(As, bs) \
            .compile().as_text()
    assert "collective-permute" in text
    assert "all-gather" not in text


# -- assembly from process-local rows (one process here; two in test_launch.py) -----------
@pytest.mark.parametrize("name", ["banded", "poisson2d", "random", "skewed"])
def test_from_local_rows_on_one_process_is_shard(name):
    S = MATRICES[name]()
    mesh = mesh_of(4)
    As = jsh.from_local_rows(S, row_start=0, shape=S.shape, mesh=mesh, axis="x")
    x = np.random.default_rng(2).standard_normal(S.shape[1])
    assert_close(As @ x, S @ x, np.float64)
    assert_close(As.T @ np.ones(S.shape[0]), S.T @ np.ones(S.shape[0]), np.float64)
    # Contiguous rows always: a permutation would move most rows between processes.
    # Rows sorted by degree ("skewed") are what only a permutation balances (shard
    # deals them out); every other pattern here balances within 10% contiguously.
    assert not As.plan.permuted
    if name != "skewed":
        assert As.plan.nnz_imbalance <= 1.10


def test_from_local_rows_checks_its_arguments():
    S = poisson2d()
    mesh = mesh_of(2)
    n = S.shape[0]
    with pytest.raises(ValueError, match="tile the rows"):
        jsh.from_local_rows(S[1:], row_start=1, shape=S.shape, mesh=mesh)
    with pytest.raises(ValueError, match="outside the matrix"):
        jsh.from_local_rows(S, row_start=3, shape=S.shape, mesh=mesh)
    with pytest.raises(ValueError, match="columns"):
        jsh.from_local_rows(S, row_start=0, shape=(n, n + 1), mesh=mesh)
    with pytest.raises(ValueError, match="shape must be two"):
        jsh.from_local_rows(S, row_start=0, shape=(n,), mesh=mesh)
    with pytest.raises(ValueError, match="halo must be one of"):
        jsh.from_local_rows(S, row_start=0, shape=S.shape, mesh=mesh, halo="fast")


def test_shard_vector_from_this_process_piece():
    """One process: its piece is the whole vector; a piece that does not start at 0
    cannot tile the vector and says so."""
    S = poisson2d()
    As = jsh.shard(S, mesh_of(2), "x")
    x = np.arange(S.shape[1], dtype=float)
    assert_close(As.unshard_vector(As @ As.shard_vector(x, start=0)), S @ x, np.float64)
    with pytest.raises(ValueError, match="must tile the vector"):
        As.shard_vector(x[2:], start=2)


@pytest.mark.parametrize("solver", ["cg", "gmres", "bicgstab"])
def test_gradient_through_a_solve_in_layout_space_with_padding(solver):
    """n = 42 over 4 shards leaves padding slots in the layout. A loss summed over a
    layout vector puts cotangent on them; the solve's transpose must not see it (the
    padding block of A is empty, hence singular): the gradient equals the unsharded one
    instead of NaN."""
    S = poisson2d(6, 7) + 0.5 * sps.eye_array(42, format="csr")
    As = jsh.shard(S, mesh_of(4), "x")
    assert As.plan.rows.block * 4 > 42  # there is padding
    b = np.linspace(-1.0, 1.0, 42)
    solve = getattr(js.linalg, solver)
    f = jax.jit(jax.grad(lambda v, A: jnp.sum(solve(A, v, rtol=1e-12)[0])))
    got = np.asarray(As.unshard_vector(f(As.shard_vector(b), As)))
    want = np.linalg.solve(S.toarray().T, np.ones(42))
    assert_close(got, want, np.float64, scale=1e4)


@pytest.mark.parametrize("kind", [AxisType.Explicit, AxisType.Auto])
def test_solver_callback_on_a_sharded_matrix_runs_once_per_iteration(kind):
    """JAX refuses ordered host callbacks in programs over several devices; a sharded
    solve's callback is unordered and still sees every iteration, in order."""
    S = poisson2d(8, 8)
    mesh = mesh_of(2, kind)
    As = jsh.shard(S, mesh, "x")
    b = np.random.default_rng(0).standard_normal(S.shape[0])
    seen, expected = [], []
    spla.cg(S, b, rtol=1e-10, callback=lambda xk: expected.append(xk.copy()))
    with jax.set_mesh(mesh):
        x, info = js.linalg.cg(As, As.shard_vector(b), rtol=1e-10,
                               callback=lambda xk: seen.append(np.asarray(xk)))
    assert int(info) == 0
    assert len(seen) == len(expected)
    residuals = [np.linalg.norm(b - S @ As.unshard_vector(jnp.asarray(v))) for v in seen]
    assert residuals[-1] < 1e-8 * np.linalg.norm(b) < residuals[0]


@pytest.mark.parametrize("n_devices", [2, 4])
@pytest.mark.parametrize("method", ["ppermute", "all_to_all", "all_gather"])
def test_every_halo_method_on_scattered_patterns_random_operands(method, n_devices):
    """Each exchange delivers the right entries to the right rows, and its transpose
    returns each partial sum to the slot it came from: scattered reads, random (not
    constant) vectors and a two-column operand, so a halo entry sent to the wrong shard
    or slot changes the product."""
    rng = np.random.default_rng(7)
    for seed, density in ((5, 0.05), (6, 0.2)):
        S = random(40, density, seed=seed)
        As = jsh.shard(S, mesh_of(n_devices), "x", halo=method)
        assert As.plan.halo.method == method
        x = rng.standard_normal(40)
        X = rng.standard_normal((40, 2))
        y = As.unshard_vector(As @ As.shard_vector(x))
        assert_close(y, S @ x, np.float64)
        Y = As.unshard_vector(As @ As.shard_vector(X))
        assert_close(Y, S @ X, np.float64)
        yT = As.unshard_vector(As.T @ As.shard_vector(x, side="rows"), side="cols")
        assert_close(yT, S.T @ x, np.float64)
        YT = As.unshard_vector(As.T @ As.shard_vector(X, side="rows"), side="cols")
        assert_close(YT, S.T @ X, np.float64)


@pytest.mark.parametrize("method", ["ppermute", "all_to_all", "all_gather"])
def test_the_transposed_product_differentiates_for_every_halo_method(method):
    """``As.T @ y`` is its own shard_map (the halo's partial sums added in place): its
    gradient and its jvp are the products they should be."""
    S = random(40, 0.1, seed=3)
    As = jsh.shard(S, mesh_of(4, AxisType.Auto), "x", halo=method)
    w = np.random.default_rng(1).standard_normal(40)
    ws, y = As.shard_vector(w), As.shard_vector(np.ones(40), side="rows")
    g = jax.jit(jax.grad(lambda y: jnp.sum((As.T @ y) * ws)))(y)
    assert_close(As.unshard_vector(g, side="rows"), S @ w, np.float64)
    t = jax.jvp(lambda y: As.T @ y, (y,), (2 * y,))[1]
    assert_close(As.unshard_vector(t, side="cols"), 2 * S.T @ np.ones(40), np.float64)


def test_a_refused_sharded_solve_leaves_no_mesh_set():
    # jax.set_mesh sets the mesh when called: the solver once called it before checking
    # b, and a refused b left an Explicit mesh set for the rest of the process (every
    # later unsharded program then failed with a sharding mismatch).
    As = jsh.shard(banded(), mesh_of(2), "x")
    with pytest.raises(ValueError, match="must have length"):
        js.linalg.cg(As, np.ones(5))
    assert jax.sharding.get_abstract_mesh().empty
    np.testing.assert_allclose(np.asarray(jnp.arange(4.0) * 2), [0, 2, 4, 6])


@pytest.mark.parametrize("rows", [
    [np.arange(0, 4), np.arange(4, 4), np.arange(4, 9), np.arange(9, 10)],  # an empty shard
    [np.array([0, 3, 7]), np.array([1, 2, 9]), np.array([4, 5, 6, 8])],  # dealt out
], ids=["contiguous", "permuted"])
def test_layout_locate_inverts_the_index(rows):
    """A plan keeps only ``index``; ``locate`` answers the inverse map (two comparisons
    for a contiguous partition, arrays built on demand for a permuted one)."""
    from jaxsparse.sharding._layout import Layout
    from jaxsparse.sharding._partition import RowPartition

    n = 10
    layout = Layout.from_partition(RowPartition(tuple(rows), permuted=len(rows) == 3), n, 5)
    assert (layout._starts is None) == (len(rows) == 3)
    g = np.random.default_rng(0).permutation(n)
    owner, slot = layout.locate(g)
    np.testing.assert_array_equal(layout.index[owner, slot], g)
