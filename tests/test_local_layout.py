"""Each shard's owned block is held as diagonals when they move fewer bytes than CSR.

The detector (``formats._structure``) on its own, then sharded results in the DIA layout
against SciPy and against the same matrix forced to CSR, on 1-, 2- and 4-device meshes.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.sparse as sps
from _helpers import assert_close
from jax.sharding import AxisType, NamedSharding
from jax.sharding import PartitionSpec as P

import jaxsparse as js
import jaxsparse.sharding as jsh
from jaxsparse.formats import _structure
from jaxsparse.sharding._sharded import own_columns


def mesh_of(d, kind=AxisType.Explicit):
    return jax.make_mesh((d,), ("x",), axis_types=(kind,), devices=jax.devices()[:d])


def tridiagonal(n=40):
    return sps.diags_array([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)],
                           offsets=[-1, 0, 1], format="csr")


def poisson2d(nx=6, ny=7):
    t = lambda k: sps.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)],
                                  offsets=[-1, 0, 1])
    return sps.csr_array(sps.kronsum(t(nx), t(ny)))


def band(n=37, half=2, seed=0):
    """Random values on 2 * half + 1 diagonals (no explicit zeros)."""
    rng = np.random.default_rng(seed)
    diags = [rng.uniform(1, 2, n - abs(k)) for k in range(-half, half + 1)]
    return sps.diags_array(diags, offsets=range(-half, half + 1), format="csr")


def random(n=41, density=0.15, seed=0):
    return sps.random_array((n, n), density=density, format="csr",
                            rng=np.random.default_rng(seed))


def with_outliers(n=64):
    """Tridiagonal plus three one-entry diagonals inside each half's diagonal block."""
    S = tridiagonal(n).tolil()
    for i, j in [(0, 20), (25, 2), (5, 30), (33, 60), (60, 35), (40, 62)]:
        S[i, j] = 1.0
    return sps.csr_array(S)


def offsets_of(S):
    return _structure.banded_offsets(S.indptr, S.indices, S.shape, S.dtype, S.indices.dtype)


# -- the detector --------------------------------------------------------------------
def test_tridiagonal_and_poisson_pick_diagonals_random_does_not():
    np.testing.assert_array_equal(offsets_of(tridiagonal()), [-1, 0, 1])
    np.testing.assert_array_equal(offsets_of(poisson2d(6, 7)), [-6, -1, 0, 1, 6])
    assert offsets_of(random(200, 0.05)) is None
    assert offsets_of(sps.csr_array((5, 5))) is None  # no entries: nothing to gain


def test_a_band_with_far_outliers_follows_the_bytes():
    S = with_outliers(64)
    # 9 diagonals x 64 x 8 bytes = 4608 > 196 x 12 + 65 x 4 = 2612: stay CSR
    assert offsets_of(S) is None
    P2 = poisson2d(30, 30).tolil()
    P2[0, 899] = 1.0  # one outlier on a 2-D Poisson matrix still pays for its diagonal
    P2 = sps.csr_array(P2)
    assert offsets_of(P2).size == 6
    assert _structure.diagonals_pay(6, P2.nnz, P2.shape, np.float64, np.int32)


def test_dia_from_csr_sums_duplicates_and_its_slot_map_moves_values_under_jit():
    # unsorted, with a duplicate (row 1, col 2) and capacity padding past indptr[-1]
    indptr = np.array([0, 2, 5, 6])
    indices = np.array([1, 0, 2, 1, 2, 0, 3, 3])
    data = np.array([1.0, 2, 3, 4, 5, 6, 0, 0])
    offsets = np.array([-2, -1, 0, 1])
    dia, slot = _structure.dia_from_csr(data, indptr, indices, (3, 3), offsets)
    dense = sps.csr_array((data[:6], indices[:6], indptr), shape=(3, 3)).toarray()
    got = js.DIA(jnp.asarray(dia), jnp.asarray(offsets), shape=(3, 3)).todense()
    np.testing.assert_array_equal(np.asarray(got), dense)
    assert got[1, 2] == 3.0 + 5.0  # the duplicate was summed
    assert slot[6] == slot[7] == offsets.size * 3  # padding slots point past the end
    moved = jax.jit(lambda v, s: jnp.zeros(dia.size, v.dtype).at[s].add(v, mode="drop"))(
        jnp.asarray(data * 3), jnp.asarray(slot))
    np.testing.assert_array_equal(np.asarray(moved).reshape(dia.shape), 3 * dia)
    with pytest.raises(ValueError, match="missing"):
        _structure.dia_slot_map(indptr, indices, (3, 3), [0, 1])


