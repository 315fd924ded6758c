"""``jaxsparse.scipy_compat``: a drop-in for ``scipy.sparse`` on JAX.

    import jaxsparse.scipy_compat as sp     # instead of: import scipy.sparse as sp

Its classes are SciPy's classes (subclasses of ``scipy.sparse.csr_array``...), so every
library that takes SciPy matrices takes them, and every SciPy method works with SciPy's
semantics. Products are routed by cost: large ones, and any with a ``jax.Array``
operand, run on the device with jaxsparse's kernels (sharded over the default mesh when
several devices are visible); small ones run in SciPy's compiled code. The solvers of
:mod:`.linalg` run on JAX for large problems. See ``docs/dropin.md``.

Importing it turns on ``jax_enable_x64``: SciPy's default dtypes (float64, int64) need
it, and matching SciPy's results and dtypes is the point of the drop-in. It says so once,
in a warning. The core ``jaxsparse`` package never changes global configuration.
"""

import warnings as _warnings

import jax as _jax

if not _jax.config.jax_enable_x64:
    _jax.config.update("jax_enable_x64", True)
    _warnings.warn(
        "jaxsparse.scipy_compat turned on jax_enable_x64 so that dtypes match SciPy's "
        "(float64/int64 defaults); set it yourself before importing to silence this",
        stacklevel=2,
    )

import scipy.sparse as _ss  # noqa: E402

from . import _classes, _forward  # noqa: E402
from ._thresholds import device_min_nnz as device_min_nnz  # noqa: E402
from ._thresholds import set_device_min_nnz as set_device_min_nnz  # noqa: E402
from ._thresholds import set_solver_min_nnz as set_solver_min_nnz  # noqa: E402
from ._thresholds import solver_min_nnz as solver_min_nnz  # noqa: E402

_CLASS_NAMES = [f"{fmt}_{kind}" for fmt in _classes.FORMATS for kind in ("array", "matrix")]
globals().update({name: getattr(_classes, name) for name in _CLASS_NAMES})
globals().update(_forward.forward_module(
    _ss, __name__, skip=set(_CLASS_NAMES) | {"csgraph", "linalg", "load_npz"}))

from . import csgraph as csgraph  # noqa: E402
from . import integrate as integrate  # noqa: E402
from . import linalg as linalg  # noqa: E402
from ._npz import load_npz as load_npz  # noqa: E402  (checks the file; SciPy's trusts it)

__all__ = sorted(set(_ss.__all__) | {"device_min_nnz", "set_device_min_nnz",
                                     "solver_min_nnz", "set_solver_min_nnz"})
