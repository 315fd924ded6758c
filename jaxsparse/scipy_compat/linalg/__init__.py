"""``jaxsparse.scipy_compat.linalg``: a drop-in for ``scipy.sparse.linalg``.

Iterative solvers with SciPy's signatures, defaults and ``info`` codes; each runs its
iteration as one compiled ``lax.while_loop`` (a ``callback`` costs one host round trip per
iteration; a ``LinearOperator`` whose matvec is NumPy code runs through
``jax.pure_callback``, a host round trip per product).
"""

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
