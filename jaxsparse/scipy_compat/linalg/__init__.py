"""``jaxsparse.scipy_compat.linalg``: a drop-in for ``scipy.sparse.linalg``.

Every public name of ``scipy.sparse.linalg`` is here. Solvers, eigensolvers, norms and
matrix functions that jaxsparse implements on JAX are routed (``_route``): large or JAX
problems run jaxsparse's implementation (each iterative solver one compiled
``lax.while_loop``; sharded over the default mesh when large), small NumPy problems run
SciPy's own function on the host. The rest is SciPy's own, with sparse results as
drop-in objects. ``LinearOperator`` and ``aslinearoperator`` are jaxsparse's (they also
take NumPy matvecs, and SciPy accepts them).
"""

import numpy as _np
import scipy.sparse.linalg as _sl

from ... import linalg as _core
from ...linalg._linear_operator import LinearOperator as LinearOperator
from ...linalg._linear_operator import aslinearoperator as aslinearoperator
from .._forward import forward_module as _forward_module
from .._registry import rewrap as _rewrap
from . import _isolve
from ._route import routed as _routed

_ISOLVE = ("bicg", "bicgstab", "cg", "cgs", "gcrotmk", "gmres", "lgmres", "lsmr", "lsqr",
           "minres", "qmr", "tfqmr")
_CORE = ("eigs", "eigsh", "expm", "expm_multiply", "inv", "lobpcg", "matrix_power", "norm",
         "onenormest", "spsolve", "spsolve_triangular", "svds", "factorized", "splu",
         "spilu", "is_sptriangular", "spbandwidth")

globals().update(_forward_module(_sl, __name__, skip={"LinearOperator", "aslinearoperator"}))
for _name in _ISOLVE:
    globals()[_name] = _routed(getattr(_isolve, _name), getattr(_sl, _name), __name__,
                               plain_operands=True)
for _name in _CORE:
    globals()[_name] = _routed(getattr(_core, _name), getattr(_sl, _name), __name__)


class LaplacianNd(_core.LaplacianNd):
    """SciPy's ``LaplacianNd`` (products on JAX); ``tosparse()`` gives a drop-in
    matrix and ``toarray()`` a NumPy array, as SciPy's do."""

    def tosparse(self):
        return _rewrap(self._scipy())

    def toarray(self):
        return _np.array(self._scipy().toarray())


ArpackError = _core.ArpackError
ArpackNoConvergence = _core.ArpackNoConvergence
SuperLU = _core.SuperLU
del _name
__all__ = list(_sl.__all__)
