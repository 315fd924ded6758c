"""Iterative solvers on jaxsparse matrices, jit-able and differentiable.

SciPy equivalent: ``scipy.sparse.linalg``.
"""

from ._bicg import bicg as bicg
from ._bicgstab import bicgstab as bicgstab
from ._cg import cg as cg
from ._cgs import cgs as cgs
from ._direct import SuperLU as SuperLU
from ._direct import factorized as factorized
from ._direct import spilu as spilu
from ._direct import splu as splu
from ._direct import spsolve as spsolve
from ._eigs import eigs as eigs
from ._eigsh import ArpackError as ArpackError
from ._eigsh import ArpackNoConvergence as ArpackNoConvergence
from ._eigsh import eigsh as eigsh
from ._expm_multiply import expm_multiply as expm_multiply
from ._gcrotmk import gcrotmk as gcrotmk
from ._gmres import gmres as gmres
from ._laplacian import LaplacianNd as LaplacianNd
from ._lgmres import lgmres as lgmres
from ._linear_operator import LinearOperator as LinearOperator
from ._linear_operator import aslinearoperator as aslinearoperator
from ._lobpcg import lobpcg as lobpcg
from ._lsmr import lsmr as lsmr
from ._lsqr import lsqr as lsqr
from ._matfuncs import expm as expm
from ._matfuncs import inv as inv
from ._matfuncs import matrix_power as matrix_power
from ._minres import minres as minres
from ._norm import norm as norm
from ._onenormest import onenormest as onenormest
from ._qmr import qmr as qmr
from ._structure import is_sptriangular as is_sptriangular
from ._structure import spbandwidth as spbandwidth
from ._svds import svds as svds
from ._tfqmr import tfqmr as tfqmr
from ._triangular import spsolve_triangular as spsolve_triangular
