"""jaxsparse: SciPy-compatible sparse matrices on JAX."""

from . import distributed as distributed
from . import formats as formats
from . import integrate as integrate
from . import linalg as linalg
from . import ops as ops
from . import sharding as sharding
from .formats import BSR as BSR
from .formats import COO as COO
from .formats import CSC as CSC
from .formats import CSR as CSR
from .formats import DIA as DIA
from .formats import from_bcoo as from_bcoo
from .formats import load_npz as load_npz
from .sharding import set_default_mesh as set_default_mesh

__version__ = "0.1.0"
