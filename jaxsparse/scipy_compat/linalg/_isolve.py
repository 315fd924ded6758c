"""SciPy-signature wrappers over :mod:`jaxsparse.linalg`'s iterative solvers.

Differences from the core solvers, for drop-in use: ``scipy.sparse`` matrices are accepted
(converted once to :class:`jaxsparse.CSR`, a host copy per call: convert once yourself to
avoid it), and ``info`` is a Python ``int`` when the call is not traced (SciPy returns an
``int``). Everything else, including jit-ability and gradients, is the core solver's.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from ... import _operand
from ... import linalg as _core
from ...linalg._operator import as_operator as _as_operator


def _op(A):
    """What the core solver multiplies by. A drop-in matrix gives its ``_operator()``:
    the single-device core, or its cached ShardedCSR over the default mesh when it is
    large enough (transparent distribution: the solve then runs on layout vectors)."""
    import scipy.sparse as sps

    if _operand.implements(A):  # a drop-in matrix (or one traced under jit)
        return _operand.operator_of(A)
    if A is not None and sps.issparse(A):
        from ...formats import CSR

        return CSR.from_scipy(sps.csr_array(A))
    return A


def _preconditioner(M, A_op):
    """``M``'s operator for a solve with ``A_op``. When ``A_op`` is sharded, a drop-in
    ``M`` is sharded with ``A_op``'s vector layout (``like=``): its own cached copy may
    split the rows differently (its plan balances its own nonzeros), and the solver
    applies ``M`` to vectors in ``A``'s layout. Kept in ``M``'s device cache per plan."""
    from ...sharding import ShardedCSR, shard

    op = _op(M)
    if not (isinstance(A_op, ShardedCSR) and _operand.implements(M)):
        return op
    if isinstance(op, ShardedCSR) and op.plan.rows.same_as(A_op.plan.rows):
        return op
    core = _operand.core_of(M)  # makes M's device cache, which a mutation drops
    cache = M.__dict__["_device"]
    if cache.get("like_plan") is not A_op.plan:
        cache["like"] = shard(core, A_op.mesh, A_op.axis, like=A_op)
        cache["like_plan"] = A_op.plan
    return cache["like"]


def _int(info):
    return info if isinstance(info, jax.core.Tracer) else int(info)


def cg(A, b, x0=None, *, rtol=1e-05, atol=0.0, maxiter=None, M=None, callback=None):
    """Conjugate gradients (``jaxsparse.linalg.cg`` with SciPy's conventions)."""
    b = jnp.asarray(b)
    A = _op(A)
    M = _preconditioner(M, A)
    from ...linalg._linear_operator import LinearOperator, _MatrixLinearOperator

    def simple(op):
        # ``cg`` takes matrices and JAX callables; operators become a matvec here (NumPy
        # matvecs through ``jax.pure_callback``, see ``as_operator``).
        op = _operand.core_of(op) if _operand.implements(op) else op
        if isinstance(op, _MatrixLinearOperator):
            return op.A
        if (
            isinstance(op, LinearOperator)
            or hasattr(op, "matvec")
            or (callable(op) and not isinstance(op, jax.Array | np.ndarray))
        ):
            return _as_operator(op, "A", n=b.shape[0], dtype=b.dtype).matvec
        return op

    x, info = _core.cg(
        simple(A), b, x0, rtol=rtol, atol=atol, maxiter=maxiter, M=simple(M), callback=callback
    )
    return x, _int(info)


def _square(solver):
    def wrapped(A, b, x0=None, **kwargs):
        A = _op(A)
        for key in ("M", "M1", "M2"):
            if key in kwargs:
                kwargs[key] = _preconditioner(kwargs[key], A)
        x, info = solver(A, jnp.asarray(b), x0, **kwargs)
        return x, _int(info)

    wrapped.__name__ = solver.__name__
    wrapped.__qualname__ = solver.__name__
    wrapped.__doc__ = solver.__doc__
    wrapped.__wrapped__ = solver
    return wrapped


cgs = _square(_core.cgs)
bicg = _square(_core.bicg)
bicgstab = _square(_core.bicgstab)
gmres = _square(_core.gmres)
lgmres = _square(_core.lgmres)
minres = _square(_core.minres)
qmr = _square(_core.qmr)
tfqmr = _square(_core.tfqmr)
gcrotmk = _square(_core.gcrotmk)


def lsqr(
    A,
    b,
    damp=0.0,
    atol=1e-06,
    btol=1e-06,
    conlim=100000000.0,
    iter_lim=None,
    show=False,
    calc_var=False,
    x0=None,
):
    """LSQR (``jaxsparse.linalg.lsqr``); ``istop`` and ``itn`` are ints when not traced."""
    out = _core.lsqr(_op(A), b, damp, atol, btol, conlim, iter_lim, show, calc_var, x0)
    return (out[0], _int(out[1]), _int(out[2]), *out[3:])


def lsmr(
    A, b, damp=0.0, atol=1e-06, btol=1e-06, conlim=100000000.0, maxiter=None, show=False, x0=None
):
    """LSMR (``jaxsparse.linalg.lsmr``); ``istop`` and ``itn`` are ints when not traced."""
    out = _core.lsmr(_op(A), b, damp, atol, btol, conlim, maxiter, show, x0)
    return (out[0], _int(out[1]), _int(out[2]), *out[3:])
