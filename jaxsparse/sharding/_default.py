"""The default mesh the drop-in distributes over.

With more than one device visible, ``jaxsparse.scipy_compat`` shards large matrices over
a 1-D mesh of every device with Auto axes (so users' own ``jnp`` code on the results
composes without sharding annotations). ``set_default_mesh(mesh)`` picks another mesh;
``set_default_mesh(None)`` keeps everything on one device.
"""

from __future__ import annotations

import jax

from ..distributed import check_mesh

_UNSET = object()
_default: object = _UNSET

# Below this many stored entries a matrix stays on one device: the halo exchange and
# the per-shard launch cost more than they save.
MIN_SHARDED_NNZ = 200_000


def set_default_mesh(mesh: jax.sharding.Mesh | None) -> None:
    """Set the mesh the drop-in shards large matrices over (``None``: one device)."""
    global _default
    if mesh is not None and not isinstance(mesh, jax.sharding.Mesh):
        raise TypeError(f"mesh must be a jax.sharding.Mesh or None, got {type(mesh).__name__}")
    if mesh is not None and len(mesh.axis_names) < 1:
        raise ValueError("mesh must have at least one axis")
    if mesh is not None:
        check_mesh(mesh)  # a multi-process run's mesh holds devices of every process
    _default = mesh


def default_mesh() -> jax.sharding.Mesh | None:
    """The mesh set by :func:`set_default_mesh`, else all devices when there are several."""
    if _default is not _UNSET:
        return _default  # type: ignore[return-value]
    devices = jax.devices()
    if len(devices) < 2:
        return None
    return jax.make_mesh((len(devices),), ("x",), axis_types=(jax.sharding.AxisType.Auto,))
