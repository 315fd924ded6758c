"""Elementwise arithmetic: sparse with sparse, scalar or dense, as SciPy defines it.

Sparse with sparse, three paths:

- **Same pattern** (the index arrays are the same objects, or equal on the host): the
  values combine slot by slot; no symbolic phase. For ``multiply``/``maximum``/
  ``minimum`` this also needs both operands canonical (duplicates would not combine).
- **Different patterns, concrete indices**: a host symbolic phase
  (:func:`elementwise_symbolic`) finds the union (``add``, ``subtract``, ``maximum``,
  ``minimum``) or intersection (``multiply``) pattern and where each operand's slots go;
  the numeric phase is two ``segment_sum``\\ s and the op, jit-able and differentiable.
  Pass ``plan=`` to reuse it under ``jit``.
- **Traced indices under jit, no plan**: a padded result of static capacity
  ``capA + capB``: ``add``/``subtract`` concatenate the entries (a correct, non-canonical
  sum); the others sort the concatenation and combine per coordinate.

Result formats and dtypes follow SciPy 1.17 (``csr + csr -> csr``, ``coo + coo -> csr``,
``coo * 2 -> coo``, ``csr * dense -> coo``, ``csr + dense -> dense``, ``csr / csr ->
dense``). Unlike SciPy, entries that become numerically zero stay stored: the pattern
depends on the structure only.
"""

from __future__ import annotations

import dataclasses
import functools
import operator

import jax
import jax.numpy as jnp
import numpy as np

from .._pytree import register_pytree_dataclass
from ..formats._base import AbstractSparse
from ..formats._coo import COO
from ..formats._csc import CSC
from ..formats._csr import CSR
from ._dtypes import as_dense, result_dtype
from ._pattern import (
    as_coo,
    canonical,
    concrete_scalar,
    host_coords,
    host_keys,
    is_scalar,
    keys_to_compressed,
    same_structure,
    scalar_dtype,
    slot_data,
    to_format,
    valid_mask,
    where_valid,
)
from ._scan import prefix_sum

_static = dict(static=True)

_BINARY = {
    "add": operator.add,
    "subtract": operator.sub,
    "multiply": operator.mul,
    "maximum": jnp.maximum,
    "minimum": jnp.minimum,
}
_LINEAR = ("add", "subtract")


# -- plan --------------------------------------------------------------------------------
@register_pytree_dataclass
@dataclasses.dataclass(frozen=True, eq=False)
class ElementwisePlan:
    """Output pattern of a sparse-sparse elementwise op and where each operand goes.

    Leaves: ``a_pos``/``b_pos`` (output slot of each of ``A.tocoo()``'s / ``B.tocoo()``'s
    slots; ``nnz`` for slots that are padding or fall outside the pattern), and the
    output's ``indices``/``indptr`` (CSR or CSC) or ``coords`` (1-D COO).
    """

    a_pos: jax.Array
    b_pos: jax.Array
    indices: jax.Array
    indptr: jax.Array
    shape: tuple[int, ...] = dataclasses.field(metadata=_static)
    nnz: int = dataclasses.field(metadata=_static)
    how: str = dataclasses.field(metadata=_static)
    layout: str = dataclasses.field(metadata=_static)  # "csr", "csc" or "coo" (1-D)
    a_capacity: int = dataclasses.field(metadata=_static)
    b_capacity: int = dataclasses.field(metadata=_static)


def _how(op: str) -> str:
    return "intersection" if op == "multiply" else "union"


def _out_format(op: str, fa: str, fb: str) -> str:
    """The format SciPy 1.17 returns for ``op(a, b)`` (both sparse, 2-D)."""
    if op in ("maximum", "minimum"):
        return fa if fa in ("csr", "csc") else "csr"
    if fa in ("csr", "csc", "bsr"):
        return fa
    if fa == "dia":
        if fb == "dia":
            return "dia"
        return _out_format(op, fb, fb) if op != "multiply" else "csr"
    return "csr"