def test_csc_arrays_give_the_same_diagonals():
    S = poisson2d(5, 4)
    C = S.tocsc()
    by_csc = _structure.banded_offsets(C.indptr, C.indices, C.shape, C.dtype,
                                       C.indices.dtype, csc=True)
    np.testing.assert_array_equal(by_csc, offsets_of(S))
    d_csr, _ = _structure.dia_from_csr(S.data, S.indptr, S.indices, S.shape, by_csc)
    d_csc, _ = _structure.dia_from_csr(C.data, C.indptr, C.indices, C.shape, by_csc, csc=True)
    np.testing.assert_array_equal(d_csr, d_csc)


# -- sharded: the choice -------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 2, 4])
def test_auto_layout_is_reported_in_the_plan_and_repr(d):
    mesh = mesh_of(d)
    As = jsh.shard(band(), mesh, "x")
    assert As.plan.local_format == As.local_format == "dia"
    assert As.plan.own_diagonals == 5 and As.own_data.shape[1:] == (5, As.plan.cols.block)
    assert "local_format='dia' (5 diagonals)" in repr(As.plan)
    assert "local_format='dia'" in repr(As)
    assert jsh.plan(poisson2d(8, 9), mesh, "x").local_format == "dia"
    Rs = jsh.shard(random(), mesh, "x")
    assert Rs.plan.local_format == "csr" and Rs.own_offsets is None
    assert "local_format='csr'" in repr(Rs)
    Fs = jsh.shard(band(), mesh, "x", local_format="csr")
    assert Fs.plan.local_format == "csr" and Fs.key != As.key  # part of the static key


def test_bad_local_formats_raise():
    mesh = mesh_of(2)
    with pytest.raises(ValueError, match="local_format must be one of"):
        jsh.shard(band(), mesh, "x", local_format="ell")
    with pytest.raises(ValueError, match=r"local_format='dia'.*more than 64"):
        jsh.shard(random(200, 0.2), mesh, "x", local_format="dia")
    # few diagonals that do not pay: forcing is allowed (that is what forcing is for)
    S = with_outliers(64)  # each half: 6 diagonals x 32 x 8 = 1536 bytes > CSR's ~1300
    As = jsh.shard(S, mesh, "x", local_format="dia")
    assert As.plan.local_format == "dia" and As.plan.own_diagonals == 6
    assert jsh.plan(S, mesh, "x").local_format == "csr"
    x = np.arange(64.0)
    assert_close(As @ x, S @ x, np.float64)


# -- sharded: results in the DIA layout against SciPy and forced CSR --------------------
def _both(S, mesh):
    dia = jsh.shard(S, mesh, "x", local_format="dia")
    csr = jsh.shard(S, mesh, "x", local_format="csr")
    assert dia.plan.local_format == "dia" and csr.plan.local_format == "csr"
    return dia, csr


