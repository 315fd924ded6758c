"""``load_npz`` that never trusts the file (SciPy's trusts the arrays it reads).

SciPy's ``load_npz`` refuses pickles but then builds the matrix with its default check,
which skips index bounds and ``indptr`` order; its compiled code then reads out of bounds
on a hostile file. Here the arrays are checked first (:func:`jaxsparse.formats._npz.read_npz`:
integer index dtypes, lengths, order, bounds, and a shape the arrays can back), then the
drop-in class SciPy would have returned is built from them.
"""

from __future__ import annotations

from typing import Any

from ..formats._npz import read_npz
from . import _registry


def load_npz(file: Any):
    """Load a sparse array or matrix saved by ``scipy.sparse.save_npz``, checked.

    Args:
      file: a path or a binary file object.

    Returns:
      The drop-in ``csr``/``csc``/``coo``/``dia``/``bsr`` array or matrix that SciPy's
      ``load_npz`` returns for a valid file.

    Raises:
      ValueError or TypeError, naming the array at fault, for a file holding object
      arrays (never unpickled), an unknown format, mismatched or unordered arrays,
      out-of-range or non-integer indices, or a shape the arrays cannot back.

    Example:
      >>> import io, scipy.sparse, jaxsparse.scipy_compat as sp
      >>> buf = io.BytesIO(); scipy.sparse.save_npz(buf, sp.eye_array(3, format="csr"))
      >>> _ = buf.seek(0); sp.load_npz(buf).toarray().trace()
      np.float64(3.0)

    SciPy equivalent: ``scipy.sparse.load_npz``.
    """
    fmt, is_array, arrays, shape = read_npz(file)
    cls = _registry.CLASSES[(fmt, not is_array)]
    if fmt == "coo":
        return cls((arrays["data"], arrays["coords"]), shape=shape)
    if fmt == "dia":
        return cls((arrays["data"], arrays["offsets"]), shape=shape)
    return cls((arrays["data"], arrays["indices"], arrays["indptr"]), shape=shape)


load_npz.__module__ = "jaxsparse.scipy_compat"
