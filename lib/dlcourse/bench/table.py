"""``format_table``: the benchmark report as a text table, one line per row."""

__all__ = ["format_table"]

HEADINGS = ("network", "impl", "backend", "threads", "device")
NUMBERS = ("ms/step", "samples/s", "% peak", "vs torch")


def _threads(value):
    return "default" if value is None else str(value)


def _figures(row):
    if row["ms_per_step"] is None:
        return ["-"] * len(NUMBERS)
    fraction, ratio = row["peak_fraction"], row["ratio_to_torch"]
    return [
        f"{row['ms_per_step']:.3f}",
        f"{row['samples_per_s']:,.0f}",
        "-" if fraction is None else f"{100 * fraction:.1f}",
        "-" if ratio is None else f"{ratio:.2f}",
    ]


def format_table(report):
    """The report of ``run_bench`` as text: a header about the machine, the rows, the notes."""
    machine = report["machine"]
    lines = [
        f"{machine.get('processor')}, {machine.get('cpus')} CPUs"
        + (f", GPU {machine['gpu']}" if machine.get("gpu") else ""),
    ]
    if report.get("peak_gflops"):
        by_threads = machine.get("peak_gflops_by_threads") or {}
        peaks = ", ".join(f"{k} threads {v:.0f}" for k, v in by_threads.items())
        lines.append(f"matmul peak (float32): {report['peak_gflops']:.0f} GFLOP/s ({peaks})")
    settings = machine.get("settings")
    if settings:
        lines.append(
            "ms/step: median of {repeats} runs of {steps} steps after {warmup} warm-up run(s)"
            "{over}; vs torch: ms/step / the plain PyTorch loop's".format(
                over=f", over {settings['rounds']} rounds" if settings.get("rounds", 1) > 1 else "",
                **settings,
            )
        )
    lines.append("")

    ran = [r for r in report["results"] if r["ms_per_step"] is not None]
    table = [[*HEADINGS, *NUMBERS]]
    for r in ran:
        cells = [r["network"], r["impl"], r["backend"], _threads(r["threads"]), r["device"]]
        table.append([*cells, *_figures(r)])
    widths = [max(len(str(line[i])) for line in table) for i in range(len(table[0]))]
    for k, line in enumerate(table):
        left = len(HEADINGS)
        cells = [
            str(c).ljust(w) if i < left else str(c).rjust(w)
            for i, (c, w) in enumerate(zip(line, widths))
        ]
        lines.append("  ".join(cells).rstrip())
        if k == 0:
            lines.append("  ".join("-" * w for w in widths))

    # rows that did not run, grouped by reason: "why: impl/backend, ... [network/threads, ...]"
    reasons = {}
    for r in report["results"]:
        if r["ms_per_step"] is not None:
            continue
        why = r.get("skipped") or r.get("error") or "no time measured"
        names, places = reasons.setdefault(why, ({}, {}))
        names[f"{r['impl']}/{r['backend']}"] = None
        places[f"{r['network']}/{_threads(r['threads'])}"] = None
    if reasons:
        lines += ["", "not run:"]
        for why, (names, places) in reasons.items():
            lines.append(f"  {', '.join(names)} [{', '.join(places)}]: {why}")
    return "\n".join(lines)