def _layout(op: str, A, B) -> str:
    if A.ndim == 1:
        return "coo"
    return "csc" if _out_format(op, A.format, B.format) == "csc" else "csr"


def _check_pair(A, B) -> None:
    if A.shape != B.shape:
        raise ValueError(f"inconsistent shapes: {A.shape} and {B.shape}")


def elementwise_symbolic(A, B, op: str = "add") -> ElementwisePlan:
    """Host phase of a sparse-sparse elementwise ``op``: output pattern and slot maps.

    Args:
        A, B: jaxsparse arrays of the same shape with concrete index arrays.
        op: ``"add"``, ``"subtract"``, ``"maximum"``, ``"minimum"`` (union pattern) or
            ``"multiply"`` (intersection).

    Returns:
        An :class:`ElementwisePlan` to pass as ``plan=`` (also inside ``jit``).
    """
    if op not in _BINARY:
        raise ValueError(f"op must be one of {tuple(_BINARY)}, got {op!r}")
    _check_pair(A, B)
    ca, cb = host_coords(A), host_coords(B)
    if ca is None or cb is None:
        raise ValueError(
            f"elementwise_symbolic ({op}) needs concrete index arrays: call it outside "
            "jit and pass plan= in"
        )
    layout = _layout(op, A, B)
    major = 1 if layout == "csc" else 0
    ka, kb = host_keys(ca, A.shape, major), host_keys(cb, B.shape, major)
    ua, ub = np.unique(ka[ka >= 0]), np.unique(kb[kb >= 0])
    how = _how(op)
    keys = np.union1d(ua, ub) if how == "union" else np.intersect1d(ua, ub)
    nnz = keys.size

    def positions(k):
        pos = np.searchsorted(keys, k)
        found = (k >= 0) & (pos < nnz)
        found[found] = keys[pos[found]] == k[found]
        return np.where(found, pos, nnz).astype(np.int32)

    if layout == "coo":
        indices, indptr = keys.astype(np.int32), np.zeros(1, np.int32)
    else:
        indices, indptr = keys_to_compressed(keys, A.shape, major)
    return ElementwisePlan(
        a_pos=jnp.asarray(positions(ka)), b_pos=jnp.asarray(positions(kb)),
        indices=jnp.asarray(indices), indptr=jnp.asarray(indptr), shape=tuple(A.shape),
        nnz=int(nnz), how=how, layout=layout, a_capacity=int(ka.size),
        b_capacity=int(kb.size),
    )


@functools.partial(jax.jit, static_argnames=("op", "nnz", "dtype"))
def _combine(ad, bd, a_pos, b_pos, *, op, nnz, dtype):
    """Sum each operand's slots into the output pattern, then apply ``op``."""
    sa = jax.ops.segment_sum(ad.astype(dtype), a_pos, num_segments=nnz, mode="drop")
    sb = jax.ops.segment_sum(bd.astype(dtype), b_pos, num_segments=nnz, mode="drop")
    return _BINARY[op](sa, sb).astype(dtype)


def _numeric(op: str, A, B, plan: ElementwisePlan, dtype):
    if not isinstance(plan, ElementwisePlan):
        raise TypeError(f"plan must be an ElementwisePlan, got {type(plan).__name__}")
    ad, bd = slot_data(A), slot_data(B)
    if (plan.shape, plan.a_capacity, plan.b_capacity, plan.how) != (
        tuple(A.shape), ad.shape[0], bd.shape[0], _how(op)
    ):
        raise ValueError(
            f"{op}: the plan was built for shape {plan.shape}, capacities "
            f"({plan.a_capacity}, {plan.b_capacity}) and a {plan.how} pattern; got shape "
            f"{A.shape}, capacities ({ad.shape[0]}, {bd.shape[0]}) and op {op!r}"
        )
    data = _combine(ad, bd, plan.a_pos, plan.b_pos, op=op, nnz=plan.nnz,
                    dtype=np.dtype(dtype))
    if plan.layout == "coo":
        return COO(data, (plan.indices,), shape=plan.shape, has_canonical_format=True)
    cls = CSC if plan.layout == "csc" else CSR
    return cls(data, plan.indices, plan.indptr, shape=plan.shape, has_sorted_indices=True,
               has_canonical_format=True)


