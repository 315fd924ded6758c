"""jaxsparse: SciPy-compatible sparse matrices on JAX."""

from . import formats as formats
from . import ops as ops
from .formats import COO as COO
from .formats import CSC as CSC
from .formats import CSR as CSR

__version__ = "0.1.0"
