"""jaxsparse.linalg takes outside matrices through the ``__jaxsparse_matrix__``
protocol (jaxsparse._operand), never through private attributes."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sps
import scipy.sparse.linalg as spla

import jaxsparse as js
import jaxsparse.linalg as jl
from jaxsparse import _operand


class Outside:
    """A matrix type from another library that keeps a jaxsparse copy."""

    def __init__(self, S):
        self.core = js.CSR.from_scipy(S)
        self.wrapped = []

    def __jaxsparse_matrix__(self):
        return self.core

    def __jaxsparse_wrap__(self, core):
        self.wrapped.append(core)
        return ("outside", core)


def _spd(n=20):
    return sps.diags_array([-np.ones(n - 1), 3 * np.ones(n), -np.ones(n - 1)],
                           offsets=[-1, 0, 1], format="csr")


def test_solvers_and_functions_take_protocol_objects():
    S = _spd()
    A = Outside(S)
    assert _operand.implements(A) and not _operand.implements(S)
    assert _operand.operator_of(A) is A.core  # no __jaxsparse_operator__: the matrix
    b = np.ones(20)
    x, info = jl.cg(A, b, rtol=1e-12)
    assert int(info) == 0
    np.testing.assert_allclose(np.asarray(x), spla.spsolve(S.tocsc(), b), rtol=1e-8)
    x, info = jl.gmres(A, b, rtol=1e-12)
    np.testing.assert_allclose(np.asarray(x), spla.spsolve(S.tocsc(), b), rtol=1e-8)
    tag, P = jl.matrix_power(A, 2)  # a sparse result comes back in the object's type
    assert tag == "outside" and A.wrapped
    np.testing.assert_allclose(np.asarray(P.todense()), (S @ S).toarray())
    assert abs(float(jl.norm(A)) - spla.norm(S)) < 1e-12
    op = jl.aslinearoperator(A)
    np.testing.assert_allclose(np.asarray(op @ b), S @ b)
