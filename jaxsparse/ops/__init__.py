"""Local (single-shard) sparse operations, one op per file."""

from . import (
    _cg_update,  # noqa: F401  (registers cg_update's "xla" lowering)
    _csr_matmul_add,  # noqa: F401  (defines c + A @ b, composed where no kernel fuses it)
    _reference,  # noqa: F401  (registers the "xla" backend)
    native,  # noqa: F401  (registers the "native" backend where it is built)
    pallas,  # noqa: F401  (registers the "pallas" backend: GPU kernels, interpreted on CPU)
)

# Structure-changing products and elementwise arithmetic (two-phase: host plan + numeric).
from ._elementwise import ElementwisePlan as ElementwisePlan
from ._elementwise import absolute as absolute
from ._elementwise import add as add
from ._elementwise import divide as divide
from ._elementwise import elementwise_symbolic as elementwise_symbolic
from ._elementwise import maximum as maximum
from ._elementwise import minimum as minimum
from ._elementwise import multiply as multiply
from ._elementwise import negative as negative
from ._elementwise import power as power
from ._elementwise import subtract as subtract
from ._matmul import matmul as matmul
from ._reduce import count_nonzero as count_nonzero
from ._reduce import diagonal as diagonal
from ._reduce import max as max  # noqa: A004
from ._reduce import mean as mean
from ._reduce import min as min  # noqa: A004
from ._reduce import sum as sum  # noqa: A004
from ._reduce import trace as trace
from ._sddmm import sddmm as sddmm
from ._spgemm import SpgemmPlan as SpgemmPlan
from ._spgemm import spgemm as spgemm
from ._spgemm import spgemm_numeric as spgemm_numeric
from ._spgemm import spgemm_symbolic as spgemm_symbolic
from ._spmm import dense_matmul_sparse as dense_matmul_sparse
from ._spmm import spmm as spmm
from ._spmv import spmv as spmv
from ._unary import arcsin as arcsin
from ._unary import arcsinh as arcsinh
from ._unary import arctan as arctan
from ._unary import arctanh as arctanh
from ._unary import ceil as ceil
from ._unary import conj as conj
from ._unary import deg2rad as deg2rad
from ._unary import expm1 as expm1
from ._unary import floor as floor
from ._unary import imag as imag
from ._unary import log1p as log1p
from ._unary import rad2deg as rad2deg
from ._unary import real as real
from ._unary import rint as rint
from ._unary import sign as sign
from ._unary import sin as sin
from ._unary import sinh as sinh
from ._unary import sqrt as sqrt
from ._unary import tan as tan
from ._unary import tanh as tanh
from ._unary import trunc as trunc