@pytest.mark.parametrize("d", [1, 2, 4])
@pytest.mark.parametrize("build", [band, poisson2d], ids=["band", "poisson2d"])
def test_products_match_scipy_and_the_csr_layout(build, d):
    S = build()
    n = S.shape[0]
    Ds, Cs = _both(S, mesh_of(d))
    rng = np.random.default_rng(d)
    x, y, X = rng.standard_normal(n), rng.standard_normal(n), rng.standard_normal((n, 3))
    xs = Ds.shard_vector(x)
    ys = jax.jit(lambda A, v: A @ v)(Ds, xs)
    assert ys.sharding == xs.sharding
    assert_close(Ds.unshard_vector(ys), S @ x, np.float64)
    assert_close(Ds.unshard_vector(ys), Cs.unshard_vector(Cs @ xs), np.float64)
    np.testing.assert_array_equal(np.asarray(ys)[~Ds.plan.mask], 0.0)
    assert_close(Ds.T @ y, S.T @ y, np.float64)
    assert_close(jax.jit(lambda A, v: A.T @ v)(Ds, Ds.shard_vector(y, "rows")),
                 Cs.T @ Cs.shard_vector(y, "rows"), np.float64)
    assert_close(Ds @ X, S @ X, np.float64)
    assert_close(y @ Ds, y @ S, np.float64)


@pytest.mark.parametrize("backend", ["xla", "native"])
def test_both_dia_backends_agree(backend):
    from jaxsparse.ops import _dispatch
    from jaxsparse.sharding._sharded_ops import dia_backend, matmul, matmul_transposed

    if backend not in _dispatch.available("dia_matmul"):
        pytest.skip(f"the {backend} backend is not built here")
    S = poisson2d(8, 9)
    Ds = jsh.shard(S, mesh_of(2), "x", local_format="dia")
    x = np.random.default_rng(0).standard_normal(S.shape[0])
    assert_close(matmul(Ds, x, backend=backend), S @ x, np.float64)
    assert_close(matmul_transposed(Ds, x, backend=backend), S.T @ x, np.float64)
    xs = Ds.shard_vector(x)
    text = jax.jit(lambda A, v: matmul(A, v, backend=backend)).lower(Ds, xs).as_text()
    # The platform's CSR default maps to its DIA default (XLA's fused kernel on CPU,
    # measured faster), chosen when lowered (None); a forced reference stays the
    # reference.
    chosen = dia_backend(backend)
    assert chosen == ("xla" if backend == "xla" else None)
    resolved = _dispatch.pick("dia_matmul", chosen)
    assert resolved == ("xla" if backend == "xla" else _dispatch.pick("dia_matmul"))
    assert ("jaxsparse_dia_matmul" in text) == (resolved == "native")


def test_rectangular_blocks_have_their_own_diagonals_per_shard():
    S = sps.diags_array([np.arange(1.0, 31), np.ones(30), -np.ones(30)], offsets=[0, 3, 6],
                        shape=(30, 45), format="csr")
    Ds, Cs = _both(S, mesh_of(4))
    offsets = np.asarray(Ds.own_offsets)
    assert not all(np.array_equal(offsets[0], o) for o in offsets[1:])  # per shard
    x, y = np.arange(45.0), np.arange(30.0)
    assert_close(Ds @ x, S @ x, np.float64)
    assert_close(Ds.T @ y, S.T @ y, np.float64)


def test_shards_with_fewer_diagonals_are_padded_to_the_common_count():
    n = 40  # 3 entries a row: on 3 diagonals in the first half, on 4 in the second
    rows = np.repeat(np.arange(n), 3)
    cols = np.concatenate([[i - 1, i, i + 1] if i < 20 else [i, i + 1, i + 2 + i % 2]
                           for i in range(n)])
    keep = (cols >= 0) & (cols < n)
    S = sps.csr_array((np.linspace(1, 2, keep.sum()), (rows[keep], cols[keep])), shape=(n, n))
    Ds = jsh.shard(S, mesh_of(2), "x", local_format="dia")
    assert not Ds.plan.permuted and Ds.plan.own_diagonals == 4
    offsets = np.asarray(Ds.own_offsets)
    assert (offsets[0] == Ds.plan.cols.block).sum() == 1  # padded with an off-block diagonal
    x = np.random.default_rng(0).standard_normal(n)
    assert_close(Ds @ x, S @ x, np.float64)
    assert_close(Ds.T @ x, S.T @ x, np.float64)
    assert_close(Ds.unshard_vector(Ds.diagonal()), S.diagonal(), np.float64)


