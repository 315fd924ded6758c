"""Local (single-shard) sparse operations, one op per file."""

from . import _reference  # noqa: F401  (registers the "xla" backend)
from ._matmul import matmul as matmul
from ._sddmm import sddmm as sddmm
from ._spmm import dense_matmul_sparse as dense_matmul_sparse
from ._spmm import spmm as spmm
from ._spmv import spmv as spmv
