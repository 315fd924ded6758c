"""Shared test helpers: matrices, tolerances and dense comparison."""

from __future__ import annotations

import contextlib
import os

import numpy as np
import scipy.sparse as sps

import jaxsparse as js

FORMATS = ("csr", "csc", "coo", "dia", "bsr")

DTYPES = (np.float32, np.float64, np.complex64, np.complex128)

_TOL = {
    np.dtype(np.float16): 1e-2,
    np.dtype("bfloat16") if hasattr(np, "bfloat16") else np.dtype(np.float16): 3e-2,
    np.dtype(np.float32): 1e-5,
    np.dtype(np.complex64): 1e-5,
    np.dtype(np.float64): 1e-12,
    np.dtype(np.complex128): 1e-12,
}


def tol(dtype) -> float:
    dtype = np.dtype(dtype)
    if dtype.kind in "iub":
        return 0.0
    return _TOL.get(dtype, 3e-2)


def random_scipy(n, m, density=0.3, dtype=np.float64, seed=0, fmt="csr"):
    """A random SciPy matrix with values of ``dtype`` (complex gets an imaginary part)."""
    rng = np.random.default_rng(seed)
    S = sps.random_array((n, m), density=density, format="coo", rng=rng)
    values = rng.standard_normal(S.nnz)
    if np.dtype(dtype).kind == "c":
        values = values + 1j * rng.standard_normal(S.nnz)
    elif np.dtype(dtype).kind in "iu":
        values = rng.integers(1, 5, S.nnz)
    S = sps.coo_array((values.astype(dtype), (S.row, S.col)), shape=(n, m))
    return S.asformat(fmt)


def to_js(S, fmt):
    """The jaxsparse counterpart of SciPy matrix ``S`` in format ``fmt``."""
    cls = getattr(js, fmt.upper())
    return cls.from_scipy(S)


def assert_close(actual, expected, dtype=None, scale=1.0):
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    t = tol(dtype or expected.dtype) * scale
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    np.testing.assert_allclose(actual, expected, rtol=t, atol=t)


def rows_in_storage_order(S, x):
    """CSR ``S @ x`` in NumPy, every row's terms added one at a time in storage order
    from 0 (``np.add.at`` adds entry by entry, in order), as the native row loops do."""
    acc = np.zeros(S.shape[0], x.dtype)
    np.add.at(acc, np.repeat(np.arange(S.shape[0]), np.diff(S.indptr)), S.data * x[S.indices])
    return acc


def dtype_cases(formats, dtypes, base=np.float64, per_dtype=2):
    """``(format, dtype)`` cases covering every format and every dtype, not every pair.

    For tests whose code path depends on the format, and on the dtype only through data
    movement or promotion: ``base`` with every format, then each other dtype with
    ``per_dtype`` formats in rotation. Each pair is a separate set of compiled programs,
    so the full product costs ``len(formats) x len(dtypes)`` compiles for few extra paths.
    """
    cases = [(f, base) for f in formats]
    others = [d for d in dtypes if np.dtype(d) != np.dtype(base)]
    for k, d in enumerate(others):
        for j in range(per_dtype):
            cases.append((formats[(k * per_dtype + j) % len(formats)], d))
    return cases


@contextlib.contextmanager
def backend_compiles():
    """The XLA compiles run inside the block, one duration per compile (JAX's own
    monitoring event): ``with backend_compiles() as compiles: ...``."""
    import jax._src.monitoring as monitoring

    compiles: list[float] = []

    def count(event, duration, **kwargs):
        if event == "/jax/core/compile/backend_compile_duration":
            compiles.append(duration)

    monitoring.register_event_duration_secs_listener(count)
    try:
        yield compiles
    finally:
        monitoring.unregister_event_duration_listener(count)


def child_env(**extra) -> dict:
    """The environment of a child Python process that tests jaxsparse on CPU: this one's,
    without the ``JAXSPARSE_`` settings of the test run, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JAXSPARSE_")}
    env.update(JAX_PLATFORMS="cpu", **extra)
    return env
