"""Registering our frozen dataclasses as pytrees whose structure names their class.

Why not ``jax.tree_util.register_dataclass``: in JAX 0.10.2 the treedefs of two
*different* classes registered that way compare equal whenever their static fields hold
equal values (only their hashes differ). ``CSR`` and ``CSC`` of one shape and flags are
such a pair. ``jit``'s caches find entries by hash and then equality, so when two hashes
land in the same probe group a CSC call could run the executable compiled for CSR and
silently return the transpose. We saw it happen once in a long test run. Nodes registered with
``register_pytree_with_keys`` compare their types, so that cannot happen.
"""

from __future__ import annotations

import dataclasses

import jax


def register_pytree_dataclass(cls):
    """Register the frozen dataclass ``cls`` as a pytree node (class decorator).

    Fields whose metadata has ``static=True`` become the treedef's auxiliary data (they
    must be hashable); every other field is a child. Unflattening bypasses ``__init__``,
    as ``register_dataclass`` does for traced values: children may be tracers or
    ``None``.
    """
    fields = dataclasses.fields(cls)
    data_names = tuple(f.name for f in fields if not f.metadata.get("static", False))
    meta_names = tuple(f.name for f in fields if f.metadata.get("static", False))
    keys = tuple(jax.tree_util.GetAttrKey(name) for name in data_names)

    def flatten(obj):
        children = tuple(getattr(obj, name) for name in data_names)
        return children, tuple(getattr(obj, name) for name in meta_names)

    def flatten_with_keys(obj):
        children, aux = flatten(obj)
        return tuple(zip(keys, children, strict=True)), aux

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for name, value in zip(data_names, children, strict=True):
            object.__setattr__(obj, name, value)
        for name, value in zip(meta_names, aux, strict=True):
            object.__setattr__(obj, name, value)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)
    return cls
