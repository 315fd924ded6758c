"""Constructors with SciPy 1.17's signatures, defaults, formats and classes.

- ``eye eye_array identity diags diags_array spdiags random random_array rand`` build
  their result with SciPy on the host (they take no sparse input) and convert it: the
  result is SciPy's, entry for entry. In particular the random constructors draw from
  NumPy/SciPy's generators with the same ``rng``/``random_state`` arguments (and the
  same global NumPy state when neither is given), so a seeded program builds the very
  same matrix under SciPy and under the drop-in.
- ``hstack vstack bmat block_array block_diag kron kronsum`` take sparse (ours or
  SciPy's) or dense blocks. Their structure comes from SciPy run on id proxies
  (:mod:`._proxy`) and their values are gathered on the device: results have SciPy's
  format, class (``*_array`` as soon as one input is a sparse array, else
  ``*_matrix``), shape, dtype and entry order. ``kron`` sums duplicate entries of its
  inputs first (SciPy keeps them as duplicates in COO output: same values, possibly
  more stored entries).

All of these are eager (host-side structure): they raise under ``jax.jit``.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as ss

from . import _proxy

_NOVALUE = object()


def _wrap(S):
    return _proxy.from_scipy(S)


# -- built by SciPy on the host -------------------------------------------------------


def eye(m, n=None, k=0, dtype=float, format=None):
    """Sparse matrix with ones on diagonal ``k`` (a ``dia_matrix`` unless ``format``).

    SciPy equivalent: ``scipy.sparse.eye``.
    """
    return _wrap(ss.eye(m, n, k=k, dtype=dtype, format=format))


def eye_array(m, n=None, *, k=0, dtype=float, format=None):
    """Sparse array with ones on diagonal ``k`` (a ``dia_array`` unless ``format``).

    SciPy equivalent: ``scipy.sparse.eye_array``.
    """
    return _wrap(ss.eye_array(m, n, k=k, dtype=dtype, format=format))


def identity(n, dtype="d", format=None):
    """Identity matrix (a ``*_matrix``; ``dia`` unless ``format``).

    SciPy equivalent: ``scipy.sparse.identity``.
    """
    return _wrap(ss.identity(n, dtype=dtype, format=format))


def diags_array(diagonals, /, *, offsets=0, shape=None, format=None, dtype=_NOVALUE):
    """Sparse array from diagonals (``dia_array`` unless ``format``).

    SciPy equivalent: ``scipy.sparse.diags_array``.
    """
    kw = {} if dtype is _NOVALUE else {"dtype": dtype}
    return _wrap(ss.diags_array(_host(diagonals), offsets=offsets, shape=shape,
                                format=format, **kw))


def diags(diagonals, offsets=0, shape=None, format=None, dtype=_NOVALUE):
    """Sparse matrix from diagonals (``dia_matrix`` unless ``format``).

    SciPy equivalent: ``scipy.sparse.diags``.
    """
    kw = {} if dtype is _NOVALUE else {"dtype": dtype}
    return _wrap(ss.diags(_host(diagonals), offsets=offsets, shape=shape, format=format,
                          **kw))


def spdiags(data, diags, m=None, n=None, format=None):
    """Sparse matrix from the rows of ``data`` placed on the diagonals ``diags``.

    SciPy equivalent: ``scipy.sparse.spdiags``.
    """
    return _wrap(ss.spdiags(_host(data), _host(diags), m, n, format=format))


def _host(x):
    """JAX arrays (possibly inside lists) as NumPy arrays, for SciPy's host code."""
    import jax

    if isinstance(x, jax.Array):
        return np.asarray(x)
    if isinstance(x, (list, tuple)):
        return type(x)(_host(e) for e in x)
    return x


def _forwarding(name: str, doc: str):
    """A function with SciPy's signature that forwards its arguments *as given*.

    SciPy's ``rng``/``random_state`` transition decorator gives a positional PRNG
    argument the legacy ``RandomState`` meaning and a keyword ``rng`` the
    ``default_rng`` one; forwarding ``*args, **kwargs`` untouched keeps that
    distinction, so the same call draws the same numbers.
    """
    import functools
    import inspect

    target = getattr(ss, name)

    @functools.wraps(target, assigned=("__name__", "__qualname__"))
    def fn(*args, **kwargs):
        return _wrap(target(*args, **kwargs))

    fn.__signature__ = inspect.signature(target)
    fn.__doc__ = doc
    fn.__module__ = __name__
    return fn


random = _forwarding("random", """Random sparse matrix (a ``*_matrix``, ``coo`` unless
    ``format``), drawn by SciPy with the same arguments: ``random(m, n, density=0.01,
    format='coo', dtype=None, rng=None, data_rvs=None, *, random_state=None)``. A
    seeded call builds the very same matrix as SciPy's.

    SciPy equivalent: ``scipy.sparse.random``.
    """)

random_array = _forwarding("random_array", """Random sparse array, drawn by SciPy with
    the same arguments: ``random_array(shape, *, density=0.01, format='coo',
    dtype=None, rng=None, data_sampler=None, random_state=None)`` (1-D or 2-D
    ``shape``: the drop-in has no n-D arrays).

    SciPy equivalent: ``scipy.sparse.random_array``.
    """)

rand = _forwarding("rand", """Random sparse matrix with values uniform in ``[0, 1)``,
    drawn by SciPy with the same arguments: ``rand(m, n, density=0.01, format='coo',
    dtype=None, rng=None, *, random_state=None)``.

    SciPy equivalent: ``scipy.sparse.rand``.
    """)


# -- structure by SciPy on id proxies, values gathered on the device ------------------


