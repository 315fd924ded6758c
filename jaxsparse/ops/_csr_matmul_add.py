"""``csr_matmul_add(data, indices, indptr, b, c; shape)``: ``c + A @ b`` as one primitive.

A sharded product whose halo block spans every row of the shard (the halo is all of
``x``, as for the random matrix) adds the halo block's product to the owned block's.
As two ops, XLA writes the halo product, then reads it and the owned product back to
add them: three passes over the shard's output. The "native" kernel adds each row's sum
into ``c``'s buffer, handed over as the output's, when the row is done (the sum is
rounded first, so the bits are those of ``c + A @ b``). Backends without a kernel of
their own for it get ``c +`` their ``csr_matmul`` (the lowering composes them), so a
GPU still runs the Pallas product.

Linear in ``c`` and bilinear in ``(data, b)``: its JVP, transpose and batching rules
are ``csr_matmul``'s, plus ``c``'s identity.
"""

from __future__ import annotations

import jax.numpy as jnp
from jax.interpreters import ad, batching

from . import _dispatch
from ._primitives import CSR_KERNELS, _define, _out_aval

_PRODUCT = CSR_KERNELS.matmul


def _abstract_eval(data, indices, indptr, b, c, *, shape, backend):
    del indices, indptr, backend
    rows = (shape[0],) + b.shape[1:]
    if c.shape != rows or c.dtype != b.dtype:
        raise ValueError(f"csr_matmul_add: c must have the product's shape {rows} and "
                         f"dtype {b.dtype}, got {c.shape} {c.dtype}")
    return _out_aval((b, data, c), rows, b.dtype)


def _kernel(backend, avals, params):
    """The backend's fused kernel, else ``c +`` the backend's CSR product (the backend
    is the one ``csr_matmul`` would use on these operands)."""
    product_params = {**params, "transpose": False}
    if backend is None:
        backend = _dispatch.pick("csr_matmul", operands=avals[:4], params=product_params)
    if backend in _dispatch.available("csr_matmul_add"):
        return _dispatch.lookup("csr_matmul_add", backend)
    product = _dispatch.lookup("csr_matmul", backend, avals[:4], product_params)

    def composed(data, indices, indptr, b, c, *, shape):
        return c + product(data, indices, indptr, b, shape=shape, transpose=False)

    return composed


CSR_MATMUL_ADD = _define("csr_matmul_add", _abstract_eval, kernel=_kernel)


def csr_matmul_add(data, indices, indptr, b, c, *, shape, backend: str | None = None):
    """``c + A @ b`` for the CSR matrix ``A = (data, indices, indptr)`` of ``shape``;
    ``c`` has the product's shape and dtype (``b``'s)."""
    return CSR_MATMUL_ADD.bind(data, indices, indptr, b, c, shape=shape,
                               backend=_dispatch.choose("csr_matmul", backend))


def _product(data, indices, indptr, b, *, shape, backend):
    return _PRODUCT.bind(data, indices, indptr, b, shape=shape, transpose=False,
                         backend=backend)


def _transpose(ct, data, indices, indptr, b, c, *, shape, backend):
    if type(ct) is ad.Zero:
        return None, None, None, None, None
    ct_c = ct if ad.is_undefined_primal(c) else None
    cts = (None,) * 4
    if any(ad.is_undefined_primal(a) for a in (data, indices, indptr, b)):
        cts = CSR_KERNELS._matmul_transpose(ct, data, indices, indptr, b, shape=shape,
                                            transpose=False, backend=backend)
    return (*cts, ct_c)


def _batch(args, dims, *, shape, backend):
    *operands, c = args
    *operand_dims, c_dim = dims
    params = dict(shape=shape, transpose=False, backend=backend)
    if all(d is None for d in operand_dims):  # None: not batched
        y, y_dim = _PRODUCT.bind(*operands, **params), None
    else:
        y, y_dim = CSR_KERNELS._matmul_batch(operands, operand_dims, **params)
    if y_dim is None:
        return jnp.expand_dims(y, c_dim) + c, c_dim
    if c_dim is None:
        return y + jnp.expand_dims(c, y_dim), y_dim
    return y + jnp.moveaxis(c, c_dim, y_dim), y_dim


ad.defjvp(
    CSR_MATMUL_ADD,
    lambda dd, data, i0, i1, b, c, **p: _product(dd, i0, i1, b, **p),
    None,
    None,
    lambda db, data, i0, i1, b, c, **p: _product(data, i0, i1, db, **p),
    lambda dc, data, i0, i1, b, c, **p: dc,
)
ad.primitive_transposes[CSR_MATMUL_ADD] = _transpose
batching.primitive_batchers[CSR_MATMUL_ADD] = _batch
