"""What every square Krylov solver shares: operand preparation, implicit gradients,
callbacks, and SciPy's return conventions.

Each solver file holds one ``_loop(A, Ms, b, x0, params, static, callback)`` that runs
SciPy's iteration as a single ``lax.while_loop`` and returns ``(x, info)``. ``A`` and the
preconditioners are ``Operator``\\ s (see ``_operator``: ``A.matvec(v) = A v``,
``A.rmatvec(v) = A^H v``); ``A.T`` is the transposed operator, so the gradient's
transposed solve is the same solver run on ``(A^T, M^T)``.

Callbacks: a ``callback`` runs through ``jax.debug.callback(..., ordered=True)`` once per
iteration, inside the compiled loop. Each call is a device-to-host transfer of the iterate
and a Python call; the loop is then traced afresh on every solve (a user's function is not
cached as part of a compiled program). Without a callback there is no host round trip.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
from jax import lax

from ..ops._dtypes import as_dense
from ._operator import as_operator, identity_operator
from ._sharded import solve_in_layout
from ._vectors import norm

RUNNING = -(2**30)  # ``code`` of a loop that has not stopped on its own


def emit(callback: Callable | None, *args) -> None:
    """Call ``callback(*args)`` on the host, in iteration order (no-op without one)."""
    if callback is not None:
        jax.debug.callback(callback, *args, ordered=_ordered(args))


def _ordered(args) -> bool:
    """Whether a host callback can be an ordered effect: not in a program over several
    devices (a sharded solve), where JAX refuses ordered effects. There the callback is
    unordered, and iteration order still holds: each call reads the loop's carry, so
    the loop cannot reach the next iteration's call first."""
    mesh = jax.sharding.get_abstract_mesh()
    if not mesh.empty and mesh.size > 1:
        return False
    for a in args:
        sharding = getattr(jax.typeof(a), "sharding", None)
        spec_mesh = getattr(sharding, "mesh", None)
        if spec_mesh is not None and not spec_mesh.empty and spec_mesh.size > 1:
            return False
    return True


def real_dtype(dtype):
    return jnp.finfo(dtype).dtype


def budget(b, params, default_maxiter):
    """``(maxiter, bnorm, tol)``, SciPy's stopping data: ``maxiter`` (``default_maxiter``
    when the caller passed ``None``), ``norm(b)`` and ``max(atol, rtol * norm(b))``."""
    real = real_dtype(b.dtype)
    maxiter = jnp.where(params["maxiter"] < 0, default_maxiter, params["maxiter"])
    bnorm = norm(b)
    tol = jnp.maximum(params["atol"].astype(real), params["rtol"].astype(real) * bnorm)
    return maxiter, bnorm, tol


def initial_residual(A, b, x0):
    """``(x, r)``: the starting guess (zeros by default) and ``b - A x``."""
    if x0 is None:
        return jnp.zeros_like(b), b
    return x0, b - A.matvec(x0).astype(b.dtype)


def lsq_stop_code(itn, maxiter, test1, test2, test3, t1, rtol, atol, ctol):
    """LSQR/LSMR's ``istop`` (SciPy's numbering): the first test that holds, checked in
    SciPy's order of precedence (1 beats 2 beats ... beats 7, the iteration limit)."""
    code = jnp.int32(0)
    code = jnp.where(itn >= maxiter, 7, code)
    code = jnp.where(1 + test3 <= 1, 6, code)
    code = jnp.where(1 + test2 <= 1, 5, code)
    code = jnp.where(1 + t1 <= 1, 4, code)
    code = jnp.where(test3 <= ctol, 3, code)
    code = jnp.where(test2 <= atol, 2, code)
    code = jnp.where(test1 <= rtol, 1, code)
    return code.astype(jnp.int32)


def where_tree(pred, new, old):
    """``new`` where ``pred`` else ``old``, leaf by leaf."""
    return jax.tree.map(lambda a, b: jnp.where(pred, a, b), new, old)