def _traced(op: str, A, B, dtype):
    """Structure traced, no plan: a padded COO of capacity ``capA + capB``."""
    a, b = as_coo(A), as_coo(B)
    ad, bd = a.data.astype(dtype), b.data.astype(dtype)
    idx = jnp.result_type(*a.coords, *b.coords)
    coords = tuple(jnp.concatenate([ca.astype(idx), cb.astype(idx)])
                   for ca, cb in zip(a.coords, b.coords, strict=True))
    if op in _LINEAR:
        bd = -bd if op == "subtract" else bd
        return COO(jnp.concatenate([ad, bd]), coords, shape=A.shape,
                   has_canonical_format=False)
    cap = a.capacity + b.capacity
    if cap == 0:
        return COO(jnp.zeros(0, dtype), coords, shape=A.shape, has_canonical_format=True)
    valid = jnp.ones(cap, bool)
    for c, n in zip(coords, A.shape, strict=True):
        valid &= c < n
    coords = tuple(jnp.where(valid, c, n).astype(idx)
                   for c, n in zip(coords, A.shape, strict=True))
    from_a = jnp.arange(cap) < a.capacity
    order = jnp.lexsort(tuple(reversed(coords)))
    sc = tuple(c[order] for c in coords)
    from_a, valid = from_a[order], valid[order]
    da = jnp.concatenate([ad, jnp.zeros_like(bd)])[order]
    db = jnp.concatenate([jnp.zeros_like(ad), bd])[order]
    change = jnp.zeros(cap - 1, bool)
    for c in sc:
        change |= c[1:] != c[:-1]
    seg = prefix_sum(jnp.concatenate([jnp.ones(1, bool), change]), jnp.int32) - 1
    seg = jnp.where(valid, seg, cap)
    kw = dict(num_segments=cap, indices_are_sorted=True, mode="drop")
    sa, sb = jax.ops.segment_sum(da, seg, **kw), jax.ops.segment_sum(db, seg, **kw)
    in_a = jax.ops.segment_max(from_a & valid, seg, **kw)
    in_b = jax.ops.segment_max(~from_a & valid, seg, **kw)
    keep = (in_a & in_b) if _how(op) == "intersection" else (in_a | in_b)
    data = jnp.where(keep, _BINARY[op](sa, sb), 0).astype(dtype)
    out = tuple(jnp.full(cap, n, idx).at[seg].set(c, mode="drop")
                for c, n in zip(sc, A.shape, strict=True))
    out = tuple(jnp.where(keep, c, n).astype(idx) for c, n in zip(out, A.shape, strict=True))
    return COO(data, out, shape=A.shape, has_canonical_format=False)


def _sparse_sparse(op: str, A, B, plan, dtype=None):
    _check_pair(A, B)
    dtype = result_dtype(A.dtype, B.dtype) if dtype is None else dtype
    fmt = "coo" if A.ndim == 1 else _out_format(op, A.format, B.format)
    if plan is not None:
        return to_format(_numeric(op, A, B, plan, dtype), fmt, like=A)
    linear = op in _LINEAR
    if same_structure(A, B) and (
        linear or (getattr(A, "has_canonical_format", True)
                   and getattr(B, "has_canonical_format", True))
    ):
        mask = valid_mask(A)
        data = _BINARY[op](A.data.astype(dtype), B.data.astype(dtype))
        out = A.with_data(where_valid(mask, data))
        if A.ndim == 1:
            return out
        return to_format(out, fmt, like=A)
    if host_coords(A) is not None and host_coords(B) is not None:
        plan = elementwise_symbolic(A, B, op)
        return to_format(_numeric(op, A, B, plan, dtype), fmt, like=A)
    out = _traced(op, A, B, dtype)
    return to_format(out, fmt, like=A)


