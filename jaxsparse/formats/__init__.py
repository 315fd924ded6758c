"""Sparse formats: frozen pytree dataclasses, one per file."""

from ._base import AbstractSparse as AbstractSparse
from ._base import AbstractSparseMatrix as AbstractSparseMatrix
from ._coo import COO as COO
from ._csc import CSC as CSC
from ._csr import CSR as CSR