def finish_info(code, converged, maxiter):
    """SciPy's ``info``: a breakdown code, else ``0`` if converged, else ``maxiter``."""
    info = jnp.where(converged, 0, maxiter)
    return jnp.where(code != RUNNING, code, info).astype(jnp.int32)


def solve_square(
    name: str,
    loop: Callable,
    A: Any,
    b: Any,
    x0: Any,
    Ms: tuple,
    *,
    params: dict,
    static: tuple = (),
    callback: Callable | None = None,
    implicit: bool = True,
    hermitian: bool = False,
    vectors: dict | None = None,
    masks: dict | None = None,
):
    """Run ``loop`` on ``A x = b`` with SciPy's conventions; returns ``(x, info)``.

    ``Ms`` are the preconditioners (``None`` for the identity). ``params`` are traced
    scalars (tolerances, ``maxiter``), ``static`` hashable options (buffer sizes).
    ``vectors`` (name -> ``(p, n)`` stack, e.g. recycled subspaces) join ``params`` in
    ``b``'s layout; ``masks`` (name -> small array, e.g. which recycled pairs came
    without a vector) join ``params`` as they are. A loop run with ``implicit=False``
    (no gradients) returns ``((x, info), aux)``; stacks of vectors in ``aux`` come
    back in global order.
    ``hermitian``: ``A`` and the preconditioners are Hermitian, so the gradient's
    transposed solve runs on ``A`` itself (``A^T = conj(A)``), never on ``A.T``.
    """
    b = as_dense(b, "b")
    if b.ndim != 1:
        raise ValueError(f"b must be 1-D, got shape {b.shape}")
    check_scalar_params(params)
    params = {**params, **(masks or {})}
    M_any = next((M for M in Ms if M is not None), None)
    solve = functools.partial(
        _prepared,
        name,
        loop,
        A,
        Ms,
        params=params,
        static=static,
        callback=callback,
        implicit=implicit,
        hermitian=hermitian,
    )
    return solve_in_layout(A, b, x0, M_any, solve, vectors=vectors, has_aux=not implicit)


def require_finite_rhs(b) -> None:
    """SciPy's ``lgmres`` and ``gcrotmk`` refuse a right-hand side holding NaN or inf
    (the other solvers return ``info > 0``). Checked when ``b`` is concrete; under
    ``jit`` the NaN runs through and ``info`` reports non-convergence."""
    if b is None or isinstance(b, jax.core.Tracer):
        return
    v = as_dense(b, "b")
    if not isinstance(v, jax.core.Tracer) and not bool(jnp.all(jnp.isfinite(v))):
        raise ValueError("RHS must contain only finite numbers")


def check_scalar_params(params: dict) -> None:
    """Tolerances and ``maxiter`` are numeric scalars: say which one is not (a vector
    would reach ``lax.while_loop`` as a non-scalar condition; a string, JAX's message)."""
    for name, value in params.items():
        v = as_dense(value, name)
        if v.ndim != 0:
            raise ValueError(f"{name} must be a scalar, got shape {v.shape}")
        if v.dtype.kind not in "biufc":
            raise TypeError(f"{name} must be a number, got dtype {v.dtype}")
        if name == "maxiter" and v.dtype.kind not in "iu":  # SciPy: range(maxiter)
            raise TypeError(f"maxiter must be an integer, got {v.dtype}")


