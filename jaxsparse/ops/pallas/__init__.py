"""The "pallas" backend: GPU kernels written in Pallas and lowered through Triton.

Kernels (one family per file, each with its scheme in the docstring and in
docs/kernels.md): CSR ``A @ b`` (``_rowwise``), CSR ``A.T @ b`` without a conversion
(``_transposed``) and the SDDMM core for CSR and COO (``_sampled``). They are registered
as the "pallas" lowerings of the primitives in ``ops/_primitives.py``, so ``grad``,
``jvp``, ``vmap`` and the sharded products use them with no other code. ``backend=None``
picks them on a GPU; on CPU they run in Pallas's interpreter (``backend="pallas"``),
which is how their results are tested here, and they lower for CUDA from a CPU machine,
which is how their GPU build is tested here.

Where Pallas is missing (it ships with jax, but an import may fail on an odd install)
the backend is marked unavailable and every op uses the xla kernels.
"""

from .. import _dispatch

try:
    from . import _lowerings  # noqa: F401  (registers the "pallas" lowerings)
except ImportError as exc:  # pragma: no cover - jax without Pallas
    _dispatch.mark_unavailable("pallas", f"Pallas could not be imported: {exc}")
