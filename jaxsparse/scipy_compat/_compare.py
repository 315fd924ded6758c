"""Comparisons (``== != < > <= >=``) with SciPy's semantics.

As SciPy: a comparison whose result is True at implicit zeros (``A == 0``, ``A <= B``
...) warns ``SparseEfficiencyWarning`` and returns a mostly-dense sparse result; the
others return a sparse boolean result pruned to its True entries. Results are csc for
csc input, csr otherwise; a dense operand gives a dense result.
"""

from __future__ import annotations

import operator
import warnings

import jax
import jax.numpy as jnp
import numpy as np

from ..formats import CSC, CSR
from ..ops._dtypes import result_dtype
from ..ops._elementwise import _slot_data, elementwise_symbolic
from ._arith import dense_result, operand
from ._coerce import convert, trim

_OPS = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "gt": operator.gt,
        "le": operator.le, "ge": operator.ge}
_NEG = {"eq": "ne", "ne": "eq", "lt": "ge", "gt": "le", "le": "gt", "ge": "lt"}
_SYM = {"eq": "==", "ne": "!=", "lt": "<", "gt": ">", "le": "<=", "ge": ">="}


def _cs(self):
    fmt = self.format if self.format in ("csr", "csc") else "csr"
    return convert(self._core, fmt)


def _prune(core):
    """Keep the True entries only (SciPy's ``eliminate_zeros`` after a binop)."""
    return trim(core.eliminate_zeros())


def _scalar_binopt(cs, s, op):
    cs = trim(cs.sum_duplicates()) if not cs.has_canonical_format else cs
    return _prune(cs.with_data(_OPS[op](cs.data, s)))


def _binopt(cs, other, op):
    """``op`` on the union pattern of two sparse cores (duplicates summed)."""
    if other.format in ("dia",):
        other = convert(other, "csr")
    plan = elementwise_symbolic(cs, other, "add")
    dtype = result_dtype(cs.dtype, other.dtype)
    seg = dict(num_segments=plan.nnz, mode="drop")
    sa = jax.ops.segment_sum(_slot_data(cs).astype(dtype), plan.a_pos, **seg)
    sb = jax.ops.segment_sum(_slot_data(other).astype(dtype), plan.b_pos, **seg)
    cls = CSC if plan.layout == "csc" else CSR
    out = cls(_OPS[op](sa, sb), plan.indices, plan.indptr, shape=plan.shape,
              has_sorted_indices=True, has_canonical_format=True)
    return _prune(out)


def _all_true_minus(cs_fmt, inv):
    """``ones - inv`` for a boolean ``inv``: True wherever ``inv`` is False."""
    dense = ~np.asarray(inv.todense())
    cls = CSC if cs_fmt == "csc" else CSR
    return cls.fromdense(dense)


def _efficiency_warning():
    from ._base import SparseEfficiencyWarning

    return SparseEfficiencyWarning


def compare(self, other, op):
    kind, value, was_matrix = operand(other)
    fn = _OPS[op]
    if kind == "scalar":
        s = np.asarray(value).item()
        cs = _cs(self)
        if not fn(0, s):
            if np.isnan(s):
                return type(self)(self.shape, dtype=np.bool_)
            return self._wrap(_scalar_binopt(cs, s, op))
        warnings.warn(f"Comparing a sparse matrix with {s} using {_SYM[op]} is "
                      f"inefficient. Try using {_SYM[_NEG[op]]} instead.",
                      _efficiency_warning(), stacklevel=3)
        if np.isnan(s):
            return type(self)(np.ones(self.shape, dtype=np.bool_))
        inv = _scalar_binopt(cs, s, _NEG[op])
        return self._wrap(_all_true_minus(cs.format, inv))
    if kind == "dense":
        if self._is_matrix:
            return fn(self.todense(), value if not was_matrix else np.asmatrix(value))
        return dense_result(self, fn(self._core.todense(), jnp.asarray(value)), was_matrix)
    if self.shape != tuple(value.shape):
        if op in ("eq", "ne"):
            return op == "ne"
        raise ValueError("inconsistent shape")
    cs = _cs(self)
    if not fn(0, 0):
        return self._wrap(_binopt(cs, value, op))
    warnings.warn(f"Comparing two sparse matrices using {_SYM[op]} is inefficient. "
                  f"Try using {_SYM[_NEG[op]]} instead.", _efficiency_warning(),
                  stacklevel=3)
    inv = _binopt(cs, value, _NEG[op])
    return self._wrap(_all_true_minus(cs.format, inv))