def _prepared(
    name, loop, A, Ms, b, x0, vectors=None, *, params, static, callback, implicit, hermitian
):
    n = b.shape[0]
    A_op = as_operator(A, "A", n=n, dtype=b.dtype)
    M_ops = [None if M is None else as_operator(M, "M", n=n, dtype=b.dtype) for M in Ms]
    dtypes = [b.dtype] + [
        op.dtype for op in [A_op, *M_ops] if op is not None and op.dtype is not None
    ]
    if x0 is not None:
        x0 = as_dense(x0, "x0")
        if x0.shape != b.shape:
            raise ValueError(f"x0 must have the shape of b, {b.shape}, got {x0.shape}")
        dtypes.append(x0.dtype)
    dtype = jnp.result_type(*dtypes)
    if not jnp.issubdtype(dtype, jnp.inexact):
        dtype = jnp.result_type(dtype, float)
    b = b.astype(dtype)
    if x0 is not None:
        x0 = x0.astype(dtype)
    if not jnp.issubdtype(dtype, jnp.complexfloating) and any(
        op is not None and op.host and jnp.issubdtype(op.dtype, jnp.complexfloating)
        for op in [A_op, *M_ops]
    ):
        raise TypeError(f"{name}: a complex operator needs a complex b")
    precs = tuple(identity_operator(n) if op is None else op for op in M_ops)
    params = {k: jnp.asarray(v) for k, v in {**params, **(vectors or {})}.items()}
    user = any(op.user_code for op in (A_op, *precs)) or callback is not None
    # NumPy products (``pure_callback``) can be neither differentiated nor transposed by
    # JAX, and ``custom_linear_solve`` transposes its matvec: solve without it.
    implicit = implicit and not any(op is not None and op.host for op in [A_op, *M_ops])
    if user:
        # A user's function would become part of the jit cache key (kept alive by the
        # cache with whatever it closes over): trace afresh instead.
        return _implicit(loop, A_op, precs, b, x0, params, static, callback, implicit, hermitian)
    return _implicit_jit(loop, A_op, precs, b, x0, params, static, None, implicit, hermitian)


def _implicit(loop, A, precs, b, x0, params, static, callback, implicit, hermitian):
    """The solve with gradients by implicit differentiation (``custom_linear_solve``)."""
    if not implicit:
        return loop(A, precs, b, x0, params, static, callback)

    def solve(_matvec, rhs):
        return loop(A, precs, rhs, x0, params, static, callback)

    def transpose_solve(_vecmat, rhs):
        # A^T y = c from zero, without the callback
        if not hermitian:  # the same solver on (A^T, M^T)
            return loop(A.T, tuple(p.T for p in precs), rhs, None, params, static, None)
        # A^T = conj(A): y = conj(A^{-1} conj(c)), a solve with A (and M) itself
        if not jnp.issubdtype(b.dtype, jnp.complexfloating):
            return loop(A, precs, rhs, None, params, static, None)
        y, info = loop(A, precs, jnp.conj(rhs), None, params, static, None)
        return jnp.conj(y), info

    # symmetric=hermitian: the transposed solve above runs on A, so JAX need not transpose it
    return lax.custom_linear_solve(
        A.matvec, b, solve, transpose_solve, symmetric=hermitian, has_aux=True
    )


_implicit_jit = jax.jit(
    _implicit, static_argnames=("loop", "static", "callback", "implicit", "hermitian")
)


def emit_if(callback: Callable | None, pred, *args) -> None:
    """:func:`emit` when the traced ``pred`` holds (skipped iterations stay silent)."""
    if callback is not None:
        lax.cond(pred, lambda: jax.debug.callback(callback, *args, ordered=_ordered(args)),
                 lambda: None)


def lartg(f, g):
    """LAPACK's ``lartg``: ``c`` (real), ``s``, ``r`` with ``[c s; -conj(s) c] [f; g] = [r; 0]``."""
    real = real_dtype(f.dtype)
    af, ag = jnp.abs(f), jnp.abs(g)
    d = jnp.hypot(af, ag)
    safe_af = jnp.where(af == 0, 1, af)
    safe_d = jnp.where(d == 0, 1, d)
    phase = jnp.where(af == 0, 1, f / safe_af)
    c = jnp.where(af == 0, 0, af / safe_d).astype(real)
    s = jnp.where(af == 0, jnp.conj(g) / jnp.where(ag == 0, 1, ag), phase * jnp.conj(g) / safe_d)
    r = jnp.where(af == 0, ag, phase * d)
    c = jnp.where(ag == 0, 1, c).astype(real)
    s = jnp.where(ag == 0, 0, s).astype(f.dtype)
    r = jnp.where(ag == 0, f, r).astype(f.dtype)
    return c, s, r


