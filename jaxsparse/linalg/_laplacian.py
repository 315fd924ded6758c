"""``LaplacianNd``: the grid Laplacian as a linear operator (SciPy's special array).

The product is a stencil in JAX (``jnp.roll`` along each grid axis, boundary terms fixed
up), jit-able; ``tosparse`` returns our DIA/CSR type, ``toarray`` a dense ``jax.Array``,
and ``eigenvalues``/``eigenvectors`` use the closed forms (NumPy, as SciPy).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from ._linear_operator import LinearOperator


class LaplacianNd(LinearOperator):
    """The negative-semidefinite Laplacian on an N-D grid with ``'dirichlet'``,
    ``'neumann'`` (default) or ``'periodic'`` boundary conditions.

    Example:
        >>> import jax.numpy as jnp, jaxsparse as js
        >>> L = js.linalg.LaplacianNd((3,), boundary_conditions="dirichlet")
        >>> (L @ jnp.ones(3)).tolist()
        [-1, 0, -1]

    SciPy equivalent: ``scipy.sparse.linalg.LaplacianNd``.
    """

    def __init__(self, grid_shape, *, boundary_conditions="neumann", dtype=np.int8):
        if boundary_conditions not in ("dirichlet", "neumann", "periodic"):
            raise ValueError(
                f"Unknown value {boundary_conditions!r} is given for 'boundary_conditions' "
                "parameter. The valid options are 'dirichlet', 'periodic', and 'neumann' "
                "(default)."
            )
        self.grid_shape = tuple(int(g) for g in grid_shape)
        self.boundary_conditions = boundary_conditions
        N = int(np.prod(self.grid_shape))
        super().__init__(dtype=dtype, shape=(N, N))

    # -- closed forms (SciPy's formulas) -------------------------------------------------
    def _eigenvalue_ordering(self, m):
        grid_shape = self.grid_shape
        shape = grid_shape if m is None else tuple(min(g, m) for g in grid_shape)
        indices = np.indices(shape)
        Leig = np.zeros(shape)
        for j, n in zip(indices, grid_shape, strict=True):
            if self.boundary_conditions == "dirichlet":
                Leig += -4 * np.sin(np.pi * (j + 1) / (2 * (n + 1))) ** 2
            elif self.boundary_conditions == "neumann":
                Leig += -4 * np.sin(np.pi * j / (2 * n)) ** 2
            else:
                Leig += -4 * np.sin(np.pi * np.floor((j + 1) / 2) / n) ** 2
        Leig_ravel = Leig.ravel()
        ind = np.argsort(Leig_ravel)
        eigenvalues = Leig_ravel[ind]
        if m is not None:
            eigenvalues, ind = eigenvalues[-m:], ind[-m:]
        return eigenvalues, ind, shape

    def eigenvalues(self, m=None):
        """The ``m`` largest (all when ``None``) eigenvalues, ascending (NumPy array)."""
        return self._eigenvalue_ordering(m)[0]

    def _ev1d(self, j, n):
        bc = self.boundary_conditions
        if bc == "dirichlet":
            i = np.pi * (np.arange(n) + 1) / (n + 1)
            ev = np.sqrt(2.0 / (n + 1.0)) * np.sin(i * (j + 1))
        elif bc == "neumann":
            i = np.pi * (np.arange(n) + 0.5) / n
            ev = np.sqrt((1.0 if j == 0 else 2.0) / n) * np.cos(i * j)
        elif j == 0:
            ev = np.sqrt(1.0 / n) * np.ones(n)
        elif j + 1 == n and n % 2 == 0:
            ev = np.sqrt(1.0 / n) * np.tile([1, -1], n // 2)
        else:
            i = np.pi * (np.arange(n) + 0.5) / n
            ev = (
                np.sqrt(2.0 / n) * np.sin(i * (j + 1))
                if (j + 1) % 2 == 0
                else np.sqrt(2.0 / n) * np.cos(i * j)
            )
        ev[np.abs(ev) < np.finfo(np.float64).eps] = 0.0
        return ev

    def _one_eve(self, k):
        phi = [self._ev1d(j, n) for j, n in zip(k, self.grid_shape, strict=True)]
        result = phi[0]
        for p in phi[1:]:
            result = np.tensordot(result, p, axes=0)
        return np.asarray(result).ravel()

    def eigenvectors(self, m=None):
        """Eigenvectors (columns) for :meth:`eigenvalues`' order (NumPy array)."""
        _, ind, shape = self._eigenvalue_ordering(m)
        idx = [tuple(x) for x in zip(*np.unravel_index(ind, shape), strict=True)]
        return np.column_stack([self._one_eve(k) for k in idx])

    # -- matrices --------------------------------------------------------------------------
    def _scipy(self):
        import scipy.sparse as sps

        L = None
        for i, dim in enumerate(self.grid_shape):
            data = np.ones([3, dim], dtype=np.int8)
            data[1, :] *= -2
            if self.boundary_conditions == "neumann":
                data[1, 0] = data[1, -1] = -1
            Li = sps.dia_array((data, [-1, 0, 1]), shape=(dim, dim), dtype=np.int8)
            if self.boundary_conditions == "periodic":
                t = sps.dia_array((dim, dim), dtype=np.int8)
                t.setdiag([1], k=-dim + 1)
                t.setdiag([1], k=dim - 1)
                Li = Li + t
            for j in range(i):
                Li = sps.kron(sps.eye_array(self.grid_shape[j], dtype=np.int8), Li)
            for j in range(i + 1, len(self.grid_shape)):
                Li = sps.kron(Li, sps.eye_array(self.grid_shape[j], dtype=np.int8))
            L = Li if L is None else L + Li
        return L.astype(self.dtype)

    def tosparse(self):
        """The Laplacian as our sparse matrix (DIA, as SciPy's; CSR when SciPy gives CSR)."""
        from ._direct import core_from_scipy

        return core_from_scipy(self._scipy())

    def toarray(self):
        """The Laplacian as a dense ``jax.Array`` of shape ``(N, N)``."""
        return jnp.asarray(self._scipy().toarray())

    # -- products ------------------------------------------------------------------------
    def _matvec(self, x):
        x = jnp.asarray(x)
        grid, N = self.grid_shape, len(self.grid_shape)
        X = x.reshape(grid + (-1,))
        Y = -2 * N * X
        for i in range(N):
            up, down = jnp.roll(X, 1, axis=i), jnp.roll(X, -1, axis=i)
            Y = Y + up + down
            if self.boundary_conditions in ("neumann", "dirichlet"):
                first = (slice(None),) * i + (0,)
                last = (slice(None),) * i + (-1,)
                Y = Y.at[first].add(-up[first]).at[last].add(-down[last])
                if self.boundary_conditions == "neumann":
                    Y = Y.at[first].add(X[first]).at[last].add(X[last])
        return Y.reshape(x.shape)

    def _matmat(self, X):
        return self._matvec(X)

    def _rmatvec(self, x):
        return self._matvec(x)

    def _adjoint(self):
        return self

    def _transpose(self):
        return self
