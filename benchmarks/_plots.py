"""Figures from the benchmarks' JSON payloads (needs matplotlib: ``jaxsparse[plot]``).

Two kinds, after the Legate Sparse paper's figures 8-10 (SC'23, section 6):

- speed-up over SciPy as grouped bars, one panel per matrix, one bar per column;
- time against the number of devices (processes for PETSc) on log-log axes, one line per
  library, with the memory roofline (bytes / copy bandwidth measured in the same run) as
  a dashed line. All devices here share one memory system, so the roofline does not move
  with the device count: what a second device can win is the gap to that line.
"""

from __future__ import annotations

import pathlib

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

# Lines of the scaling figures: label -> {devices: column}.
SERIES = {
    "SciPy": {1: "scipy"},
    "jaxsparse, one core": {1: "js-1t"},
    "jaxsparse": {1: "js", 2: "js-2dev"},
    "jaxsparse DIA": {1: "js-dia"},
    "jax.experimental.sparse BCSR": {1: "bcsr"},
    "jax.experimental.sparse BCSR, one core": {1: "bcsr-1t"},
    "jax.scipy cg + BCSR": {1: "jax-bcsr"},
    "jax.scipy cg + BCSR, one core": {1: "jax-bcsr-1t"},
    "PETSc": {1: "petsc-np1", 2: "petsc-np2"},
}


def _save(fig, outdir: str, name: str) -> None:
    path = pathlib.Path(outdir) / name
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {path}")


def ratio_figure(
    payload: dict, outdir: str, name: str, op: str | None = None, title: str = ""
) -> None:
    """Speed-up over SciPy: a panel per matrix, bar groups per dtype, a bar per column."""
    rows = [r for r in payload["rows"] if op is None or r["op"] == op]
    columns = [c for c in payload["columns"] if c != "scipy"]
    matrices = list(dict.fromkeys(r["matrix"] for r in rows))
    fig, axes = plt.subplots(
        1,
        len(matrices),
        figsize=(5 * len(matrices), 3.6),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    width = 0.8 / len(columns)
    for ax, matrix in zip(axes[0], matrices, strict=True):
        mine = [r for r in rows if r["matrix"] == matrix]
        for i, column in enumerate(columns):
            heights = [
                r["ms"]["scipy"] / r["ms"][column]
                if column in r["ms"] and "scipy" in r["ms"]
                else float("nan")
                for r in mine
            ]
            ax.bar(
                [j + i * width for j in range(len(mine))],
                heights,
                width,
                label=column,
                color=f"C{i}",
            )
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_xticks([j + 0.4 - width / 2 for j in range(len(mine))], [r["dtype"] for r in mine])
        ax.set_yscale("log")
        ax.set_title(matrix)
    axes[0][0].set_ylabel("speed-up over SciPy (> 1 faster)")
    _legend(fig, axes[0])
    fig.suptitle(title or payload["benchmark"])
    _save(fig, outdir, f"{name}_speedup.png")


def scaling_figure(
    payload: dict,
    outdir: str,
    name: str,
    op: str,
    dtype: str,
    per: int = 1,
    ylabel: str = "time (ms)",
    title: str = "",
) -> None:
    """Time (divided by ``per``) against devices, with the roofline, a panel per matrix."""
    rows = [r for r in payload["rows"] if r["op"] == op and r["dtype"] == dtype]
    if not rows:
        return
    fig, axes = plt.subplots(
        1, len(rows), figsize=(4.2 * len(rows), 3.6), squeeze=False, layout="constrained"
    )
    for ax, row in zip(axes[0], rows, strict=True):
        for i, (label, points) in enumerate(SERIES.items()):
            pts = sorted((d, row["ms"][c] / per) for d, c in points.items() if c in row["ms"])
            if pts:
                ax.plot(*zip(*pts, strict=True), marker="o", color=f"C{i}", label=label)
        ax.axhline(row["roofline_ms"] / per, color="gray", ls="--", label="memory roofline")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xticks([1, 2], ["1", "2"])
        ax.set_xlim(0.8, 2.5)
        ax.set_xlabel("devices (PETSc: MPI processes)")
        ax.set_title(f"{row['matrix']} n={row['n']:,} {dtype}")
    fig.suptitle(title or payload["benchmark"])
    axes[0][0].set_ylabel(ylabel)
    _legend(fig, axes[0])
    _save(fig, outdir, f"{name}_{dtype}_devices.png")


def _legend(fig, axes) -> None:
    """One legend for all panels (a panel may lack some lines)."""
    entries = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.legend(entries.values(), entries.keys(), fontsize="small", loc="outside right center")


def spmv_figures(payload: dict, outdir: str, titles: dict[str, str]) -> None:
    for op in dict.fromkeys(r["op"] for r in payload["rows"]):
        ratio_figure(payload, outdir, f"spmv_{op}", op, titles[op])
        scaling_figure(payload, outdir, f"spmv_{op}", op, "float64", title=titles[op])


def cg_figures(payload: dict, outdir: str, title: str) -> None:
    ratio_figure(payload, outdir, "cg", "cg", title)
    for dtype in dict.fromkeys(r["dtype"] for r in payload["rows"]):
        scaling_figure(
            payload,
            outdir,
            "cg",
            "cg",
            dtype,
            per=payload["iters"],
            ylabel="time per iteration (ms)",
            title=title,
        )


def weak_scaling(results: dict, rows: dict, devices: list[int], outdir: str) -> None:
    """One panel per application: the jaxsparse program's and the baseline's time
    against the device count (problem size grows with it: flat is perfect)."""
    apps = list(results)
    fig, axes = plt.subplots(1, len(apps), figsize=(3.2 * len(apps), 3), squeeze=False)
    for ax, app in zip(axes[0], apps, strict=True):
        for row, style in zip(rows[app], ("o-", "s--"), strict=True):
            points = [(d, r["seconds"]) for d in devices
                      for r in results[app][d].get("rows", []) if r["program"] == row]
            if points:
                ax.plot(*zip(*points, strict=True), style, label=row)
        ax.set_title(app)
        ax.set_xlabel("devices (problem size x devices)")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.legend(fontsize=6)
    axes[0][0].set_ylabel("seconds")
    _save(fig, outdir, "weak_scaling.png")
