"""Reading SciPy's ``save_npz`` files without trusting them.

A ``.npz`` file may come from anyone. So the reader never unpickles (``allow_pickle=False``;
an object array is refused, by name), checks every array as a constructor does (integer
index dtypes, lengths, ``indptr`` order, index bounds), and checks the claimed shape
against the arrays before anything the size of that shape is allocated: a CSR file that
claims 10**12 rows must hold 10**12 + 1 ``indptr`` entries. SciPy's ``load_npz`` also
passes ``allow_pickle=False`` but then trusts the arrays (its default check skips index
bounds and ``indptr`` order, which its compiled code relies on).
"""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from . import _validate
from ._registry import format_class

_ARRAYS = {"csr": ("data", "indices", "indptr"), "csc": ("data", "indices", "indptr"),
           "bsr": ("data", "indices", "indptr"), "dia": ("data", "offsets"),
           "coo": ("data",)}


def _read(loaded, name: str, file: Any) -> np.ndarray:
    if name not in loaded.files:
        raise ValueError(f"{file}: the sparse file has no {name!r} array")
    try:
        return loaded[name]
    except ValueError as e:  # NumPy's refusal to unpickle an object array
        raise ValueError(f"{file}: array {name!r} holds Python objects (dtype=object); "
                         "load_npz never unpickles, so it refuses the file") from e


def _integer(arr: np.ndarray, name: str, ndim: int) -> np.ndarray:
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{name} must have an integer dtype, got {arr.dtype}")
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {arr.shape}")
    return arr


def read_npz(file: Any) -> tuple[str, bool, dict[str, np.ndarray], tuple[int, ...]]:
    """``(format, is_array, arrays, shape)`` from a ``scipy.sparse.save_npz`` file,
    every array checked (see the module docstring). ``arrays`` holds SciPy's constructor
    arguments by name: ``data`` with ``indices``/``indptr``, ``offsets`` or ``coords``.

    Raises ValueError (TypeError for a wrong dtype) naming the array at fault.
    """
    try:
        loaded = np.load(file, allow_pickle=False)
    except (zipfile.BadZipFile, EOFError, OSError) as e:
        raise ValueError(f"{file}: not a readable .npz file ({e})") from e
    if not isinstance(loaded, np.lib.npyio.NpzFile):
        raise ValueError(f"{file}: not a .npz archive (a single array), so not a sparse file")
    with loaded:
        fmt = _read(loaded, "format", file)
        if fmt.ndim != 0 or fmt.dtype.kind not in "SU":
            raise ValueError(f"{file}: 'format' must be a string, got {fmt.dtype} "
                             f"of shape {fmt.shape}")
        fmt = fmt.item()
        fmt = fmt.decode("ascii", "replace") if isinstance(fmt, bytes) else fmt
        if fmt not in _ARRAYS:
            raise ValueError(f"{file}: unknown sparse format {fmt!r} (expected one of "
                             f"{sorted(_ARRAYS)})")
        is_array = "_is_array" in loaded.files and bool(
            _read(loaded, "_is_array", file).any())
        shape = tuple(int(s) for s in _integer(_read(loaded, "shape", file), "shape", 1))
        arrays = {name: _read(loaded, name, file) for name in _ARRAYS[fmt]}
        if fmt == "coo":
            if "coords" in loaded.files:
                coords = _read(loaded, "coords", file)
                coords = tuple(_integer(coords, "coords", 2))
            else:
                coords = (_read(loaded, "row", file), _read(loaded, "col", file))
            arrays["coords"] = coords
    _check(fmt, arrays, shape)
    return fmt, is_array, arrays, shape


def _check(fmt: str, arrays: dict[str, Any], shape: tuple[int, ...]) -> None:
    """The constructor checks, on host arrays, before anything shape-sized exists."""
    data = arrays["data"]
    _validate.check_data_dtype(data.dtype)
    if fmt == "coo":
        shape = _validate.check_shape(shape, (1, 2), "COO")
        coords = arrays["coords"]
        if len(coords) != len(shape):
            raise ValueError(f"coords must hold one index array per dimension "
                             f"({len(shape)}), got {len(coords)}")
        names = ("row", "col") if len(shape) == 2 else ("coords[0]",)
        if data.ndim != 1:
            raise ValueError(f"data must be 1-D, got shape {data.shape}")
        for c, name, bound in zip(coords, names, shape, strict=True):
            _integer(c, name, 1)
            if c.shape[0] != data.shape[0]:
                raise ValueError(f"{name} and data must have the same length, got "
                                 f"{c.shape[0]} and {data.shape[0]}")
            _validate.check_indices_in_range(c, bound, name, f"entries along {name}")
        return
    shape = _validate.check_shape(shape, 2, fmt.upper())
    if fmt == "dia":
        _integer(arrays["offsets"], "offsets", 1)
        _validate.check_dia(data, arrays["offsets"])
        return
    indices = _integer(arrays["indices"], "indices", 1)
    indptr = _integer(arrays["indptr"], "indptr", 1)
    if fmt == "bsr":
        if data.ndim != 3:
            raise ValueError(f"data must be 3-D (n_blocks, R, C), got shape {data.shape}")
        r, c = _validate.check_blocksize(data.shape[1:], shape)
        _validate.check_compressed(data, indices, indptr, shape[0] // r, shape[1] // c,
                                   "block rows", "block columns", data_ndim=3)
    elif fmt == "csr":
        _validate.check_compressed(data, indices, indptr, *shape, "rows", "columns")
    else:
        _validate.check_compressed(data, indices, indptr, shape[1], shape[0], "columns",
                                   "rows")


def load_npz(file: Any):
    """A core matrix from a ``scipy.sparse.save_npz`` file, read safely.

    The file is never unpickled, and its arrays and claimed shape are checked before
    anything is allocated (see :func:`read_npz`). Save a core matrix ``A`` with
    ``scipy.sparse.save_npz(file, A.to_scipy())``.

    Args:
      file: a path or a binary file object.

    Returns:
      A :class:`CSR`, :class:`CSC`, :class:`COO`, :class:`DIA` or :class:`BSR`.

    Example:
      >>> import io, numpy as np, scipy.sparse as sps, jaxsparse as js
      >>> buf = io.BytesIO(); sps.save_npz(buf, sps.eye_array(3, format="csr"))
      >>> _ = buf.seek(0); js.load_npz(buf).shape
      (3, 3)

    SciPy equivalent: ``scipy.sparse.load_npz``.
    """
    fmt, _, arrays, shape = read_npz(file)
    cls = format_class(fmt)
    if fmt == "coo":
        return cls.from_arrays(arrays["data"], arrays["coords"], shape=shape)
    if fmt == "dia":
        return cls.from_arrays(arrays["data"], arrays["offsets"], shape=shape)
    return cls.from_arrays(arrays["data"], arrays["indices"], arrays["indptr"], shape=shape)
