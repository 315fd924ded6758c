"""Every core format by its SciPy name, in one table filled as the classes are defined.

A format declares what the rest of the package needs to know about it as class
attributes of :class:`~._base.AbstractSparse` (``format_name``, ``kernel_layout``,
``entries_in_data``); defining a subclass with a ``format_name`` registers it here.
Code that needs "the class called ``fmt``" or "every format name" asks this module
instead of keeping its own list.
"""

from __future__ import annotations

FORMATS: dict[str, type] = {}


def register(cls: type) -> None:
    FORMATS[cls.format_name] = cls


def format_class(name: str) -> type:
    """The core class of format ``name`` ("csr", "csc", "coo", "dia", "bsr")."""
    try:
        return FORMATS[name]
    except KeyError:
        raise ValueError(f"format must be one of {format_names()}, got {name!r}") from None


def format_names() -> tuple[str, ...]:
    return tuple(FORMATS)
