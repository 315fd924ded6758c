"""``jaxsparse.scipy_compat``: a drop-in for ``scipy.sparse`` on JAX.

    import jaxsparse.scipy_compat as sp     # instead of: import scipy.sparse as sp

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

from . import linalg as linalg  # noqa: E402
from ._base import SparseEfficiencyWarning as SparseEfficiencyWarning  # noqa: E402
from ._base import SparseWarning as SparseWarning  # noqa: E402
from ._base import sparray as sparray  # noqa: E402
from ._base import spmatrix as spmatrix  # noqa: E402
from ._bsr import bsr_array as bsr_array  # noqa: E402
from ._bsr import bsr_matrix as bsr_matrix  # noqa: E402
from ._construct import block_array as block_array  # noqa: E402
from ._construct import block_diag as block_diag  # noqa: E402
from ._construct import bmat as bmat  # noqa: E402
from ._construct import diags as diags  # noqa: E402
from ._construct import diags_array as diags_array  # noqa: E402
from ._construct import eye as eye  # noqa: E402
from ._construct import eye_array as eye_array  # noqa: E402
from ._construct import hstack as hstack  # noqa: E402
from ._construct import identity as identity  # noqa: E402
from ._construct import kron as kron  # noqa: E402
from ._construct import kronsum as kronsum  # noqa: E402
from ._construct import rand as rand  # noqa: E402
from ._construct import random as random  # noqa: E402
from ._construct import random_array as random_array  # noqa: E402
from ._construct import spdiags as spdiags  # noqa: E402
from ._construct import vstack as vstack  # noqa: E402
from ._coo import coo_array as coo_array  # noqa: E402
from ._coo import coo_matrix as coo_matrix  # noqa: E402
from ._csc import csc_array as csc_array  # noqa: E402
from ._csc import csc_matrix as csc_matrix  # noqa: E402
from ._csr import csr_array as csr_array  # noqa: E402
from ._csr import csr_matrix as csr_matrix  # noqa: E402
from ._dia import dia_array as dia_array  # noqa: E402
from ._dia import dia_matrix as dia_matrix  # noqa: E402
from ._funcs import expand_dims as expand_dims  # noqa: E402
from ._funcs import find as find  # noqa: E402
from ._funcs import get_index_dtype as get_index_dtype  # noqa: E402
from ._funcs import issparse as issparse  # noqa: E402
from ._funcs import isspmatrix as isspmatrix  # noqa: E402
from ._funcs import isspmatrix_bsr as isspmatrix_bsr  # noqa: E402
from ._funcs import isspmatrix_coo as isspmatrix_coo  # noqa: E402
from ._funcs import isspmatrix_csc as isspmatrix_csc  # noqa: E402
from ._funcs import isspmatrix_csr as isspmatrix_csr  # noqa: E402
from ._funcs import isspmatrix_dia as isspmatrix_dia  # noqa: E402
from ._funcs import load_npz as load_npz  # noqa: E402
from ._funcs import permute_dims as permute_dims  # noqa: E402
from ._funcs import safely_cast_index_arrays as safely_cast_index_arrays  # noqa: E402
from ._funcs import save_npz as save_npz  # noqa: E402
from ._funcs import swapaxes as swapaxes  # noqa: E402
from ._funcs import tril as tril  # noqa: E402
from ._funcs import triu as triu  # noqa: E402
