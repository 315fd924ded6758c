"""The Runge–Kutta pairs, read from SciPy's own solver classes at first use.

Why read them rather than type them: the point of this package is to take SciPy's
steps, and a coefficient mistyped in the 16-stage DOP853 table would change the step
sequence without failing loudly. SciPy's public classes (``scipy.integrate.RK23``,
``RK45``, ``DOP853``) carry the tables as class attributes, so we copy them into
immutable NumPy arrays once, when a method is first asked for: importing
``scipy.integrate`` (which brings ``scipy.optimize`` and ``scipy.special``) took 0.35 s,
a third of ``import jaxsparse``, in every process, most of which never integrate.
Coefficients enter the traced code as Python floats (weak types), so a float32 or
complex64 state stays in its dtype.
"""

from __future__ import annotations

import dataclasses
import functools

import numpy as np


@dataclasses.dataclass(frozen=True, eq=False)
class Tableau:
    """An embedded explicit Runge–Kutta pair with its dense-output formula.

    ``A[s]`` combines the stages ``K[:s]`` into stage ``s``; ``B`` gives the step;
    ``C`` the stage times. The error estimate is ``E`` (RK23, RK45: one embedded
    formula) or ``E3``/``E5`` (DOP853: the combined 3rd/5th-order estimate). The dense
    output is either SciPy's polynomial ``P`` (``interpolant="poly"``) or DOP853's
    ``D`` with three extra stages ``A_extra``/``C_extra`` (``interpolant="dop853"``).
    """

    name: str
    order: int
    error_order: int
    n_stages: int
    A: np.ndarray
    B: np.ndarray
    C: np.ndarray
    E: np.ndarray | None = None
    E3: np.ndarray | None = None
    E5: np.ndarray | None = None
    P: np.ndarray | None = None
    D: np.ndarray | None = None
    A_extra: np.ndarray | None = None
    C_extra: np.ndarray | None = None

    @property
    def interpolant(self) -> str:
        return "poly" if self.P is not None else "dop853"

    @property
    def n_coefficients(self) -> int:
        """Rows of the per-step dense-output coefficients (``Q.T`` or DOP853's ``F``)."""
        return self.P.shape[1] if self.P is not None else 3 + self.D.shape[0]

    @property
    def n_extra_stages(self) -> int:
        """Right-hand side evaluations a dense output costs on top of the step."""
        return 0 if self.A_extra is None else len(self.A_extra)


def _frozen(a) -> np.ndarray | None:
    # The base class ``RungeKutta`` sets the attributes a subclass does not use to
    # ``NotImplemented`` (DOP853 has no ``E`` or ``P``).
    if not isinstance(a, np.ndarray):
        return None
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _from_scipy(cls) -> Tableau:
    get = lambda name: _frozen(getattr(cls, name, None))  # noqa: E731
    return Tableau(
        name=cls.__name__,
        order=int(cls.order),
        error_order=int(cls.error_estimator_order),
        n_stages=int(cls.n_stages),
        A=get("A"), B=get("B"), C=get("C"),
        E=get("E"), E3=get("E3"), E5=get("E5"), P=get("P"), D=get("D"),
        A_extra=get("A_EXTRA"), C_extra=get("C_EXTRA"),
    )


METHODS: tuple[str, ...] = ("RK23", "RK45", "DOP853")


@functools.cache
def tableau(method: str) -> Tableau:
    """SciPy's pair ``method`` (one of :data:`METHODS`)."""
    import scipy.integrate

    return _from_scipy(getattr(scipy.integrate, method))