def basis(b, m):
    """``m`` zero vectors stacked like ``b`` (keeps ``b``'s sharding on the vector axis)."""
    return jnp.zeros((m, 1), b.dtype) * b[None, :]


def _sharded_spec(x):
    spec = getattr(jax.typeof(x).sharding, "spec", ())
    return spec if any(s is not None for s in spec) else None


def replicated(x):
    """``x`` with no axis sharded: small dense factorisations (QR, triangular solves)
    refuse operands whose type carries a sharded axis (Explicit meshes)."""
    if _sharded_spec(x) is None:
        return x
    return jax.sharding.reshard(x, jax.sharding.PartitionSpec())


def sharded_like(x, ref):
    """``x`` placed as ``ref`` is (the inverse of :func:`replicated`)."""
    spec = _sharded_spec(ref)
    return x if spec is None else jax.sharding.reshard(x, spec)


def combine(coef, V):
    """``sum_i coef[i] * V[i]`` as a sum of products (no contraction of a sharded axis)."""
    return jnp.sum(coef[:, None] * V, axis=0)


def sym_ortho(a, b):
    """Stable Givens rotation of two real scalars (SciPy's ``_sym_ortho``): ``c, s, r``."""
    one = jnp.ones_like(a)
    sa, sb = jnp.sign(a), jnp.sign(b)
    safe_a = jnp.where(a == 0, one, a)
    safe_b = jnp.where(b == 0, one, b)
    big_b = jnp.abs(b) > jnp.abs(a)
    tau_b = a / safe_b
    s_b = sb / jnp.sqrt(1 + tau_b * tau_b)
    c_b = s_b * tau_b
    r_b = b / jnp.where(s_b == 0, one, s_b)
    tau_a = b / safe_a
    c_a = sa / jnp.sqrt(1 + tau_a * tau_a)
    s_a = c_a * tau_a
    r_a = a / jnp.where(c_a == 0, one, c_a)
    c = jnp.where(big_b, c_b, c_a)
    s = jnp.where(big_b, s_b, s_a)
    r = jnp.where(big_b, r_b, r_a)
    c = jnp.where(b == 0, sa, jnp.where(a == 0, 0, c))
    s = jnp.where(b == 0, 0, jnp.where(a == 0, sb, s))
    r = jnp.where(b == 0, jnp.abs(a), jnp.where(a == 0, jnp.abs(b), r))
    return c, s, r


def prepare_rectangular(name, A, b, x0):
    """``(Operator, b, x0, dtype)`` for the least-squares solvers (``A`` may be ``m x n``)."""
    b = as_dense(b, "b")
    if b.ndim > 1:
        b = jnp.squeeze(b)
    b = jnp.atleast_1d(b)
    if b.ndim != 1:
        raise ValueError(f"{name}: b must be a vector (after squeezing), got shape {b.shape}")
    op = as_operator(A, "A", n=b.shape[0], dtype=b.dtype, square=False)
    dtypes = [b.dtype, float] + ([op.dtype] if op.dtype is not None else [])
    if x0 is not None:
        x0 = as_dense(x0, "x0")
        if x0.shape != (op.shape[1],):
            raise ValueError(f"x0 must have shape ({op.shape[1]},), got {x0.shape}")
        dtypes.append(x0.dtype)
    dtype = jnp.result_type(*dtypes)
    b = b.astype(dtype)
    if x0 is not None:
        x0 = x0.astype(dtype)
    return op, b, x0, dtype
