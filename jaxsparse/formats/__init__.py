"""Sparse formats: frozen pytree dataclasses, one per file."""

from ._base import AbstractSparse as AbstractSparse
from ._base import AbstractSparseMatrix as AbstractSparseMatrix
from ._bsr import BSR as BSR
from ._convert import from_bcoo as from_bcoo
from ._coo import COO as COO
from ._csc import CSC as CSC
from ._csr import CSR as CSR
from ._dia import DIA as DIA
from ._npz import load_npz as load_npz