# -- sparse with scalar / dense ----------------------------------------------------------
def _scale(A, fn, dtype):
    """``A`` with values ``fn(data)`` in ``dtype``; padding stays exactly 0."""
    mask = valid_mask(A)
    return A.with_data(where_valid(mask, fn(A.data.astype(dtype))))


def _sparse_times_dense(A, D, fn, what: str):
    """SciPy's ``A * D`` / ``A / D`` for dense ``D``: A's pattern, result COO (DIA: DIA)."""
    D = as_dense(D, "other")
    if jnp.broadcast_shapes(A.shape, D.shape) != tuple(A.shape):
        raise ValueError(
            f"{what}: the dense operand of shape {D.shape} must broadcast to the sparse "
            f"shape {A.shape}"
        )
    dtype = result_dtype(A.dtype, D.dtype)
    coo = as_coo(A)
    full = jnp.broadcast_to(D, A.shape).astype(dtype)
    picked = full.at[coo.coords].get(mode="fill", fill_value=0)
    mask = valid_mask(coo)
    out = coo.with_data(where_valid(mask, fn(coo.data.astype(dtype), picked)))
    return to_format(out, "dia", like=A) if A.format == "dia" else out


def _dense_binary(fn, a, b, what: str, *, to_sparse_shape: bool):
    """``fn(a, b)`` with the sparse operand densified (SciPy returns dense here too).

    ``to_sparse_shape``: the dense operand must broadcast to the sparse shape (SciPy's
    ``+``/``-``, which refuse a 3-D or larger dense operand); otherwise NumPy's
    broadcasting of both (SciPy's ``maximum``/``minimum``). Either way a mismatch is
    SciPy's ValueError, never JAX's TypeError from inside ``fn``."""
    sparse_shape = tuple((a if _is_sparse(a) else b).shape)
    dense_is_b = _is_sparse(a)
    a = a.todense() if _is_sparse(a) else as_dense(a, "a")
    b = b.todense() if _is_sparse(b) else as_dense(b, "b")
    dense_shape = tuple((b if dense_is_b else a).shape)
    try:
        out_shape = np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        out_shape = None
    if out_shape is None or (to_sparse_shape and out_shape != sparse_shape):
        raise ValueError(
            f"{what}: the dense operand of shape {dense_shape} must broadcast to the "
            f"sparse shape {sparse_shape}" if to_sparse_shape else
            f"{what}: operands of shapes {tuple(a.shape)} and {tuple(b.shape)} do not "
            "broadcast together"
        )
    dtype = result_dtype(a.dtype, b.dtype)
    return fn(a.astype(dtype), b.astype(dtype))


def _is_sparse(x) -> bool:
    return isinstance(x, AbstractSparse)


def _zero_check(s, what: str) -> bool:
    """True if scalar ``s`` is zero; raise if it is nonzero or cannot be known."""
    value = concrete_scalar(s)
    if value is None:
        raise TypeError(
            f"{what} a traced scalar and a sparse array is not supported: only a zero "
            "scalar keeps the result sparse, and a traced value cannot be checked"
        )
    return value == 0


def _binary_entry(op: str, a, b, plan):
    if _is_sparse(a) and _is_sparse(b):
        return _sparse_sparse(op, a, b, plan)
    if plan is not None:
        raise TypeError(f"{op}: plan= applies to two sparse operands only")
    return None


def add(a, b, *, plan: ElementwisePlan | None = None):
    """``a + b`` with at least one sparse operand.

    sparse + sparse -> sparse (union pattern; CSR unless ``a`` is CSC/BSR/DIA, as SciPy);
    sparse + dense -> dense ``jax.Array``; sparse + 0 -> the sparse array. Adding a
    nonzero scalar raises (it would densify), as in SciPy.

    Args:
        a, b: operands; ``plan`` from :func:`elementwise_symbolic` for reuse under jit.

    SciPy equivalent: ``a + b``.
    """
    out = _binary_entry("add", a, b, plan)
    if out is not None:
        return out
    A, other = (a, b) if _is_sparse(a) else (b, a)
    if not _is_sparse(A):
        raise TypeError("add needs at least one jaxsparse operand")
    if is_scalar(other):
        if _zero_check(other, "adding"):
            return A
        raise ValueError("adding a nonzero scalar to a sparse array is not supported "
                         "(the result would be dense)")
    return _dense_binary(jnp.add, a, b, "add", to_sparse_shape=True)


