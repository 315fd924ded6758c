"""``LinearOperator`` and ``aslinearoperator``: SciPy's abstract linear maps, in JAX.

How this differs from ``scipy.sparse.linalg.LinearOperator``:

- Products return ``jax.Array``\\ s when the operator's functions are JAX code, so an
  operator can be used inside ``jit`` and by every solver in :mod:`jaxsparse.linalg`
  (as ``A`` and as ``M``) without leaving the device.
- ``rmatvec`` need not be given when ``matvec`` is JAX code: the adjoint is derived with
  ``jax.linear_transpose`` (SciPy raises ``NotImplementedError``).
- An operator whose ``matvec`` is NumPy code still works: the solvers detect that it
  cannot be traced and call it through ``jax.pure_callback`` (one host round trip per
  product).
- ``aslinearoperator`` accepts jaxsparse formats, the drop-in's sparse classes, dense
  arrays, ``scipy.sparse`` matrices (converted once to :class:`jaxsparse.CSR`) and SciPy
  ``LinearOperator``\\ s (wrapped; their products run on the host).
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .. import _operand
from ..formats._base import AbstractSparse
from ._vectors import rmatmul


def _is_scalar(x: Any) -> bool:
    return np.isscalar(x) or (
        hasattr(x, "shape") and tuple(x.shape) == () and not isinstance(x, LinearOperator)
    )


class LinearOperator:
    """A linear map ``A: C^N -> C^M`` given by its products (SciPy's ``LinearOperator``).

    ``LinearOperator(shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None)``
    builds one from functions; subclasses instead define ``_matvec`` (or ``_matmat``) and
    optionally ``_rmatvec``/``_rmatmat``/``_adjoint``, as in SciPy.

    Args:
        shape: ``(M, N)``.
        matvec: ``v -> A @ v`` for ``v`` of shape ``(N,)``.
        rmatvec: ``v -> A^H @ v``; derived with ``jax.linear_transpose`` when omitted and
            ``matvec`` is JAX code.
        matmat, rmatmat: block versions (default: one ``matvec`` per column).
        dtype: the operator's dtype; inferred from ``matvec(zeros(N))`` when omitted.

    Composition: ``A + B``, ``A - B``, ``-A``, ``A @ B``, ``A * B``, ``A * 2.0``,
    ``A ** 3``, ``A.T``, ``A.H``, ``A.adjoint()``, ``A.transpose()``, ``A.dot(x)``.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> A = js.linalg.LinearOperator((3, 3), matvec=lambda v: 2.0 * v)
        >>> (A @ jnp.ones(3)).tolist()
        [2.0, 2.0, 2.0]

    SciPy equivalent: ``scipy.sparse.linalg.LinearOperator``.
    """

    ndim = 2
    __array_ufunc__ = None  # ``ndarray @ A`` reaches ``__rmatmul__``

    def __new__(cls, *args, **kwargs):
        if cls is LinearOperator:
            # LinearOperator(shape, matvec, ...) builds the function-backed subclass
            return super().__new__(_CustomLinearOperator)
        obj = super().__new__(cls)
        if (
            type(obj)._matvec is LinearOperator._matvec
            and type(obj)._matmat is LinearOperator._matmat
        ):
            raise TypeError(
                "LinearOperator subclass should implement at least one of _matvec and _matmat."
            )
        return obj

    def __init__(self, dtype: Any, shape: tuple[int, int]):
        shape = tuple(int(s) for s in shape)
        if len(shape) != 2 or min(shape) < 0:
            raise ValueError(f"shape must be (M, N) with M, N >= 0, got {shape}")
        self.shape = shape
        self.dtype = None if dtype is None else np.dtype(dtype)

    def _init_dtype(self) -> None:
        """Infer ``dtype`` from one product with zeros, as SciPy does."""
        if self.dtype is None:
            n = self.shape[1]
            try:
                out = jax.eval_shape(
                    self._matvec,
                    jax.ShapeDtypeStruct(
                        (n,), jnp.float64 if jax.config.jax_enable_x64 else jnp.float32
                    ),
                )
                self.dtype = np.dtype(out.dtype)
            except Exception:  # NumPy code: call it, as SciPy does
                self.dtype = np.asarray(self.matvec(np.zeros(n))).dtype

    # -- products --------------------------------------------------------------------
    def matvec(self, x):
        """``A @ x`` for ``x`` of shape ``(N,)`` or ``(N, 1)`` (the result keeps that form)."""
        x = x if hasattr(x, "shape") else jnp.asarray(x)
        M, N = self.shape
        if tuple(x.shape) not in ((N,), (N, 1)):
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, x has shape {x.shape}"
            )
        y = self._matvec(x.reshape(N) if x.ndim == 2 else x)
        return y.reshape(M, 1) if x.ndim == 2 else y.reshape(M)

    def rmatvec(self, x):
        """``A^H @ x`` for ``x`` of shape ``(M,)`` or ``(M, 1)``."""
        x = x if hasattr(x, "shape") else jnp.asarray(x)
        M, N = self.shape
        if tuple(x.shape) not in ((M,), (M, 1)):
            raise ValueError(
                f"dimension mismatch: operator has shape {self.shape}, x has shape {x.shape}"
            )
        y = self._rmatvec(x.reshape(M) if x.ndim == 2 else x)
        return y.reshape(N, 1) if x.ndim == 2 else y.reshape(N)

    def matmat(self, X):
        """``A @ X`` for a 2-D ``X`` of shape ``(N, K)``."""
        X = X if hasattr(X, "shape") else jnp.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.shape[1]:
            raise ValueError(f"expected a 2-D array with {self.shape[1]} rows, got shape {X.shape}")
        return self._matmat(X)

    def rmatmat(self, X):
        """``A^H @ X`` for a 2-D ``X`` of shape ``(M, K)``."""
        X = X if hasattr(X, "shape") else jnp.asarray(X)
        if X.ndim != 2 or X.shape[0] != self.shape[0]:
            raise ValueError(f"expected a 2-D array with {self.shape[0]} rows, got shape {X.shape}")
        return self._rmatmat(X)

    def _matvec(self, x):
        return self.matmat(x.reshape(-1, 1)).reshape(-1)

    def _matmat(self, X):
        cols = [self.matvec(X[:, i]) for i in range(X.shape[1])]
        if not cols:
            return jnp.zeros((self.shape[0], 0), self.dtype)
        return jnp.stack([jnp.asarray(c) for c in cols], axis=1)

    def _rmatvec(self, x):
        if type(self)._adjoint is not LinearOperator._adjoint:
            return self.H.matvec(x)
        if type(self)._rmatmat is not LinearOperator._rmatmat:
            return self._rmatmat(x.reshape(-1, 1)).reshape(-1)
        return self._rmatvec_by_transpose(x)

    def _rmatvec_by_transpose(self, x):
        # the adjoint of JAX code, by transposition: A^H x = conj(A^T conj(x))
        dtype = jnp.result_type(self.dtype if self.dtype is not None else float, x.dtype)
        transpose = jax.linear_transpose(
            self._matvec_1d, jax.ShapeDtypeStruct((self.shape[1],), dtype)
        )
        x = jnp.asarray(x, dtype)
        if jnp.iscomplexobj(x):
            return jnp.conj(transpose(jnp.conj(x))[0])
        return transpose(x)[0]

    def _rmatmat(self, X):
        if type(self)._adjoint is not LinearOperator._adjoint:
            return self.H.matmat(X)
        return self._rmatmat_by_columns(X)

    def _rmatmat_by_columns(self, X):
        cols = [self.rmatvec(X[:, i]) for i in range(X.shape[1])]
        if not cols:
            return jnp.zeros((self.shape[1], 0), self.dtype)
        return jnp.stack([jnp.asarray(c) for c in cols], axis=1)

    # the 1-D forms the solvers call (see ``_operator.as_operator``)
    def _matvec_1d(self, v):
        return self._matvec(v).reshape(self.shape[0])

    def _rmatvec_1d(self, v):
        return self._rmatvec(v).reshape(self.shape[1])

    # -- composition --------------------------------------------------------------------
    def __call__(self, x):
        return self * x

    def __mul__(self, x):
        return self.dot(x)

    def __truediv__(self, other):
        if not _is_scalar(other):
            raise ValueError("Can only divide a linear operator by a scalar.")
        return _ScaledLinearOperator(self, 1.0 / other)

    def dot(self, x):
        """``A @ x`` for an operator, a scalar, a vector or a 2-D array (SciPy's ``dot``)."""
        if isinstance(x, LinearOperator):
            return _ProductLinearOperator(self, x)
        if _is_scalar(x):
            return _ScaledLinearOperator(self, x)
        if isinstance(x, AbstractSparse) or _operand.implements(x):
            return _ProductLinearOperator(self, aslinearoperator(x))
        x = x if hasattr(x, "shape") else jnp.asarray(x)
        if x.ndim == 1 or (x.ndim == 2 and x.shape[1] == 1):
            return self.matvec(x)
        if x.ndim == 2:
            return self.matmat(x)
        raise ValueError(f"expected 1-d or 2-d array or matrix, got {x!r}")

    def __matmul__(self, other):
        if _is_scalar(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return self.dot(other)

    def __rmatmul__(self, other):
        if _is_scalar(other):
            raise ValueError("Scalar operands are not allowed, use '*' instead")
        return self._rdot(other)

    def __rmul__(self, x):
        return self._rdot(x)

    def _rdot(self, x):
        if isinstance(x, LinearOperator):
            return _ProductLinearOperator(x, self)
        if _is_scalar(x):
            return _ScaledLinearOperator(self, x)
        x = x if hasattr(x, "shape") else jnp.asarray(x)
        # x @ A = (A^T @ x^T)^T
        if x.ndim == 1 or (x.ndim == 2 and x.shape[0] == 1):
            return self.T.matvec(x.T).T
        if x.ndim == 2:
            return self.T.matmat(x.T).T
        raise ValueError(f"expected 1-d or 2-d array or matrix, got {x!r}")

    def __pow__(self, p):
        if np.isscalar(p) and int(p) == p and p >= 0:
            return _PowerLinearOperator(self, int(p))
        return NotImplemented

    def __add__(self, x):
        if isinstance(x, LinearOperator):
            return _SumLinearOperator(self, x)
        return NotImplemented

    def __neg__(self):
        return _ScaledLinearOperator(self, -1)

    def __sub__(self, x):
        return self.__add__(-x)

    def __repr__(self):
        dt = "unspecified dtype" if self.dtype is None else "dtype=" + str(self.dtype)
        return f"<{self.shape[0]}x{self.shape[1]} {type(self).__name__} with {dt}>"

    def adjoint(self) -> LinearOperator:
        """The Hermitian adjoint ``A^H`` (also ``A.H``)."""
        return self._adjoint()

    H = property(adjoint)

    def transpose(self) -> LinearOperator:
        """The transpose ``A^T`` (also ``A.T``)."""
        return self._transpose()

    T = property(transpose)

    def _adjoint(self):
        return _AdjointLinearOperator(self)

    def _transpose(self):
        return _TransposedLinearOperator(self)


class _CustomLinearOperator(LinearOperator):
    """A ``LinearOperator`` from user functions."""

    def __init__(self, shape, matvec, rmatvec=None, matmat=None, dtype=None, rmatmat=None):
        super().__init__(dtype, shape)
        self.args = ()
        self.__matvec_impl = matvec
        self.__rmatvec_impl = rmatvec
        self.__matmat_impl = matmat
        self.__rmatmat_impl = rmatmat
        self._init_dtype()

    def _matvec(self, x):
        return self.__matvec_impl(x)

    def _matmat(self, X):
        if self.__matmat_impl is not None:
            return self.__matmat_impl(X)
        return super()._matmat(X)

    def _rmatvec(self, x):
        if self.__rmatvec_impl is not None:
            return self.__rmatvec_impl(x)
        if self.__rmatmat_impl is not None:
            return self.__rmatmat_impl(x.reshape(-1, 1)).reshape(-1)
        return self._rmatvec_by_transpose(x)

    def _rmatmat(self, X):
        if self.__rmatmat_impl is not None:
            return self.__rmatmat_impl(X)
        return self._rmatmat_by_columns(X)


class _AdjointLinearOperator(LinearOperator):
    def __init__(self, A):
        super().__init__(A.dtype, (A.shape[1], A.shape[0]))
        self.A = A
        self.args = (A,)

    def _matvec(self, x):
        return self.A._rmatvec(x)

    def _rmatvec(self, x):
        return self.A._matvec(x)

    def _matmat(self, X):
        return self.A._rmatmat(X)

    def _rmatmat(self, X):
        return self.A._matmat(X)

    def _adjoint(self):
        return self.A


def _conj(x):
    return x.conj() if np.iscomplexobj(x) else x


class _TransposedLinearOperator(LinearOperator):
    def __init__(self, A):
        super().__init__(A.dtype, (A.shape[1], A.shape[0]))
        self.A = A
        self.args = (A,)

    def _matvec(self, x):
        return _conj(self.A._rmatvec(_conj(x)))

    def _rmatvec(self, x):
        return _conj(self.A._matvec(_conj(x)))

    def _matmat(self, X):
        return _conj(self.A._rmatmat(_conj(X)))

    def _rmatmat(self, X):
        return _conj(self.A._matmat(_conj(X)))

    def _transpose(self):
        return self.A


def _result_dtype(*ops):
    dtypes = [op.dtype if isinstance(op, LinearOperator) else np.asarray(op).dtype for op in ops]
    dtypes = [d for d in dtypes if d is not None]
    return np.result_type(*dtypes) if dtypes else None


class _SumLinearOperator(LinearOperator):
    def __init__(self, A, B):
        if A.shape != B.shape:
            raise ValueError(f"cannot add {A} and {B}: shape mismatch")
        super().__init__(_result_dtype(A, B), A.shape)
        self.args = (A, B)

    def _matvec(self, x):
        return self.args[0].matvec(x) + self.args[1].matvec(x)

    def _rmatvec(self, x):
        return self.args[0].rmatvec(x) + self.args[1].rmatvec(x)

    def _matmat(self, X):
        return self.args[0].matmat(X) + self.args[1].matmat(X)

    def _rmatmat(self, X):
        return self.args[0].rmatmat(X) + self.args[1].rmatmat(X)

    def _adjoint(self):
        A, B = self.args
        return A.H + B.H


class _ProductLinearOperator(LinearOperator):
    def __init__(self, A, B):
        if A.shape[1] != B.shape[0]:
            raise ValueError(f"cannot multiply {A} and {B}: shape mismatch")
        super().__init__(_result_dtype(A, B), (A.shape[0], B.shape[1]))
        self.args = (A, B)

    def _matvec(self, x):
        return self.args[0].matvec(self.args[1].matvec(x))

    def _rmatvec(self, x):
        return self.args[1].rmatvec(self.args[0].rmatvec(x))

    def _matmat(self, X):
        return self.args[0].matmat(self.args[1].matmat(X))

    def _rmatmat(self, X):
        return self.args[1].rmatmat(self.args[0].rmatmat(X))

    def _adjoint(self):
        A, B = self.args
        return B.H * A.H


class _ScaledLinearOperator(LinearOperator):
    def __init__(self, A, alpha):
        dtype = _result_dtype(A, np.asarray(alpha)) if A.dtype is not None else None
        super().__init__(dtype, A.shape)
        self.args = (A, alpha)

    def _matvec(self, x):
        return self.args[1] * self.args[0].matvec(x)

    def _rmatvec(self, x):
        return np.conj(self.args[1]) * self.args[0].rmatvec(x)

    def _matmat(self, X):
        return self.args[1] * self.args[0].matmat(X)

    def _rmatmat(self, X):
        return np.conj(self.args[1]) * self.args[0].rmatmat(X)

    def _adjoint(self):
        A, alpha = self.args
        return A.H * np.conj(alpha)


class _PowerLinearOperator(LinearOperator):
    def __init__(self, A, p):
        if A.shape[0] != A.shape[1]:
            raise ValueError(f"square LinearOperator expected, got {A!r}")
        super().__init__(A.dtype, A.shape)
        self.args = (A, p)

    def _power(self, fun, x):
        for _ in range(self.args[1]):
            x = fun(x)
        return x

    def _matvec(self, x):
        return self._power(self.args[0].matvec, x)

    def _rmatvec(self, x):
        return self._power(self.args[0].rmatvec, x)

    def _matmat(self, X):
        return self._power(self.args[0].matmat, X)

    def _rmatmat(self, X):
        return self._power(self.args[0].rmatmat, X)

    def _adjoint(self):
        A, p = self.args
        return A.H**p


class _MatrixLinearOperator(LinearOperator):
    """A jaxsparse matrix or dense array as an operator; solvers use the matrix itself."""

    def __init__(self, A):
        super().__init__(A.dtype, A.shape)
        self.A = A
        self.args = (A,)

    def _matvec(self, x):
        return self.A @ x

    def _matmat(self, X):
        return self.A @ X

    def _rmatvec(self, x):
        return rmatmul(self.A, x)

    def _rmatmat(self, X):
        return rmatmul(self.A, X)


class IdentityOperator(LinearOperator):
    """The identity map of a square shape."""

    def __init__(self, shape, dtype=None):
        super().__init__(dtype, shape)

    def _matvec(self, x):
        return x

    def _rmatvec(self, x):
        return x

    def _matmat(self, X):
        return X

    def _rmatmat(self, X):
        return X

    def _adjoint(self):
        return self


def aslinearoperator(A: Any) -> LinearOperator:
    """``A`` as a :class:`LinearOperator`.

    Accepts a ``LinearOperator`` (returned as is), a jaxsparse matrix (CSR, CSC, COO, DIA,
    BSR), a drop-in sparse array/matrix, a dense 2-D ``jax.Array``/NumPy array, a
    ``scipy.sparse`` matrix (converted once to :class:`jaxsparse.CSR`) or a SciPy
    ``LinearOperator`` (its products are NumPy code: solvers call them through
    ``jax.pure_callback``, a host round trip per product).

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> op = js.linalg.aslinearoperator(jnp.eye(2))
        >>> op.shape
        (2, 2)

    SciPy equivalent: ``scipy.sparse.linalg.aslinearoperator``.
    """
    if isinstance(A, LinearOperator):
        return A
    core = _operand.core_of(A)
    if isinstance(core, AbstractSparse):
        A = core
    if isinstance(A, AbstractSparse):
        if len(A.shape) != 2:
            raise ValueError(f"expected a 2-D matrix, got shape {A.shape}")
        return _MatrixLinearOperator(A)
    import scipy.sparse as sps
    from scipy.sparse.linalg import LinearOperator as ScipyLinearOperator

    if sps.issparse(A):
        from ..formats import CSR

        return _MatrixLinearOperator(CSR.from_scipy(sps.csr_array(A)))
    if isinstance(A, ScipyLinearOperator):
        return _CustomLinearOperator(
            A.shape,
            matvec=A.matvec,
            rmatvec=A.rmatvec,
            matmat=A.matmat,
            rmatmat=A.rmatmat,
            dtype=A.dtype,
        )
    if isinstance(A, np.ndarray | jax.Array):
        A = jnp.asarray(A)
        if A.ndim == 1:
            A = A.reshape(-1, 1)
        if A.ndim != 2:
            raise ValueError(f"expected a 2-D array, got shape {A.shape}")
        return _MatrixLinearOperator(A)
    if hasattr(A, "shape") and hasattr(A, "matvec"):
        return _CustomLinearOperator(
            A.shape,
            matvec=A.matvec,
            rmatvec=getattr(A, "rmatvec", None),
            matmat=getattr(A, "matmat", None),
            rmatmat=getattr(A, "rmatmat", None),
            dtype=getattr(A, "dtype", None),
        )
    raise TypeError(f"type not understood: cannot make a LinearOperator from {type(A).__name__}")