@pytest.mark.parametrize("d", [2, 4])
def test_sums_and_diagonal(d):
    S = band(37, 3, seed=d)
    Ds, Cs = _both(S, mesh_of(d))
    assert_close(Ds.sum(), S.sum(), np.float64)
    for axis, side in ((1, "rows"), (0, "cols")):
        got = Ds.unshard_vector(Ds.sum(axis=axis), side=side)
        assert_close(got, S.sum(axis=axis), np.float64)
        assert_close(got, Cs.unshard_vector(Cs.sum(axis=axis), side=side), np.float64)
    assert_close(Ds.unshard_vector(Ds.diagonal()), S.diagonal(), np.float64)


@pytest.mark.parametrize("d", [1, 4])
def test_sddmm_and_its_gradient_on_the_dia_layout(d):
    S = band(24, 2, seed=1)
    Ds, Cs = _both(S, mesh_of(d))
    rng = np.random.default_rng(1)
    B, C = rng.standard_normal((24, 3)), rng.standard_normal((3, 24))
    R = jsh.sddmm(Ds, B, C)
    assert R.plan.local_format == "dia"
    for got, want in zip(R.vals, jsh.sddmm(Cs, B, C).vals, strict=True):
        assert_close(got, want, np.float64)  # the same CSR slot order in both layouts
    x = np.ones(24)
    assert_close(R @ x, (S.toarray() * (B @ C)) @ x, np.float64)

    def loss(A):
        return jax.jit(jax.grad(lambda B: sum(jnp.sum(v ** 2) for v in jsh.sddmm(A, B, C).vals)))
    assert_close(loss(Ds)(B), loss(Cs)(B), np.float64)


