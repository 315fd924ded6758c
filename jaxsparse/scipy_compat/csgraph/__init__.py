"""``jaxsparse.scipy_compat.csgraph``: ``scipy.sparse.csgraph``, with sparse results
as drop-in objects (graph algorithms run in SciPy's compiled code on the host)."""

import scipy.sparse.csgraph as _csgraph

from .._forward import forward_module as _forward_module

globals().update(_forward_module(_csgraph, __name__))
__all__ = list(_csgraph.__all__)
