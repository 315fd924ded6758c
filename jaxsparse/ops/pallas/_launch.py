"""How every jaxsparse Pallas kernel is launched: Triton on GPUs, interpreted elsewhere.

jax 0.10.2 sends a GPU ``pallas_call`` without compiler parameters to Mosaic GPU, which
a CPU-only jaxlib cannot lower; explicit Triton parameters select the Triton lowering,
which lowers for CUDA from a CPU machine too (so CI proves the GPU build compiles). On
CPU Pallas runs only interpreted. The choice follows the platform being lowered for
(``_dispatch.lowering_platform``), so one jitted function gets the interpreter on CPU and
the Triton kernel on a GPU.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax
from jax.experimental import pallas as pl
from jax.experimental.pallas import triton as plgpu

from .. import _dispatch

_GPU_PLATFORMS = frozenset(("cuda", "rocm", "gpu"))


def interpreted() -> bool:
    """Whether the kernel being traced runs in Pallas's interpreter (not on a GPU)."""
    return _dispatch.lowering_platform() not in _GPU_PLATFORMS


def launch(kernel, inputs, *, grid, out_shape, dtype, num_warps: int = 4,
           accumulate_into: int | None = None) -> jax.Array:
    """Run ``kernel`` over ``grid`` on ``inputs`` with Pallas for this platform; its
    output has ``out_shape`` and ``dtype``. ``accumulate_into=i``: the output is input
    ``i`` (a zero buffer the kernel adds into with atomics), aliased, not a fresh one."""
    inputs, mat = _same_variance(inputs)
    out = jax.ShapeDtypeStruct(tuple(out_shape), dtype, manual_axis_type=mat)
    aliases = {} if accumulate_into is None else {accumulate_into: 0}
    if interpreted():
        call = pl.pallas_call(kernel, grid=grid, out_shape=out, interpret=True,
                              input_output_aliases=aliases)
    else:
        params = plgpu.CompilerParams(num_warps=num_warps, num_stages=1)
        call = pl.pallas_call(kernel, grid=grid, out_shape=out, compiler_params=params,
                              input_output_aliases=aliases)
    return call(*inputs)


def _same_variance(inputs):
    """Inside ``shard_map``: the inputs made to vary over the same mesh axes, and the
    output's type on those axes (a ``pallas_call`` there must state them). A kernel
    mixes a shard's own arrays with replicated operands. Outside: unchanged, None."""
    mats = [jax.typeof(a).manual_axis_type for a in inputs]
    if all(m is None for m in mats):
        return inputs, None
    axes = frozenset().union(*(m.varying for m in mats if m is not None))
    cast = []
    for a, m in zip(inputs, mats, strict=True):
        missing = tuple(sorted(axes - (m.varying if m is not None else frozenset())))
        cast.append(lax.pcast(a, missing, to="varying") if missing else a)
    return cast, jax.typeof(cast[0]).manual_axis_type


def pow2(n: int, low: int, high: int) -> int:
    """The power of two nearest above ``n``, clipped to ``[low, high]`` (Triton blocks
    must be powers of two)."""
    return max(low, min(high, pl.next_power_of_2(max(1, int(n)))))


def cdiv_traced(a: jax.Array, b: int) -> jax.Array:
    """``ceil(a / b)`` for a non-negative traced integer ``a`` and a static ``b``, in
    ``a``'s dtype (``pl.cdiv`` mixes dtypes when x64 is on)."""
    b = jnp.asarray(b, a.dtype)
    return lax.div(a + (b - 1), b)


def add_at(ref, index, value, valid) -> None:
    """``ref[index] += value`` on the lanes where ``valid``, atomically.

    Callers route invalid lanes to a dump slot of their own (one per lane) and never
    name one address twice in a call: Pallas's interpreter has no masked atomic add,
    and of two lanes sharing an address it keeps one. On a GPU the mask also skips the
    dump slots' memory traffic.
    """
    if interpreted():
        plgpu.atomic_add(ref, index, value)
    else:
        plgpu.atomic_add(ref, index, value, mask=valid)


def load(ref, index, valid, dtype):
    """``ref[index]`` where ``valid`` (0 elsewhere), converted to ``dtype``."""
    return plgpu.load(ref.at[index], mask=valid, other=0).astype(dtype)


def store(ref, index, value, valid) -> None:
    plgpu.store(ref.at[index], value.astype(ref.dtype), mask=valid)
