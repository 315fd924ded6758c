"""One JAX primitive per kernel op, with JVP, transpose and batching rules.

Two bilinear kernels per index layout ("csr": ``indices, indptr``; "coo": ``row, col``):

- ``{kind}_matmul(data, i0, i1, b; shape, transpose)``: ``A @ b`` or ``A.T @ b``,
  ``b`` 1-D or 2-D. Linear in ``data`` and in ``b``. ``csr_matmul`` also takes
  ``b_start`` (bound only when nonzero): the operand is ``b[b_start:]``, as for DIA.
- ``{kind}_sampled(i0, i1, p, q; shape)``: ``(p @ q)[row_k, col_k]`` for each slot
  ``k``: the SDDMM core. Linear in ``p`` and in ``q``.

Each is the other's transpose, so ``grad``/``jvp``/``vmap`` of any order close over the
two. Backends only register lowerings (see ``_dispatch``); autodiff is defined once here.
``custom_vjp`` would not do: it breaks ``jax.jvp``.

The structured formats and the SpGEMM numeric phase have one primitive each:

- ``dia_matmul(data, offsets, b; shape, transpose, width, b_start=0)``: DIA ``A @ b`` /
  ``A.T @ b`` of the operand ``b[b_start:]`` (``b_start``: see ``DIA._matmul``).
- ``bsr_matmul(data, indices, indptr, b; shape, transpose)``: BSR ``A @ b`` / ``A.T @ b``.
- ``spgemm_numeric(a_data, b_data, a_slot, b_slot, seg; nnz, dtype)``: the values of
  ``A @ B`` on a precomputed pattern.
- ``csr_offsets_matvec(data, indices, indptr, offsets, b; shape)``: CSR ``A @ b`` for
  one vector, whose backends may read each slot's column as ``row + offsets[k]``
  (narrow, prepared on the host) instead of ``indices[k]``; its other rules are
  ``csr_matmul``'s.
- ``csr_matmul_add(data, indices, indptr, b, c; shape)`` (``_csr_matmul_add``):
  ``c + A @ b``, one kernel where a backend fuses it, else ``c +`` its ``csr_matmul``.

Each is linear in its value arrays and in ``b``. The cotangent of ``b`` binds the same
primitive with ``transpose`` flipped (so a backend's kernel serves it too); the cotangent
of the values is a plain-``jnp`` formula shared by every backend (``_dia_kernel``,
``_bsr_kernel``, ``_spgemm_kernel``), itself differentiable.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from . import _bsr_kernel, _dia_kernel, _dispatch, _reference, _spgemm_kernel

try:  # compiled, cached eager evaluation, as for JAX's own primitives
    from jax._src.dispatch import apply_primitive as _apply_primitive
except ImportError:  # pragma: no cover - private API moved
    _apply_primitive = None


_LOWERED_PLATFORMS = ("cpu", "cuda", "rocm")


def _out_aval(likes, shape, dtype):
    """An aval of ``shape``/``dtype`` that keeps the inputs' manual (shard_map) axes.

    Dropping ``manual_axis_type`` inside ``shard_map`` gives right forward values and
    silently wrong gradients (docs/architecture.md, "JAX behaviours"), so we derive it
    from the inputs.
    """
    like = next((a for a in likes if a.manual_axis_type is not None), likes[0])
    return jax.core.ShapedArray(shape, dtype).update(
        sharding=like.sharding.update(spec=jax.sharding.PartitionSpec()),
        manual_axis_type=like.manual_axis_type,
    )


def _define(name: str, abstract_eval, *, multiple_results: bool = False, kernel=None):
    """The primitive ``name``, lowered to the kernel ``_dispatch`` has for it on the
    backend it is bound with (or the platform's default). ``kernel(backend, avals,
    params)``, where given, finds the kernel instead (a composition, say)."""
    kernel_for = kernel or functools.partial(_dispatch.lookup, name)
    prim = Primitive(name)
    prim.multiple_results = multiple_results
    if _apply_primitive is not None:
        prim.def_impl(functools.partial(_apply_primitive, prim))
    else:  # pragma: no cover
        prim.def_impl(lambda *a, backend, **p: kernel_for(backend, (), p)(*a, **p))
    prim.def_abstract_eval(abstract_eval)

    def lowering(ctx, *args, platform, backend, **params):
        with _dispatch.lowering_for(platform):
            impl = functools.partial(kernel_for(backend, ctx.avals_in, params), **params)
            return mlir.lower_fun(impl, multiple_results=multiple_results)(ctx, *args)

    # One rule per platform, so a backend's kernel knows what it is lowered for (and
    # a multi-platform lowering gets each platform's kernel).
    mlir.register_lowering(prim, functools.partial(lowering, platform=None))
    for platform in _LOWERED_PLATFORMS:
        mlir.register_lowering(prim, functools.partial(lowering, platform=platform),
                               platform=platform)
    return prim


def _matmul_abstract_eval(data, *rest, shape, transpose, **params):
    """Every ``A @ b`` / ``A.T @ b`` primitive: values first, the dense ``b`` last (the
    index arrays and the other params between do not change the result's type)."""
    b = rest[-1]
    out_rows = shape[1] if transpose else shape[0]
    return _out_aval((b, data), (out_rows,) + b.shape[1:], b.dtype)


def _sampled_abstract_eval(i0, i1, p, q, *, shape, backend):
    del shape, backend
    return _out_aval((p, q), i0.shape, p.dtype)


def _fallback_batch(name, args, dims, params):
    """``vmap`` the reference kernel: used when the pattern or ``data`` is batched."""
    ref = {"matmul": _reference.coo_matmul, "sampled": _reference.coo_sampled}
    kind, op = name.split("_")
    params = {k: v for k, v in params.items() if k != "backend"}

    def one(*a):
        if kind == "csr":  # expand indptr to row ids, then use the COO reference
            if op == "matmul":
                data, indices, indptr, b = a
                row = _reference.csr_row_ids(indptr, indices.shape[0])
                return ref[op](data, row, indices, b, **params)
            indices, indptr, p, q = a
            row = _reference.csr_row_ids(indptr, indices.shape[0])
            return ref[op](row, indices, p, q, **params)
        return ref[op](*a, **params)

    return jax.vmap(one, in_axes=dims)(*args), 0


def _fold_into_columns(prim, args, b_dim, params):
    """Batching when only the dense operand ``b`` (the last argument) is batched: fold
    the batch into its columns and bind once (a ``vmap`` of spmv becomes one spmm)."""
    *lead, b = args
    b = jnp.moveaxis(b, b_dim, -1)
    trailing = b.shape[1:]
    cols = b.reshape(b.shape[0], -1)
    out = prim.bind(*lead, cols, **params)
    return out.reshape(out.shape[:1] + trailing), len(trailing)


def _vmap_reference(reference, args, dims, params):
    """Batching by ``vmap`` of the plain-``jnp`` reference kernel (batched pattern or
    values: no backend kernel takes those)."""
    params = {k: v for k, v in params.items() if k != "backend"}
    return jax.vmap(functools.partial(reference, **params), in_axes=dims)(*args), 0


class _Kernels:
    """The matmul/sampled primitive pair for one index layout."""

    def __init__(self, kind: str):
        self.kind = kind
        self.matmul = _define(f"{kind}_matmul", _matmul_abstract_eval)
        self.sampled = _define(f"{kind}_sampled", _sampled_abstract_eval)
        self._register_rules()

    # -- matmul ------------------------------------------------------------------------
    def _matmul_transpose(self, ct, data, i0, i1, b, *, shape, transpose, backend,
                          b_start=0):
        if ad.is_undefined_primal(i0) or ad.is_undefined_primal(i1):
            raise ValueError("sparse indices are not differentiable")
        if type(ct) is ad.Zero:
            return None, None, None, None
        if ad.is_undefined_primal(b):
            ct_b = self.matmul.bind(
                data, i0, i1, ct, shape=shape, transpose=not transpose, backend=backend
            )
            return None, None, None, _reference.before_operand_rows(ct_b, b_start)
        # d(out)/d(data): out[r] += data_k * b[c] -> ct_data[k] = <ct[r_k], b[c_k]>
        b = _reference.operand_rows(b, b_start)
        left, right = (b, ct) if transpose else (ct, b)
        if left.ndim == 1:
            left, right = left[:, None], right[:, None]
        ct_data = self.sampled.bind(i0, i1, left, right.T, shape=shape, backend=backend)
        return ct_data.astype(data.aval.dtype), None, None, None

    def _matmul_batch(self, args, dims, *, shape, transpose, backend, b_start=0):
        params = dict(shape=shape, transpose=transpose, backend=backend)
        if b_start:  # the operand's rows sliced out (a copy), then batched as usual
            *lead, b = args
            rows_axis = 1 if dims[-1] == 0 else 0
            b = jax.lax.slice_in_dim(b, b_start, b.shape[rows_axis], axis=rows_axis)
            args = (*lead, b)
        if any(d is not None for d in dims[:-1]):
            return _fallback_batch(self.matmul.name, args, dims, params)
        return _fold_into_columns(self.matmul, args, dims[-1], params)

    # -- sampled -----------------------------------------------------------------------
    def _sampled_transpose(self, ct, i0, i1, p, q, *, shape, backend):
        if type(ct) is ad.Zero:
            return None, None, None, None
        if ad.is_undefined_primal(p):
            # ct_p[r, j] = sum_k [r_k = r] ct_k q[j, c_k]  ==  C_ct @ q.T
            ct_p = self.matmul.bind(ct, i0, i1, q.T, shape=shape, transpose=False,
                                    backend=backend)
            return None, None, ct_p.astype(p.aval.dtype), None
        # ct_q[j, c] = sum_k [c_k = c] ct_k p[r_k, j]  ==  (C_ct.T @ p).T
        ct_q = self.matmul.bind(ct, i0, i1, p, shape=shape, transpose=True, backend=backend)
        return None, None, None, ct_q.T.astype(q.aval.dtype)

    def _sampled_batch(self, args, dims, *, shape, backend):
        return _fallback_batch(self.sampled.name, args, dims, dict(shape=shape))

    def _register_rules(self):
        matmul, sampled = self.matmul, self.sampled

        def matmul_jvp_data(ddata, data, i0, i1, b, **params):
            return matmul.bind(ddata, i0, i1, b, **params)

        def matmul_jvp_b(db, data, i0, i1, b, **params):
            return matmul.bind(data, i0, i1, db, **params)

        def sampled_jvp_p(dp, i0, i1, p, q, **params):
            return sampled.bind(i0, i1, dp, q, **params)

        def sampled_jvp_q(dq, i0, i1, p, q, **params):
            return sampled.bind(i0, i1, p, dq, **params)

        ad.defjvp(matmul, matmul_jvp_data, None, None, matmul_jvp_b)
        ad.defjvp(sampled, None, None, sampled_jvp_p, sampled_jvp_q)
        ad.primitive_transposes[matmul] = self._matmul_transpose
        ad.primitive_transposes[sampled] = self._sampled_transpose
        batching.primitive_batchers[matmul] = self._matmul_batch
        batching.primitive_batchers[sampled] = self._sampled_batch


CSR_KERNELS = _Kernels("csr")
COO_KERNELS = _Kernels("coo")
KERNELS = {"csr": CSR_KERNELS, "coo": COO_KERNELS}


# -- CSR through narrow column offsets -------------------------------------------------
def _offsets_abstract_eval(data, indices, indptr, offsets, b, *, shape, backend):
    del indices, indptr, offsets, backend
    return _out_aval((b, data), (shape[0],), b.dtype)


# ``A @ b`` for one vector ``b``, where slot ``k`` of row ``r`` is at column
# ``r + offsets[k]`` (int8/int16, ``formats/_offsets.py``), equal to ``indices[k]``. The
# index arrays are operands too: each backend may read either, and every rule other
# than the forward product is the CSR primitive's (the offsets dropped).
CSR_OFFSETS_MATVEC = _define("csr_offsets_matvec", _offsets_abstract_eval)


def _offsets_transpose(ct, data, indices, indptr, offsets, b, *, shape, backend):
    if ad.is_undefined_primal(offsets):
        raise ValueError("sparse indices are not differentiable")
    cts = CSR_KERNELS._matmul_transpose(ct, data, indices, indptr, b, shape=shape,
                                        transpose=False, backend=backend)
    return (*cts[:3], None, cts[3])


def _offsets_batch(args, dims, *, shape, backend):
    data, indices, indptr, _, b = args
    d_data, d_indices, d_indptr, _, d_b = dims
    return CSR_KERNELS._matmul_batch((data, indices, indptr, b),
                                     (d_data, d_indices, d_indptr, d_b), shape=shape,
                                     transpose=False, backend=backend)


ad.defjvp(
    CSR_OFFSETS_MATVEC,
    lambda dd, data, i0, i1, o, b, **p: CSR_OFFSETS_MATVEC.bind(dd, i0, i1, o, b, **p),
    None,
    None,
    None,
    lambda db, data, i0, i1, o, b, **p: CSR_OFFSETS_MATVEC.bind(data, i0, i1, o, db, **p),
)
ad.primitive_transposes[CSR_OFFSETS_MATVEC] = _offsets_transpose
batching.primitive_batchers[CSR_OFFSETS_MATVEC] = _offsets_batch


# -- DIA -------------------------------------------------------------------------------
DIA_MATMUL = _define("dia_matmul", _matmul_abstract_eval)


def _dia_transpose(ct, data, offsets, b, *, shape, transpose, width, backend, b_start=0):
    if ad.is_undefined_primal(offsets):
        raise ValueError("DIA offsets are not differentiable")
    if type(ct) is ad.Zero:
        return None, None, None
    if ad.is_undefined_primal(b):
        ct_b = DIA_MATMUL.bind(data, offsets, ct, shape=shape, transpose=not transpose,
                               width=width, backend=backend)
        return None, None, _reference.before_operand_rows(ct_b, b_start)
    ct_data = _dia_kernel.dia_data_cotangent(
        ct, offsets, _reference.operand_rows(b, b_start), shape=shape,
        transpose=transpose, width=width, n_diags=data.aval.shape[0],
        dtype=data.aval.dtype,
    )
    return ct_data, None, None


def _dia_batch(args, dims, **params):
    if any(d is not None for d in dims[:-1]):
        return _vmap_reference(_dia_kernel.dia_matmul, args, dims, params)
    return _fold_into_columns(DIA_MATMUL, args, dims[-1], params)


ad.defjvp(
    DIA_MATMUL,
    lambda dd, data, offsets, b, **p: DIA_MATMUL.bind(dd, offsets, b, **p),
    None,
    lambda db, data, offsets, b, **p: DIA_MATMUL.bind(data, offsets, db, **p),
)
ad.primitive_transposes[DIA_MATMUL] = _dia_transpose
batching.primitive_batchers[DIA_MATMUL] = _dia_batch


# -- BSR -------------------------------------------------------------------------------
BSR_MATMUL = _define("bsr_matmul", _matmul_abstract_eval)


def _bsr_transpose(ct, data, indices, indptr, b, *, shape, transpose, backend):
    if ad.is_undefined_primal(indices) or ad.is_undefined_primal(indptr):
        raise ValueError("sparse indices are not differentiable")
    if type(ct) is ad.Zero:
        return None, None, None, None
    if ad.is_undefined_primal(b):
        ct_b = BSR_MATMUL.bind(data, indices, indptr, ct, shape=shape,
                               transpose=not transpose, backend=backend)
        return None, None, None, ct_b
    capacity, r, c = data.aval.shape
    ct_data = _bsr_kernel.bsr_data_cotangent(
        ct, indices, indptr, b, shape=shape, transpose=transpose, blocksize=(r, c),
        capacity=capacity, dtype=data.aval.dtype,
    )
    return ct_data, None, None, None


def _bsr_batch(args, dims, **params):
    if any(d is not None for d in dims[:-1]):
        return _vmap_reference(_bsr_kernel.bsr_matmul, args, dims, params)
    return _fold_into_columns(BSR_MATMUL, args, dims[-1], params)


ad.defjvp(
    BSR_MATMUL,
    lambda dd, data, i0, i1, b, **p: BSR_MATMUL.bind(dd, i0, i1, b, **p),
    None,
    None,
    lambda db, data, i0, i1, b, **p: BSR_MATMUL.bind(data, i0, i1, db, **p),
)
ad.primitive_transposes[BSR_MATMUL] = _bsr_transpose
batching.primitive_batchers[BSR_MATMUL] = _bsr_batch


# -- SpGEMM numeric phase --------------------------------------------------------------
def _spgemm_abstract_eval(a_data, b_data, a_slot, b_slot, seg, *, nnz, dtype, backend):
    del a_slot, b_slot, seg, backend
    return _out_aval((a_data, b_data), (nnz,), dtype)


SPGEMM_NUMERIC = _define("spgemm_numeric", _spgemm_abstract_eval)


def _spgemm_transpose(ct, a_data, b_data, a_slot, b_slot, seg, *, nnz, dtype, backend):
    del nnz, dtype, backend
    if any(ad.is_undefined_primal(x) for x in (a_slot, b_slot, seg)):
        raise ValueError("the SpGEMM plan's index arrays are not differentiable")
    if type(ct) is ad.Zero:
        return None, None, None, None, None
    if ad.is_undefined_primal(a_data):
        ct_a = _spgemm_kernel.spgemm_operand_cotangent(
            ct, b_data, a_slot, b_slot, seg, capacity=a_data.aval.shape[0],
            dtype=a_data.aval.dtype)
        return ct_a, None, None, None, None
    ct_b = _spgemm_kernel.spgemm_operand_cotangent(
        ct, a_data, b_slot, a_slot, seg, capacity=b_data.aval.shape[0],
        dtype=b_data.aval.dtype)
    return None, ct_b, None, None, None


def _spgemm_batch(args, dims, **params):
    return _vmap_reference(_spgemm_kernel.spgemm_numeric, args, dims, params)


ad.defjvp(
    SPGEMM_NUMERIC,
    lambda da, a, b, *idx, **p: SPGEMM_NUMERIC.bind(da, b, *idx, **p),
    lambda db, a, b, *idx, **p: SPGEMM_NUMERIC.bind(a, db, *idx, **p),
    None,
    None,
    None,
)
ad.primitive_transposes[SPGEMM_NUMERIC] = _spgemm_transpose
batching.primitive_batchers[SPGEMM_NUMERIC] = _spgemm_batch
