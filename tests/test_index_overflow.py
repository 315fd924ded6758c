"""Index dtypes past int32: int64 chosen automatically (x64 on), a clear error (x64 off).

Nothing here allocates a large matrix: the selection function is called directly, and
the constructors get shapes beyond int32 holding a few entries.
"""

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import jaxsparse as js
from jaxsparse.formats._index import index_dtype

_I32 = int(np.iinfo(np.int32).max)


@pytest.mark.parametrize(("extents", "expected"), [
    ((), np.int32), ((0,), np.int32), ((_I32,), np.int32), ((3, _I32, 7), np.int32),
    ((_I32 + 1,), np.int64), ((3, _I32 + 1), np.int64), ((2**62,), np.int64),
])
def test_index_dtype_switches_at_int32(extents, expected):
    assert index_dtype(*extents) == np.dtype(expected)


BEYOND = 2**31 + 5  # one dimension past int32; the entries sit beyond it too
BUILDERS = {
    "CSR": lambda: js.CSR.from_arrays(np.ones(2), np.array([1, BEYOND - 1]),
                                      np.array([0, 2]), shape=(1, BEYOND)),
    "CSC": lambda: js.CSC.from_arrays(np.ones(2), np.array([1, BEYOND - 1]),
                                      np.array([0, 2]), shape=(BEYOND, 1)),
    "COO": lambda: js.COO.from_arrays(np.ones(2), (np.array([0, BEYOND - 1]),) * 2,
                                      shape=(BEYOND, BEYOND)),
    "BSR": lambda: js.BSR.from_arrays(np.ones((2, 1, 1)), np.array([1, BEYOND - 1]),
                                      np.array([0, 2]), shape=(1, BEYOND)),
}


@pytest.mark.parametrize("fmt", list(BUILDERS))
def test_constructors_pick_int64_past_int32(fmt):
    A = BUILDERS[fmt]()
    indices = A.coords if fmt == "COO" else (A.indices, A.indptr)
    assert all(np.dtype(i.dtype) == np.int64 for i in indices)
    coo = A.to_scipy().tocoo()  # the big index survives: not wrapped to a negative int32
    assert max(int(c.max()) for c in coo.coords) == BEYOND - 1
    assert A.nnz == 2


def test_small_matrices_keep_int32():
    A = js.CSR.from_arrays(np.ones(2), np.array([0, 3]), np.array([0, 2]), shape=(1, 4))
    assert np.dtype(A.indices.dtype) == np.int32 and np.dtype(A.indptr.dtype) == np.int32


def test_x64_off_refuses_with_a_clear_error():
    """conftest turns x64 on for this process, so the check runs in a fresh one."""
    script = textwrap.dedent(f"""
        import numpy as np, jaxsparse as js
        from jaxsparse.formats._index import index_dtype
        assert index_dtype(5, 7) == np.int32
        for build in (
            lambda: index_dtype({BEYOND}),
            lambda: js.CSR.from_arrays(np.ones(1), np.array([0]), np.array([0, 1]),
                                       shape=(1, {BEYOND})),
            lambda: js.COO.from_arrays(np.ones(1), (np.array([0]),) * 2,
                                       shape=({BEYOND}, 2)),
        ):
            try:
                build()
            except ValueError as e:
                assert "jax_enable_x64" in str(e) and "int64" in str(e), e
            else:
                raise AssertionError("built a matrix past int32 with x64 off")
        print("REFUSED")
    """)
    env = {"JAX_ENABLE_X64": "0", "JAX_PLATFORMS": "cpu", "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "REFUSED" in out.stdout