def subtract(a, b, *, plan: ElementwisePlan | None = None):
    """``a - b`` with at least one sparse operand (see :func:`add`).

    SciPy equivalent: ``a - b``.
    """
    out = _binary_entry("subtract", a, b, plan)
    if out is not None:
        return out
    if _is_sparse(a):
        if is_scalar(b):
            if _zero_check(b, "subtracting"):
                return a
            raise ValueError("subtracting a nonzero scalar from a sparse array is not "
                             "supported (the result would be dense)")
        return _dense_binary(jnp.subtract, a, b, "subtract", to_sparse_shape=True)
    if not _is_sparse(b):
        raise TypeError("subtract needs at least one jaxsparse operand")
    if is_scalar(a):
        if _zero_check(a, "subtracting"):
            return negative(b)
        raise ValueError("subtracting a sparse array from a nonzero scalar is not "
                         "supported (the result would be dense)")
    return _dense_binary(jnp.subtract, a, b, "subtract", to_sparse_shape=True)


def multiply(a, b, *, plan: ElementwisePlan | None = None):
    """Elementwise ``a * b`` with at least one sparse operand.

    sparse * sparse -> sparse on the intersection pattern; sparse * scalar -> same
    format; sparse * dense -> COO on A's pattern (dense broadcast to A's shape).

    SciPy equivalent: ``a * b`` / ``a.multiply(b)`` for sparse arrays.
    """
    out = _binary_entry("multiply", a, b, plan)
    if out is not None:
        return out
    A, other = (a, b) if _is_sparse(a) else (b, a)
    if not _is_sparse(A):
        raise TypeError("multiply needs at least one jaxsparse operand")
    if is_scalar(other):
        dtype = scalar_dtype(A.dtype, other)
        s = jnp.asarray(other, dtype)
        return _scale(A, lambda d: d * s, dtype)
    return _sparse_times_dense(A, other, jnp.multiply, "multiply")


def divide(a, b):
    """Elementwise true division ``a / b`` with a sparse numerator.

    sparse / scalar -> same format (float64 for integer and float32 input, as SciPy);
    sparse / dense -> COO on A's pattern; sparse / sparse -> dense (SciPy returns a dense
    array: implicit ``0 / 0`` is NaN). A sparse denominator with a dense or scalar
    numerator raises ``TypeError``, as in SciPy.

    SciPy equivalent: ``a / b``.
    """
    if not _is_sparse(a):
        raise TypeError(
            f"unsupported operand types for /: {type(a).__name__} and sparse "
            f"{type(b).__name__} (dividing by a sparse array would be dense)"
        )
    if _is_sparse(b):
        _check_pair(a, b)
        dtype = result_dtype(a.dtype, b.dtype)
        if np.can_cast(a.dtype, np.float64):  # SciPy divides in float64
            dtype = result_dtype(np.float64, b.dtype)
        num, den = a.todense().astype(dtype), b.todense().astype(dtype)
        out = jnp.true_divide(num, den)
        if jnp.issubdtype(dtype, jnp.complexfloating):
            # SciPy's complex kernel gives nan+nanj for x / 0 and fills 0 / 0 with nan+0j
            nan = jnp.asarray(np.nan, dtype)
            out = jnp.where(den == 0, jnp.where(num == 0, nan.real, nan * (1 + 1j)), out)
        return out
    if is_scalar(b):
        # SciPy: float64 (complex128 for a complex divisor) when A casts to float64.
        if np.can_cast(a.dtype, np.float64):
            dtype = scalar_dtype(np.float64, b)
        else:
            dtype = scalar_dtype(a.dtype, b)
        s = jnp.asarray(b, dtype)
        return _scale(a, lambda d: d / s, dtype)
    D = as_dense(b, "b")
    if np.result_type(a.dtype, D.dtype).kind in "biu":  # true division of integers
        D = D.astype(result_dtype(D.dtype, np.float64))
    return _sparse_times_dense(a, D, jnp.true_divide, "divide")


