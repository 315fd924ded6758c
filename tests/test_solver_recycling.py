"""Solver state that SciPy keeps in Python lists across calls (``gcrotmk``'s ``CU``,
``lgmres``'s ``outer_v``) and ``minres``'s ``check``, against SciPy on the same inputs."""

from __future__ import annotations

import jax
import numpy as np
import pytest
import scipy.sparse as sps
import scipy.sparse.linalg as spla
from jax.sharding import AxisType
from solver_problems import problem

import jaxsparse as js
import jaxsparse.linalg as jl
import jaxsparse.sharding as jsh


def rel_err(x, ref):
    return np.linalg.norm(np.asarray(x) - ref) / np.linalg.norm(ref)


def _twice(ours, theirs, p, A, kw, listname):
    """Two solves sharing the list (the second recycles the first's subspace), with a
    small ``maxiter`` so the iterates, not just the limits, are compared."""
    mine, ref = [], []
    for b in (p.b, p.b + 1.0):
        x, info = ours(A, b, rtol=1e-12, maxiter=3, **{listname: mine}, **kw)
        x_ref, info_ref = theirs(p.A, b, rtol=1e-12, maxiter=3, **{listname: ref}, **kw)
        assert int(info) == info_ref
        assert rel_err(x, x_ref) < 1e-10
        assert len(mine) == len(ref)
        for got, want in zip(mine, ref, strict=True):
            for g, w in zip(got, want, strict=True):
                assert (g is None) == (w is None)
    return mine, ref


# every option on one problem, the default-like one on every problem (each option is a
# new compiled loop: the grid is kept sparse)
GCROT_CASES = [("nonsymmetric", kw) for kw in (
    dict(m=4, k=2, truncate="smallest"),
    dict(m=3, k=3, truncate="smallest"),
    dict(m=4, k=1, truncate="smallest"),
    dict(m=4, k=0),
    dict(m=4, k=2, discard_C=True),
)] + [(name, dict(m=4, k=2)) for name in ("poisson2d", "nonsymmetric", "complex")] + [
    ("complex", dict(m=4, k=2, truncate="smallest"))]


def _ids(case):
    name, kw = case
    return name + "-" + "-".join(f"{k}{v}" for k, v in kw.items())


@pytest.mark.parametrize("case", GCROT_CASES, ids=_ids)
def test_gcrotmk_cu_in_and_out_matches_scipy(case):
    name, kw = case
    p = problem(name)
    mine, ref = _twice(jl.gcrotmk, spla.gcrotmk, p, js.CSR.from_scipy(p.A), kw, "CU")
    # the last entry is (None, x); the others are (c, u) pairs with c = A u
    for c, u in mine[:-1]:
        if c is not None:
            np.testing.assert_allclose(p.A @ np.asarray(u), np.asarray(c), atol=1e-10)


def test_gcrotmk_more_incoming_pairs_than_k():
    """Pairs beyond ``k`` going in are used once, then truncated as in SciPy."""
    p = problem("nonsymmetric")
    rng = np.random.default_rng(0)
    us = [rng.standard_normal(p.b.shape) for _ in range(4)]
    ref = [(None, u.copy()) for u in us]
    mine = [(None, u) for u in us]
    x, info = jl.gcrotmk(js.CSR.from_scipy(p.A), p.b, rtol=1e-12, maxiter=2, m=3, k=2, CU=mine)
    x_ref, info_ref = spla.gcrotmk(p.A, p.b, rtol=1e-12, maxiter=2, m=3, k=2, CU=ref)
    assert int(info) == info_ref
    assert rel_err(x, x_ref) < 1e-10
    assert len(mine) == len(ref) == 3


LGMRES_CASES = [("nonsymmetric", kw) for kw in (
    dict(inner_m=4, outer_k=2, prepend_outer_v=True),
    dict(inner_m=3, outer_k=0),
    dict(inner_m=4, outer_k=3, store_outer_Av=False),
)] + [(name, dict(inner_m=4, outer_k=2)) for name in ("poisson2d", "nonsymmetric", "complex")]


@pytest.mark.parametrize("case", LGMRES_CASES, ids=_ids)
def test_lgmres_outer_v_in_and_out_matches_scipy(case):
    name, kw = case
    p = problem(name)
    _twice(jl.lgmres, spla.lgmres, p, js.CSR.from_scipy(p.A), kw, "outer_v")


