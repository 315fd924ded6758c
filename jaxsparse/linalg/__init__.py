"""Iterative solvers on jaxsparse matrices, jit-able and differentiable.

SciPy equivalent: ``scipy.sparse.linalg``.
"""

from ._bicg import bicg as bicg
from ._bicgstab import bicgstab as bicgstab
from ._cg import cg as cg
from ._cgs import cgs as cgs
from ._gcrotmk import gcrotmk as gcrotmk
from ._gmres import gmres as gmres
from ._lgmres import lgmres as lgmres
from ._linear_operator import LinearOperator as LinearOperator
from ._linear_operator import aslinearoperator as aslinearoperator
from ._lsmr import lsmr as lsmr
from ._lsqr import lsqr as lsqr
from ._minres import minres as minres
from ._qmr import qmr as qmr
from ._tfqmr import tfqmr as tfqmr
