"""SpGEMM numeric phase, "xla" backend: two gathers, a product, one sorted segment sum.

``out[s] = sum_{p : seg[p] = s} a_data[a_slot[p]] * b_data[b_slot[p]]``, the products
``p`` listed by the host plan (``_spgemm.spgemm_symbolic``) sorted by output slot.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from . import _dispatch
from ._reference import accumulation_dtype


def spgemm_numeric(a_data, b_data, a_slot, b_slot, seg, *, nnz, dtype):
    """The ``nnz`` output values, in ``dtype`` (bf16/f16 accumulate in f32)."""
    acc = accumulation_dtype(dtype)
    prod = a_data[a_slot].astype(acc) * b_data[b_slot].astype(acc)
    out = jax.ops.segment_sum(prod, seg, num_segments=nnz, indices_are_sorted=True)
    return out.astype(dtype)


def spgemm_operand_cotangent(ct, other, slot, other_slot, seg, *, capacity, dtype):
    """The cotangent of one operand's values: ``ct_a[s] = sum_{p: a_slot[p] = s}
    ct[seg[p]] * b_data[b_slot[p]]`` (swap the roles for ``b``). Plain ``jnp``."""
    acc = accumulation_dtype(ct.dtype)
    terms = jnp.asarray(ct, acc)[seg] * jnp.asarray(other, acc)[other_slot]
    out = jnp.zeros((capacity,), terms.dtype).at[slot].add(terms, mode="drop")
    if jnp.issubdtype(out.dtype, jnp.complexfloating) and not jnp.issubdtype(
            dtype, jnp.complexfloating):
        out = jnp.real(out)
    return out.astype(dtype)


_dispatch.register("spgemm_numeric", "xla")(spgemm_numeric)