def test_lgmres_incoming_pairs_without_av_and_beyond_outer_k():
    p = problem("nonsymmetric")
    rng = np.random.default_rng(1)
    zs = [rng.standard_normal(p.b.shape) for _ in range(3)]
    mine = [(z / np.linalg.norm(z), None) for z in zs]
    ref = [(z / np.linalg.norm(z), None) for z in zs]
    kw = dict(rtol=1e-12, maxiter=2, inner_m=3, outer_k=1)
    x, info = jl.lgmres(js.CSR.from_scipy(p.A), p.b, outer_v=mine, **kw)
    x_ref, info_ref = spla.lgmres(p.A, p.b, outer_v=ref, **kw)
    assert int(info) == info_ref
    assert rel_err(x, x_ref) < 1e-10
    assert len(mine) == len(ref) == 1


@pytest.mark.parametrize("solver, listname, kw", [
    ("gcrotmk", "CU", dict(k=2, m=4, truncate="smallest")),
    ("lgmres", "outer_v", dict(outer_k=2)),
])
def test_recycling_on_a_sharded_matrix(solver, listname, kw):
    """The lists hold global-order vectors; inside, they travel in the plan's layout."""
    p = problem("nonsymmetric")
    mesh = jax.make_mesh((4,), ("x",), axis_types=(AxisType.Explicit,), devices=jax.devices()[:4])
    As = jsh.shard(p.A, mesh, "x")
    fn = getattr(jl, solver)
    single, sharded = [], []
    for b in (p.b, p.b + 1.0):
        x1, i1 = fn(js.CSR.from_scipy(p.A), b, rtol=1e-12, maxiter=3, **{listname: single}, **kw)
        x4, i4 = fn(As, b, rtol=1e-12, maxiter=3, **{listname: sharded}, **kw)
        assert int(i1) == int(i4)
        assert rel_err(x4, np.asarray(x1)) < 1e-10
    assert len(single) == len(sharded)
    v1, v4 = single[0][1], sharded[0][1]
    assert np.shape(v4) == p.b.shape
    np.testing.assert_allclose(np.asarray(v4), np.asarray(v1), atol=1e-10)


def test_recycling_lists_are_checked():
    p = problem("poisson1d")
    with pytest.raises(TypeError, match="CU"):
        jl.gcrotmk(js.CSR.from_scipy(p.A), p.b, CU=())
    with pytest.raises(TypeError, match="outer_v"):
        jl.lgmres(js.CSR.from_scipy(p.A), p.b, outer_v=())


# -- minres(check=True) -----------------------------------------------------------------
def _outcome(solver, A, b, M):
    try:
        return int(solver(A, b, M=M, check=True)[1])
    except ValueError as e:
        return str(e)


def test_minres_check_raises_as_scipy():
    n = 20
    T = sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n), format="csr")
    N = (T + sps.diags_array([0.5], offsets=[1], shape=(n, n))).tocsr()
    b = np.ones(n)
    preconditioners = [
        None,
        sps.diags_array(np.linspace(1, 2, n)).tocsr(),
        sps.diags_array(-np.ones(n)).tocsr(),
        (T + sps.diags_array([0.3], offsets=[2], shape=(n, n))).tocsr(),
    ]
    seen = set()
    for A in (T, N):
        for M in preconditioners:
            Mj = None if M is None else js.CSR.from_scipy(M)
            ours = _outcome(jl.minres, js.CSR.from_scipy(A), b, Mj)
            theirs = _outcome(spla.minres, A, b, M)
            assert ours == theirs
            seen.add(theirs)
    assert seen == {0, "indefinite preconditioner", "non-symmetric preconditioner",
                    "non-symmetric matrix"}


def test_minres_check_under_jit_says_why():
    p = problem("poisson1d")
    with pytest.raises(TypeError, match="check=True"):
        jax.jit(lambda A, b: jl.minres(A, b, check=True))(js.CSR.from_scipy(p.A), p.b)
    x, info = jax.jit(lambda A, b: jl.minres(A, b))(js.CSR.from_scipy(p.A), p.b)
    assert int(info) == 0
