"""Iterative solvers on jaxsparse matrices, jit-able and differentiable.

SciPy equivalent: ``scipy.sparse.linalg``.
"""

from ._cg import cg as cg