def power(A, p):
    """Elementwise ``A ** p`` for a nonzero scalar ``p`` (values only; zeros stay zero).

    Duplicates are summed first (as SciPy). ``p == 0`` raises: it would densify.

    SciPy equivalent: ``A ** p`` / ``A.power(p)``.
    """
    if not _is_sparse(A):
        raise TypeError(f"power needs a jaxsparse base, got {type(A).__name__}")
    if not is_scalar(p):
        raise TypeError(f"power needs a scalar exponent, got {type(p).__name__}")
    value = concrete_scalar(p)
    if value is not None and value == 0:
        raise ValueError("zero power is not supported as it would densify the matrix; "
                         "use jnp.ones(A.shape, dtype=A.dtype) for this case")
    dtype = scalar_dtype(A.dtype, p)
    if (dtype.kind in "iu" and value is not None and np.asarray(value).dtype.kind in "iu"
            and value < 0):
        raise ValueError("integers to negative integer powers are not allowed")
    A = canonical(A)
    e = jnp.asarray(p, dtype) if dtype.kind in "fc" else p
    return _scale(A, lambda d: d ** e, dtype)


def negative(A):
    """``-A`` in A's format. SciPy equivalent: ``-A``."""
    if not _is_sparse(A):
        raise TypeError(f"negative needs a jaxsparse array, got {type(A).__name__}")
    if np.dtype(A.dtype) == np.bool_:
        raise TypeError("negating a boolean sparse array is not supported")
    return A.with_data(-A.data)


def absolute(A):
    """``abs(A)`` in A's format (real dtype for complex input), duplicates summed first.

    SciPy equivalent: ``abs(A)``.
    """
    if not _is_sparse(A):
        raise TypeError(f"absolute needs a jaxsparse array, got {type(A).__name__}")
    A = canonical(A)
    return _scale(A, jnp.abs, A.dtype)


def _max_min(op: str, a, b, plan):
    out = _binary_entry(op, a, b, plan)
    if out is not None:
        return out
    A, other = (a, b) if _is_sparse(a) else (b, a)
    if not _is_sparse(A):
        raise TypeError(f"{op} needs at least one jaxsparse operand")
    fn = _BINARY[op]
    np_fn = np.maximum if op == "maximum" else np.minimum
    if is_scalar(other):
        value = concrete_scalar(other)
        if value is None:
            raise TypeError(f"{op} of a sparse array with a traced scalar is not supported: "
                            "its sign decides whether the result stays sparse")
        if np_fn(0, value) != 0:
            raise ValueError(
                f"{op} of a sparse array with {value!r} would be dense "
                f"({op}(0, {value!r}) != 0)"
            )
        dtype = scalar_dtype(A.dtype, other)
        s = jnp.asarray(other, dtype)
        if A.ndim == 2 and A.format not in ("csr", "csc"):  # SciPy: via CSR
            A = A.tocsr()
        A = canonical(A)
        return _scale(A, lambda d: fn(d, s), dtype)
    return _dense_binary(fn, a, b, op, to_sparse_shape=False)


def maximum(a, b, *, plan: ElementwisePlan | None = None):
    """Elementwise maximum: sparse-sparse -> sparse (union), sparse-scalar ``s <= 0`` ->
    same format, sparse-dense -> dense.

    SciPy equivalent: ``A.maximum(B)``.
    """
    return _max_min("maximum", a, b, plan)


def minimum(a, b, *, plan: ElementwisePlan | None = None):
    """Elementwise minimum (see :func:`maximum`; scalars must be ``>= 0``).

    SciPy equivalent: ``A.minimum(B)``.
    """
    return _max_min("minimum", a, b, plan)
