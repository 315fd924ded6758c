"""``jaxsparse.scipy_compat.linalg``: a drop-in for ``scipy.sparse.linalg``.

Iterative solvers with SciPy's signatures, defaults and ``info`` codes; each runs its
iteration as one compiled ``lax.while_loop`` (a ``callback`` costs one host round trip per
iteration; a ``LinearOperator`` whose matvec is NumPy code runs through
``jax.pure_callback``, a host round trip per product).
"""

# Eigen/SVD, norms, matrix functions, direct solvers (jaxsparse.linalg's own functions:
# they accept drop-in, core and SciPy matrices and return the drop-in's class for drop-in
# input). Host-side, through SciPy: splu, spilu, factorized, inv, spsolve, expm and
# eigsh/eigs with sigma= (see their docstrings).
from ...linalg import ArpackError as ArpackError  # noqa: E402
from ...linalg import ArpackNoConvergence as ArpackNoConvergence  # noqa: E402
from ...linalg import LaplacianNd as LaplacianNd  # noqa: E402
from ...linalg import SuperLU as SuperLU  # noqa: E402
from ...linalg import eigs as eigs  # noqa: E402
from ...linalg import eigsh as eigsh  # noqa: E402
from ...linalg import expm as expm  # noqa: E402
from ...linalg import expm_multiply as expm_multiply  # noqa: E402
from ...linalg import factorized as factorized  # noqa: E402
from ...linalg import inv as inv  # noqa: E402
from ...linalg import is_sptriangular as is_sptriangular  # noqa: E402
from ...linalg import lobpcg as lobpcg  # noqa: E402
from ...linalg import matrix_power as matrix_power  # noqa: E402
from ...linalg import norm as norm  # noqa: E402
from ...linalg import onenormest as onenormest  # noqa: E402
from ...linalg import spbandwidth as spbandwidth  # noqa: E402
from ...linalg import spilu as spilu  # noqa: E402
from ...linalg import splu as splu  # noqa: E402
from ...linalg import spsolve as spsolve  # noqa: E402
from ...linalg import spsolve_triangular as spsolve_triangular  # noqa: E402
from ...linalg import svds as svds  # noqa: E402
from ...linalg._linear_operator import LinearOperator as LinearOperator
from ...linalg._linear_operator import aslinearoperator as aslinearoperator
from ._isolve import bicg as bicg
from ._isolve import bicgstab as bicgstab
from ._isolve import cg as cg
from ._isolve import cgs as cgs
from ._isolve import gcrotmk as gcrotmk
from ._isolve import gmres as gmres
from ._isolve import lgmres as lgmres
from ._isolve import lsmr as lsmr
from ._isolve import lsqr as lsqr
from ._isolve import minres as minres
from ._isolve import qmr as qmr
from ._isolve import tfqmr as tfqmr
