"""A Rydberg atom array swept into its ordered phase: the blockade-restricted basis, a
sparse Hamiltonian and DOP853 time evolution through ``jaxsparse``'s ``solve_ivp``,
written by a SciPy user; SciPy side by side (the paper's quantum simulation, 6.1).

    python examples/rydberg.py                 # 26 atoms on a chain: 317811 states
    python examples/rydberg.py --quick         # 14 atoms: 987 states
    python examples/rydberg.py --devices 2     # the Hamiltonian sharded over 2 devices

Atoms sit on a chain (``--rows 2`` for a ladder), one unit apart. Two atoms closer than
the blockade radius cannot both be excited, so the state space is spanned by the
independent sets of the unit-disk graph of the atoms, far fewer than ``2^N``. The
Hamiltonian is

    H(t) = Omega(t)/2 sum_i X_i - Delta(t) sum_i n_i

restricted to that basis: the Rabi drive ``X`` couples states that differ by one
excitation (adjacent excitation manifolds), the detuning is diagonal. A standard
adiabatic sweep (``Omega`` on and off, ``Delta`` from negative to positive) takes the
ground state (no excitations) towards the ordered phase with every other atom excited.

``evolve`` is SciPy code: ``i dpsi/dt = H(t) psi``, integrated by ``solve_ivp`` with
DOP853 from the drop-in (``jaxsparse.scipy_compat.integrate``), whose compiled loop
applies the drop-in's sparse ``X`` on the device; SciPy runs the same code with
``scipy.sparse`` and ``scipy.integrate``. The one change a port needs: the right-hand
side's elementwise functions come from ``xp`` (``jax.numpy`` for the drop-in), because
the compiled solver traces it; with NumPy functions the drop-in's ``solve_ivp`` would
quietly run SciPy's instead. The report checks norm conservation and the
agreement of the two final states, and prints the Rydberg density per atom.
"""

import _common

args = _common.setup(__doc__.splitlines()[0], lambda p: (
    p.add_argument("--atoms", type=int, default=26, help="atoms per row"),
    p.add_argument("--rows", type=int, default=1),
    p.add_argument("--blockade", type=float, default=1.5, help="radius, in lattice units"),
    p.add_argument("--duration", type=float, default=10.0),
    p.add_argument("--rtol", type=float, default=1e-8),
    p.add_argument("--no-scipy", action="store_true", help="skip SciPy's run")), x64=True)

import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import scipy.integrate  # noqa: E402
import scipy.sparse  # noqa: E402

import jaxsparse.scipy_compat  # noqa: E402
from jaxsparse.scipy_compat import integrate as js_integrate  # noqa: E402

OMEGA_MAX, DELTA_0 = 2 * np.pi, 2 * np.pi * 1.5  # MHz-like units, times in microseconds


def blockade_basis(positions, radius):
    """Bit masks of the independent sets of the unit-disk graph (sorted), and each
    atom's neighbour mask. Built atom by atom: a set may take atom ``i`` when it holds
    none of ``i``'s earlier neighbours."""
    n = len(positions)
    dist = np.linalg.norm(positions[:, None] - positions[None, :], axis=-1)
    neighbours = [int(sum(1 << j for j in range(n) if j != i and dist[i, j] < radius))
                  for i in range(n)]
    states = np.zeros(1, dtype=np.int64)
    for i in range(n):
        earlier = neighbours[i] & ((1 << i) - 1)
        free = states[(states & earlier) == 0]
        states = np.concatenate([states, free | (1 << i)])
    return np.sort(states), neighbours


# -- the SciPy user's program (``sp``/``integrate`` are the caller's imports) ------------
def hamiltonian_parts(sp, states, n_atoms):
    """The Rabi drive ``sum_i X_i`` on the basis (sparse) and the excitation counts."""
    rows, cols = [], []
    for i in range(n_atoms):
        flipped = states ^ (1 << i)
        j = np.searchsorted(states, flipped)
        ok = (j < len(states)) & (states[np.minimum(j, len(states) - 1)] == flipped)
        rows.append(np.flatnonzero(ok))
        cols.append(j[ok])
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    X = sp.csr_array((np.ones(len(rows)), (rows, cols)), shape=(len(states),) * 2)
    excitations = np.array([bin(s).count("1") for s in states], dtype=np.float64)
    return X, excitations


