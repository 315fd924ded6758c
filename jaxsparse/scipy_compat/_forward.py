"""SciPy's own functions, with their sparse results as drop-in objects.

Module-level functions of ``scipy.sparse`` (constructors such as ``eye``, ``diags``,
``random_array``; ``hstack``, ``kron``, ``tril``, ``find``, ``load_npz``...) and of
``scipy.sparse.csgraph`` run unchanged, in SciPy's compiled code on the host; a sparse
result is then re-labelled as the drop-in class of its format (sharing its arrays,
nothing copied). ``jax.Array`` arguments are passed to SciPy as NumPy views.
"""

from __future__ import annotations

import functools
import inspect

from . import _registry


def forward(fn, module: str):
    """``fn`` with ``jax.Array`` arguments as NumPy and sparse results as drop-ins."""

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        args = tuple(_registry.host(a) for a in args)
        kwargs = {k: _registry.host(v) for k, v in kwargs.items()}
        return _registry.rewrap_all(fn(*args, **kwargs))

    wrapped.__module__ = module
    return wrapped


def forward_module(scipy_module, module: str, skip=()):
    """``{name: forwarded}`` for every public function of ``scipy_module``; classes,
    warnings and submodules are SciPy's own objects."""
    out = {}
    for name in getattr(scipy_module, "__all__", ()):
        if name in skip:
            continue
        obj = getattr(scipy_module, name)
        if inspect.isfunction(obj) or inspect.isbuiltin(obj) or (
                callable(obj) and not isinstance(obj, type) and not inspect.ismodule(obj)):
            out[name] = forward(obj, module)
        else:
            out[name] = obj
    return out
