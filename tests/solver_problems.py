"""The named problem set every iterative-solver test shares (as in SciPy's
``test_iterative.py``): each problem says which solvers apply to it."""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import scipy.sparse as sps

N = 36  # every problem has this size: solvers compile once per (format capacity, dtype)

SQUARE = ("cg", "cgs", "bicg", "bicgstab", "gmres", "lgmres", "minres", "qmr", "tfqmr", "gcrotmk")
LEAST_SQUARES = ("lsqr", "lsmr")
HERMITIAN_ONLY = ("cg", "minres")  # cg also needs positive definite; minres real here
NEEDS_ADJOINT = ("bicg", "qmr", "lsqr", "lsmr")


class Problem(NamedTuple):
    name: str
    A: sps.csr_array
    b: np.ndarray
    hermitian: bool
    positive_definite: bool
    complex_: bool

    def applies(self, solver: str) -> bool:
        if solver == "cg":
            return self.hermitian and self.positive_definite
        if solver == "minres":
            return self.hermitian and not self.complex_  # SciPy's minres is real-only
        return True


def poisson1d(n=N):
    return sps.diags_array([-1.0, 2.0, -1.0], offsets=[-1, 0, 1], shape=(n, n), format="csr")


def poisson2d(k=6):
    t = poisson1d(k)
    eye = sps.eye_array(k)
    return (sps.kron(t, eye) + sps.kron(eye, t)).tocsr()


def random_spd(n=N, seed=0):
    rng = np.random.default_rng(seed)
    R = sps.random_array((n, n), density=0.15, rng=rng, format="csr")
    return (R @ R.T + n**0.5 * sps.eye_array(n)).tocsr()


def nonsymmetric(n=N, seed=1):
    """Diagonally dominant, nonsymmetric."""
    rng = np.random.default_rng(seed)
    R = sps.random_array(
        (n, n), density=0.15, rng=rng, format="csr", data_sampler=rng.standard_normal
    )
    d = np.asarray(abs(R).sum(axis=1)).ravel() + 1.0
    return (R + sps.diags_array(d)).tocsr()


def complex_nonsymmetric(n=N, seed=2):
    rng = np.random.default_rng(seed)
    R = sps.random_array(
        (n, n), density=0.15, rng=rng, format="csr", data_sampler=rng.standard_normal
    )
    R = R + 1j * sps.random_array(
        (n, n), density=0.15, rng=rng, format="csr", data_sampler=rng.standard_normal
    )
    d = np.asarray(abs(R).sum(axis=1)).ravel() + 1.0
    return (R + sps.diags_array(d * np.exp(0.3j))).tocsr()


_BUILD = {
    "poisson1d": (poisson1d, True, True),
    "poisson2d": (poisson2d, True, True),
    "random_spd": (random_spd, True, True),
    "nonsymmetric": (nonsymmetric, False, False),
    "complex": (complex_nonsymmetric, False, False),
}
NAMES = tuple(_BUILD)


@functools.cache
def problem(name: str) -> Problem:
    build, hermitian, spd = _BUILD[name]
    A = build()
    rng = np.random.default_rng(42)
    b = rng.standard_normal(A.shape[0])
    complex_ = np.iscomplexobj(A.data)
    if complex_:
        b = b + 1j * rng.standard_normal(A.shape[0])
    return Problem(name, A, b, hermitian, spd, complex_)


def cases(solvers):
    """``(solver, problem name)`` pairs where the solver applies."""
    return [(s, p) for s in solvers for p in NAMES if problem(p).applies(s)]