def sweep(xp, t, duration):
    """``Omega(t)`` (ramped on and off) and ``Delta(t)`` (a linear sweep); ``xp`` is
    NumPy or ``jax.numpy`` (the compiled solver traces the right-hand side)."""
    ramp = 0.1 * duration
    omega = OMEGA_MAX * xp.minimum(1.0, xp.minimum(t, duration - t) / ramp)
    delta = DELTA_0 * (2 * t / duration - 1)
    return omega, delta


def schrodinger(xp, X, excitations, duration):
    """The right-hand side ``-i H(t) psi``."""
    def rhs(t, psi):
        omega, delta = sweep(xp, t, duration)
        return -1j * (0.5 * omega * (X @ psi) - delta * excitations * psi)
    return rhs


def evolve(integrate, rhs, n_states, duration, rtol):
    """``i dpsi/dt = H(t) psi`` from the state with no excitations."""
    psi0 = np.zeros(n_states, dtype=complex)
    psi0[0] = 1.0
    return integrate.solve_ivp(rhs, (0.0, duration), psi0, method="DOP853",
                               t_eval=[duration], rtol=rtol, atol=rtol * 1e-2)
# -----------------------------------------------------------------------------------------


def main() -> int:
    n_per_row = int(round((14 if args.quick else args.atoms) + np.log2(args.scale) * 1.4))
    positions = np.array([(c, r) for r in range(args.rows) for c in range(n_per_row)],
                         dtype=float)
    n_atoms = len(positions)
    states, _ = blockade_basis(positions, args.blockade)
    if args.devices > 1:
        _common.devices(args.devices)
    duration = 2.0 if args.quick else args.duration
    runs = {"jaxsparse.integrate DOP853": (js_integrate, jaxsparse.scipy_compat, jnp)}
    if not args.no_scipy:
        runs["scipy.integrate DOP853"] = (scipy.integrate, scipy.sparse, np)
    results = {}
    for name, (integrate, sp, xp) in runs.items():
        X, excitations = hamiltonian_parts(sp, states, n_atoms)
        # One right-hand side for every run: the compiled solver is cached per function.
        rhs = schrodinger(xp, X, xp.asarray(excitations), duration)
        if xp is jnp:
            evolve(integrate, rhs, len(states), duration, args.rtol)  # compile once
        seconds, res = _common.median_time(
            lambda integrate=integrate, rhs=rhs: evolve(integrate, rhs, len(states),
                                                        duration, args.rtol), args.repeats)
        results[name] = (seconds, res, X)
    report = _common.Report(
        f"Rydberg sweep: {n_atoms} atoms ({args.rows} x {n_per_row}), blockade radius "
        f"{args.blockade}, {len(states)} blockade-allowed states (of 2^{n_atoms}), "
        f"DOP853 rtol {args.rtol:g}, {duration} us", args,
        hamiltonian=f"{results['jaxsparse.integrate DOP853'][2].nnz} nonzeros; "
                    f"{_common.device_copy(results['jaxsparse.integrate DOP853'][2])}")
    checks = {}
    finals = {}
    for name, (seconds, res, _) in results.items():
        psi = np.asarray(res.y)[:, -1]
        finals[name] = psi
        norm = float(np.linalg.norm(psi))
        density = _rydberg_density(states, n_atoms, psi)
        report.add(name, seconds, nfev=res.nfev, status=res.status, norm=norm,
                   density_even_odd=f"{density[0::2].mean():.3f}/{density[1::2].mean():.3f}")
        checks[f"{name}: succeeded, norm conserved (|1 - norm| = {abs(1 - norm):.1e})"] = (
            res.status == 0 and abs(1 - norm) < 1e-5)
    if len(finals) == 2:
        a, b = finals.values()
        diff = float(np.linalg.norm(a - b))
        checks[f"final states agree with SciPy's (||psi - psi_scipy|| = {diff:.1e})"] = (
            diff < 1e-5)
        nfev = [r.nfev for _, r, _ in results.values()]
        checks[f"the same number of right-hand-side calls as SciPy ({nfev[0]} vs {nfev[1]})"] = (
            abs(nfev[0] - nfev[1]) <= 0.02 * nfev[1])
    return report.show(checks=checks)


def _rydberg_density(states, n_atoms, psi):
    prob = np.abs(psi) ** 2
    return np.array([prob[(states >> i) & 1 == 1].sum() for i in range(n_atoms)])


if __name__ == "__main__":
    raise SystemExit(main())
