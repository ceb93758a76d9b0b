"""``plot_bench``: the report as bar charts, one panel per network, one bar per row."""

__all__ = ["plot_bench"]


def _label(row):
    threads = "" if row["threads"] is None else f", {row['threads']} thr"
    device = "" if row["device"] == "cpu" else f", {row['device']}"
    return f"{row['impl']}/{row['backend']}{threads}{device}"


def plot_bench(report, path=None):
    """A matplotlib Figure of ms per step (shorter is faster), PyTorch ratio on each bar.

    With ``path``, the figure is also written there (PNG for a .png name).
    The Figure is made without pyplot, so a notebook shows it once, as the
    cell's value.
    """
    from matplotlib.figure import Figure

    rows = [r for r in report["results"] if r["ms_per_step"] is not None]
    networks = list(dict.fromkeys(r["network"] for r in rows)) or ["(nothing ran)"]
    heights = [max(1, sum(r["network"] == n for r in rows)) for n in networks]
    fig = Figure(figsize=(8, 1.2 + 0.32 * sum(heights) + 0.6 * len(networks)))
    axes = fig.subplots(len(networks), 1, squeeze=False, height_ratios=heights)[:, 0]
    for ax, network in zip(axes, networks):
        mine = [r for r in rows if r["network"] == network]
        ms = [r["ms_per_step"] for r in mine]
        colors = [{"dlcourse": "C0", "pytorch": "C3", "keras": "C2"}[r["impl"]] for r in mine]
        ax.barh(range(len(mine)), ms, color=colors)
        ax.set_yticks(range(len(mine)), [_label(r) for r in mine], fontsize=8)
        ax.invert_yaxis()
        for i, r in enumerate(mine):
            if r["ratio_to_torch"] is not None:
                ax.text(
                    r["ms_per_step"], i, f" {r['ratio_to_torch']:.2f}x", va="center", fontsize=7
                )
        ax.set_title(network, fontsize=10, loc="left")
        ax.set_xlabel("ms per step (label: ratio to the plain PyTorch loop)", fontsize=8)
        if ms and max(ms) > 30 * min(ms):
            ax.set_xscale("log")  # times this far apart: equal ratios, equal lengths
        elif ms:
            ax.set_xlim(0, max(ms) * 1.2)
    peak = report.get("peak_gflops")
    title = "training step time" + (f"; matmul peak {peak:.0f} GFLOP/s" if peak else "")
    fig.suptitle(title, fontsize=10)
    fig.set_layout_engine("constrained")
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig
