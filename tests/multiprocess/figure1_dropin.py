"""Run under the launcher: the paper's Figure 1 power iteration, unmodified but for the
import, on a matrix large enough to be sharded over every process's devices; each rank
checks SciPy's answer."""

import jaxsparse as js

js.distributed.initialize()

import numpy as np  # noqa: E402
import scipy.sparse as ss  # noqa: E402

import jaxsparse.scipy_compat as sp  # noqa: E402


def poisson(k):
    T = ss.diags_array([-np.ones(k - 1), 2 * np.ones(k), -np.ones(k - 1)], offsets=[-1, 0, 1])
    return (ss.kron(T, ss.eye_array(k)) + ss.kron(ss.eye_array(k), T)).tocsr()


def program(sparse, S):  # Figure 1
    A = sparse.csr_array(S)
    x = np.ones(A.shape[1])
    for _ in range(10):
        x = A @ x
        x = x / np.linalg.norm(x)
    return x, A


S = poisson(210)  # 220k stored entries: sharded by the drop-in's rule
want, _ = program(ss, S)
got, A = program(sp, S)
assert type(A._operator()).__name__ == "ShardedCSR", type(A._operator())
assert np.allclose(got, want, rtol=1e-10), "power iteration differs from SciPy"
print("OK figure1")
b = np.ones(S.shape[0])
x, info = sp.linalg.cg(A, b, rtol=1e-8)
assert info == 0 and type(x) is np.ndarray
assert np.linalg.norm(S @ x - b) <= 1e-7 * np.linalg.norm(b)
print("OK dropin cg")