def _map(x, depth: int, f):
    if depth == 0:
        return f(x)
    if isinstance(x, np.ndarray) and x.dtype == object:
        x = list(x)
    if not isinstance(x, (list, tuple)):
        raise ValueError("blocks must be 2-D" if depth == 2 else
                         "blocks must be a sequence of blocks")
    return [_map(e, depth - 1, f) for e in x]


def _structured(fn, blocks, depth, dtype, *, dense="nonzero", **kw):
    """``fn(blocks_of_proxies, **kw)`` decoded; ``dtype`` as SciPy's ``dtype=``."""
    operands = []

    def leaf(b):
        if b is None:
            return None
        operands.append(_proxy.as_operand(b, dense=dense))
        return len(operands) - 1

    struct = _map(blocks, depth, leaf)
    if dtype is not None:
        out_dtype = np.dtype(dtype)
    elif operands:
        out_dtype = np.result_type(*(o.dtype for o in operands))
    else:
        out_dtype = np.dtype(np.float64)

    def op(*proxies):
        return fn(_map(struct, depth, lambda i: None if i is None else proxies[i]), **kw)

    R, table = _proxy.run(op, operands, out_dtype)
    return _proxy.decode(R, table)


def hstack(blocks, format=None, dtype=None):
    """Stack sparse matrices horizontally (``coo`` unless ``format``; all-csr inputs
    give csr as in SciPy's fast path). SciPy equivalent: ``scipy.sparse.hstack``."""
    return _structured(ss.hstack, blocks, 1, dtype, format=format)


def vstack(blocks, format=None, dtype=None):
    """Stack sparse matrices vertically. SciPy equivalent: ``scipy.sparse.vstack``."""
    return _structured(ss.vstack, blocks, 1, dtype, format=format)


def bmat(blocks, format=None, dtype=None):
    """Sparse matrix from a 2-D grid of blocks (``None`` for zero blocks).

    SciPy equivalent: ``scipy.sparse.bmat``.
    """
    return _structured(ss.bmat, blocks, 2, dtype, format=format)


def block_array(blocks, *, format=None, dtype=None):
    """Sparse array from a 2-D grid of blocks (always a ``*_array``).

    SciPy equivalent: ``scipy.sparse.block_array``.
    """
    return _structured(ss.block_array, blocks, 2, dtype, format=format)


def block_diag(mats, format=None, dtype=None):
    """Block-diagonal sparse matrix (``coo`` unless ``format``). A dense ``ndarray``
    block stores all its entries, lists and numbers only their nonzeros (as SciPy).

    SciPy equivalent: ``scipy.sparse.block_diag``.
    """
    operands = []
    for a in mats:
        dense = "nonzero" if isinstance(a, (list, int, float, complex, np.number)) \
            else "all"
        operands.append(_proxy.as_operand(a, dense=dense))
    if dtype is not None:
        out_dtype = np.dtype(dtype)
    else:
        out_dtype = np.result_type(*(o.dtype for o in operands)) if operands \
            else np.dtype(np.float64)
    def op(*proxies):
        return ss.block_diag(proxies, format=format)

    R, table = _proxy.run(op, operands, out_dtype)
    return _proxy.decode(R, table)


def kron(A, B, format=None):
    """Kronecker product of sparse (or dense) ``A`` and ``B``.

    Format as SciPy: ``bsr`` when ``B`` is fairly dense (``2 * B.nnz >= B.size``) and
    ``format`` is ``None``/"bsr", else ``coo`` unless ``format``. Duplicate entries of
    the inputs are summed first. SciPy equivalent: ``scipy.sparse.kron``.
    """
    a = _proxy.canonical(_proxy.as_operand(A))
    b = _proxy.canonical(_proxy.as_operand(B))
    ta, tb = _proxy.IdTable(a.dtype), _proxy.IdTable(b.dtype)
    pa, pb = _proxy.proxy(a, ta), _proxy.proxy(b, tb)
    ones_a, ones_b = pa.copy(), pb.copy()
    ones_a.data = (ones_a.data != 0).astype(np.int64)
    ones_b.data = (ones_b.data != 0).astype(np.int64)
    R1 = ss.kron(pa, ones_b, format=format)
    R2 = ss.kron(ones_a, pb, format=format)
    values = ta.lookup(np.ravel(R1.data)) * tb.lookup(np.ravel(R2.data))
    return _proxy.decode_values(R1, values)


def kronsum(A, B, format=None):
    """Kronecker sum ``kron(I_m, A) + kron(B, I_n)`` of square ``A`` (n x n) and ``B``
    (m x m). SciPy equivalent: ``scipy.sparse.kronsum``."""
    a, b = _proxy.as_operand(A), _proxy.as_operand(B)
    as_array = any(isinstance(x, ss.sparray) or (_proxy.is_ours(x) and not x._is_matrix)
                   for x in (A, B))
    if a.ndim != 2:
        raise ValueError(f"kronsum requires 2D inputs. `A` is {a.ndim}D.")
    if b.ndim != 2:
        raise ValueError(f"kronsum requires 2D inputs. `B` is {b.ndim}D.")
    if a.shape[0] != a.shape[1]:
        raise ValueError("A is not square")
    if b.shape[0] != b.shape[1]:
        raise ValueError("B is not square")
    if as_array:  # a dense operand became a coo_matrix: make the family explicit
        from ._base import _CLASSES

        a, b = (_CLASSES[(x.format, False)]._from_core(x._core) for x in (a, b))
    dtype = np.result_type(a.dtype, b.dtype)
    ident = eye_array if as_array else identity
    left = kron(ident(b.shape[0], dtype=dtype), a, format="coo")
    right = kron(b, ident(a.shape[0], dtype=dtype), format="coo")
    return (left + right).asformat(format)