def test_vals_are_csr_slot_ordered_in_both_layouts_and_with_values_under_jit():
    S = poisson2d(8, 9)
    mesh = mesh_of(4)
    Ds, Cs = _both(S, mesh)
    for got, want in zip(Ds.vals, Cs.vals, strict=True):  # layout-independent
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))
    assert Ds.vals[0].shape == Cs.own_indices.shape
    # the diagonal layout keeps no CSR column indices: a mask over the band holds the
    # pattern, one bit per band slot
    n_diags, n_cols = Ds.plan.own_diagonals, Ds.plan.cols.block
    assert Ds.own_indices is None and Ds.own_mask.shape == (4, n_diags, -(-n_cols // 8))
    assert Ds.own_mask.dtype == np.uint8
    np.testing.assert_array_equal(np.asarray(own_columns(Ds)), np.asarray(Cs.own_indices))
    x = np.random.default_rng(0).standard_normal(S.shape[0])
    xs = Ds.shard_vector(x)
    f = jax.jit(lambda A, v, xs: A.with_values((v[0] * 2, v[1] * 2)) @ xs)
    assert_close(Ds.unshard_vector(f(Ds, Cs.vals, xs)), 2 * (S @ x), np.float64)
    back = Ds.with_values(Ds.vals)
    np.testing.assert_array_equal(np.asarray(back.own_data), np.asarray(Ds.own_data))
    with pytest.raises(ValueError, match="vals must be"):
        Ds.with_values((Ds.own_data, Ds.halo_data))  # DIA-shaped: not what vals holds


def test_the_band_mask_tells_stored_zeros_from_holes():
    S = poisson2d(9, 7)  # holes in the +-1 diagonals at the grid's edges
    S.data[::5] = 0.0  # stored zeros: entries of the pattern all the same
    Ds, Cs = _both(S, mesh_of(2))
    bits = np.unpackbits(np.asarray(Ds.own_mask), axis=-1, bitorder="little")
    assert int(bits.sum()) == int(np.asarray(Cs.own_indptr)[:, -1].sum())
    np.testing.assert_array_equal(np.asarray(own_columns(Ds)), np.asarray(Cs.own_indices))
    for got, want in zip(Ds.vals, Cs.vals, strict=True):
        np.testing.assert_array_equal(np.asarray(got), np.asarray(want))


@pytest.mark.parametrize("local_format", ["dia", "csr"])
def test_a_halo_block_of_one_row_keeps_the_last_owned_row(local_format):
    """Found by the fuzz profile: on 4 devices each halo block has one row, padding
    shards' row is the sentinel, and with diagonals XLA:CPU rewrote the one-row scatter
    that drops it into a read past the block: row 3 (the last row of shard 1) came
    back 0 instead of -3 * x[3]."""
    S = sps.csr_array((np.array([3.0, 3.0, -3.0, -2.0, -3.0]),
                       (np.array([0, 0, 3, 5, 5]), np.array([0, 1, 3, 4, 6]))), shape=(8, 8))
    As = jsh.shard(S, mesh_of(4), "x", local_format=local_format)
    assert As.plan.halo_block_rows == 1 and As.plan.rows.block > 1
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal(8), rng.standard_normal(8)
    X = np.stack([x, y], axis=1)
    assert_close(As.unshard_vector(As @ As.shard_vector(x)), S @ x, np.float64)
    assert_close(As @ X, S @ X, np.float64)
    assert_close(As.T @ y, S.T @ y, np.float64)
    assert_close(As.unshard_vector(As.sum(axis=1)), S.sum(axis=1), np.float64)


def test_grad_through_the_dia_product_matches_csr():
    S = poisson2d(8, 9)
    mesh = mesh_of(4)
    Ds, Cs = _both(S, mesh)
    D = S.toarray()
    x = np.random.default_rng(0).standard_normal(S.shape[0])

    def grads(As):
        xs = As.shard_vector(x)
        loss = jax.jit(lambda v, xs: jnp.sum((As.with_values(v) @ xs) ** 2))
        with jax.set_mesh(mesh):
            g_vals, g_x = jax.grad(loss, argnums=(0, 1))(As.vals, xs)
        return g_vals, As.unshard_vector(g_x)

    (gd_own, gd_halo), gd_x = grads(Ds)
    (gc_own, gc_halo), gc_x = grads(Cs)
    assert_close(gd_x, 2 * D.T @ (D @ x), np.float64)
    assert_close(gd_x, gc_x, np.float64)
    assert_close(gd_own, gc_own, np.float64)
    assert_close(gd_halo, gc_halo, np.float64)


def test_scalar_and_same_pattern_arithmetic_and_astype():
    S = band(33, 2, seed=3)
    mesh = mesh_of(2)
    Ds, Cs = _both(S, mesh)
    x = np.random.default_rng(2).standard_normal(33)
    assert_close((-Ds) @ x, -(S @ x), np.float64)
    assert_close((Ds * 3.0) @ x, 3 * (S @ x), np.float64)
    assert_close((Ds / 4.0) @ x, (S @ x) / 4, np.float64)
    assert_close((Ds + Ds) @ x, 2 * (S @ x), np.float64)
    mixed = Ds - jsh.shard(2 * S, mesh, "x", like=Ds, local_format="csr")
    assert mixed.plan.local_format == "dia"
    assert_close(mixed @ x, -(S @ x), np.float64)
    F = Ds.astype(jnp.float32)
    assert F.dtype == jnp.float32 and F.own_data.shape == Ds.own_data.shape
    assert_close(F @ x.astype(np.float32), S @ x, np.float32)


@pytest.mark.parametrize("kind", [AxisType.Explicit, AxisType.Auto])
def test_cg_on_the_dia_layout(kind):
    import scipy.sparse.linalg as spla

    S = poisson2d(8, 9)
    b = np.random.default_rng(3).standard_normal(S.shape[0])
    x_ref, _ = spla.cg(S, b, rtol=1e-10)
    mesh = mesh_of(4, kind)
    As = jsh.shard(S, mesh, "x", local_format="dia")
    bs = As.shard_vector(b)
    with jax.set_mesh(mesh):
        xs, info = jax.jit(lambda A, b: js.linalg.cg(A, b, rtol=1e-10))(As, bs)
    assert int(info) == 0 and xs.sharding == NamedSharding(mesh, P("x"))
    assert_close(As.unshard_vector(xs), x_ref, np.float64, scale=1e3)


@pytest.mark.parametrize("solver", ["gmres", "bicgstab"])
def test_nonsymmetric_solvers_on_the_dia_layout(solver):
    import scipy.sparse.linalg as spla

    rng = np.random.default_rng(4)
    S = poisson2d(8, 9) + sps.diags_array(rng.uniform(0, 0.5, 71), offsets=1)  # nonsymmetric
    S = sps.csr_array(S)
    b = rng.standard_normal(S.shape[0])
    x_ref, info_ref = getattr(spla, solver)(S, b, rtol=1e-10)
    mesh = mesh_of(4)
    As = jsh.shard(S, mesh, "x", local_format="dia")
    bs = As.shard_vector(b)
    with jax.set_mesh(mesh):
        xs, info = jax.jit(lambda A, b: getattr(js.linalg, solver)(A, b, rtol=1e-10))(As, bs)
    assert int(info) == info_ref == 0
    assert_close(As.unshard_vector(xs), x_ref, np.float64, scale=1e4)


# -- the drop-in: a banded matrix on one device multiplies through cached diagonals ----
def test_drop_in_banded_matrix_multiplies_through_a_cached_dia_view():
    import jaxsparse.scipy_compat as sp
    from jaxsparse import sharding

    sharding.set_default_mesh(None)
    try:
        S = poisson2d(30, 30)  # 4380 entries on 5 diagonals
        A = sp.csr_array(S)
        x = np.random.default_rng(0).standard_normal(S.shape[0])
        np.testing.assert_allclose(np.asarray(A @ x), S @ x, rtol=1e-13)
        view = A._operator()
        assert isinstance(view, js.DIA) and A._operator() is view
        np.testing.assert_array_equal(np.sort(np.asarray(view.offsets)), [-30, -1, 0, 1, 30])
        R = sp.csr_array(random(200, 0.15))  # ~6000 scattered entries: no diagonals
        assert not isinstance(R._operator(), js.DIA)
    finally:
        sharding._default._default = sharding._default._UNSET


@pytest.mark.parametrize("local_format", ["dia", "csr"])
def test_halo_block_keeps_only_the_rows_that_read_halo_columns(local_format):
    """A stencil block reads halo columns in a few rows at each end: its halo product
    walks those rows only and adds at them; a scattered pattern keeps every row."""
    S = poisson2d(16, 16)  # 256 rows over 4 shards: 16 halo rows at each block end
    As = jsh.shard(S, mesh_of(4), "x", local_format=local_format)
    plan = As.plan
    assert plan.halo_block_rows < plan.rows.block
    assert As.halo_rows.shape == (4, plan.halo_block_rows)
    assert As.halo_indptr.shape == (4, plan.halo_block_rows + 1)
    x = np.random.default_rng(1).standard_normal(256)
    B = np.random.default_rng(2).standard_normal((256, 3))
    C = np.random.default_rng(3).standard_normal((3, 256))
    assert_close(As @ x, S @ x, np.float64)
    assert_close(As.T @ x, S.T @ x, np.float64)
    assert_close(As.unshard_vector(As.sum(axis=1)), S.sum(axis=1), np.float64)
    sampled = jsh.sddmm(As, B, C)
    dense = S.toarray() * (B @ C)
    own, halo = sampled.vals  # every stored entry once: their sum is the dense sum
    assert_close(np.sum(np.asarray(own)) + np.sum(np.asarray(halo)), dense.sum(), np.float64)
    Rs = jsh.shard(random(64, 0.2), mesh_of(4), "x")
    assert Rs.plan.halo_block_rows == Rs.plan.rows.block


@pytest.mark.parametrize("half, vectors", [(15, 5.25), (5, 4.25)],
                         ids=["31-diagonals-fori", "11-unrolled"])
def test_a_solver_loop_holds_no_second_copy_of_the_diagonals(half, vectors):
    # A masked copy of a diagonal is loop-invariant: XLA hoisted every diagonal's copy
    # out of cg's while loop, holding the matrix twice for the solve. The band mask now
    # applies to products only. Then each diagonal's mask (a byte per column) was
    # hoisted in the same way, 1.4 vectors' worth for 11 diagonals; A @ x no longer
    # masks what the shift drops. The loop's temporaries are cg's own vectors: x, r, p
    # and A @ p, and the product's accumulator when its diagonals run in a fori_loop
    # (measured before the change: 7.0 and 5.4 vectors).
    S = band(n=20000, half=half)
    mesh = mesh_of(2)
    Ds = jsh.shard(S, mesh, "x", local_format="dia")
    xs = Ds.shard_vector(np.ones(S.shape[0]))
    with jax.set_mesh(mesh):
        solve = jax.jit(lambda A, v: js.linalg.cg(A, v, maxiter=3)).lower(Ds, xs).compile()
    vector = xs.nbytes // 2  # one device's part of a vector
    assert solve.memory_analysis().temp_size_in_bytes <= vectors * vector
    # more than 16 diagonals run in a fori_loop, whose carry must vary like the terms
    assert_close(Ds.unshard_vector(Ds @ xs), S @ np.ones(S.shape[0]), np.float64)


# -- block sizes: large blocks are skewed off page multiples ----------------------------
def test_large_blocks_are_skewed_off_page_multiples():
    """A bucket of 16384 slots or more is a multiple of 512: as a block size it would
    start every diagonal of a DIA block at one offset within its pages (layout_block)."""
    from jaxsparse.sharding._layout import SKEW_MIN_BLOCK, bucket, layout_block

    for rows in [1, 100, 1000, SKEW_MIN_BLOCK - 1, SKEW_MIN_BLOCK, 5000, 16384, 10**6,
                 1_015_000, 2**20, 2**22 + 1]:
        block = layout_block(rows)
        assert block >= rows
        if bucket(rows) < SKEW_MIN_BLOCK:
            assert block == bucket(rows)
            continue
        assert block - rows <= rows // 32 + 72  # the bucket's waste and the skew
        for itemsize in (2, 4, 8, 16):
            past = block * itemsize % 4096
            assert 64 <= past <= 4096 - 64, (rows, itemsize, past)


def test_a_skewed_dia_block_multiplies_as_scipy():
    """Two shards of 5000 rows: blocks of layout_block(5000) slots, a skewed DIA
    ``(n_diags, block)`` data, and every product still equal to SciPy's."""
    from jaxsparse.sharding._layout import bucket, layout_block

    S = band(10_000, half=5, seed=3)
    Ds, Cs = _both(S, mesh_of(2))
    block = layout_block(5000)
    assert block != bucket(5000)
    assert Ds.plan.rows.block == Ds.plan.cols.block == block
    assert Ds.own_data.shape == (2, 11, block)
    rng = np.random.default_rng(1)
    x, X = rng.standard_normal(10_000), rng.standard_normal((10_000, 3))
    for A in (Ds, Cs):
        np.testing.assert_allclose(A.unshard_vector(A @ A.shard_vector(x)), S @ x,
                                   rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(A.T @ x, S.T @ x, rtol=1e-13, atol=1e-13)
        np.testing.assert_allclose(A @ X, S @ X, rtol=1e-13, atol=1e-13)
