"""Markdown tables, PNG plots and the target verdicts from the sections' structured results.

``render_*`` turn one section's results into Markdown; ``targets`` judges the issue's targets;
``write_report`` writes ``docs/benchmarks.md`` and the plots in ``docs/benchmarks/``. Plots
use matplotlib's headless Agg backend; without matplotlib the report is written without them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "benchmarks.md"
PLOTS = REPO / "docs" / "benchmarks"

# Targets from the issue: (key, description, threshold, direction)
TARGET_OVERHEAD = 0.15
TARGET_PYHANKO = 10.0
TARGET_CACHE = 50.0
TARGET_FRAMEWORK = 0.90

ENGINE_ORDER = (
    "cached",
    "floor_sig",
    "floor",
    "bare",
    "bare_der",
    "bare_policy",
    "uncached",
    "ov_pyhanko",
    "pyhanko",
)
SHORT = {
    "uncached": "originverify, uncached",
    "cached": "originverify, cache hit",
    "bare": "pyca bare, pre-parsed",
    "bare_der": "pyca bare, from DER",
    "bare_policy": "pyca bare, our policy",
    "pyhanko": "pyhanko-certvalidator",
    "ov_pyhanko": "originverify + pyhanko engine",
    "floor": "floor: verify_directly_issued_by",
    "floor_sig": "floor: signatures only",
}


def _us(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value >= 10:
        return f"{value:.0f}×"
    if value >= 1:
        return f"{value:.2f}×"
    return f"{value:.3f}×"


def _pct(value: float) -> str:
    return f"{value:+.0%}"


def _mark(ok: bool) -> str:
    return "met" if ok else "**MISSED**"


# ---------------------------------------------------------------------------------------------
# Targets
# ---------------------------------------------------------------------------------------------


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """Every target of the issue that the results can judge: name, value, goal, verdict."""
    rows: list[dict[str, Any]] = []
    engines = results.get("engines")
    if engines:
        for kt in ("rsa", "ec"):
            r = engines[kt]
            rows.append(
                {
                    "id": f"overhead_{kt}",
                    "name": f"Uncached overhead over bare pyca verifier, {r['label']}",
                    "value": _pct(r["overhead_vs_bare"]),
                    "goal": f"≤ {_pct(TARGET_OVERHEAD)}",
                    "met": r["overhead_vs_bare"] <= TARGET_OVERHEAD,
                    "detail": f"vs pyca parsing the DER each call: "
                    f"{_pct(r['overhead_vs_bare_der'])}",
                }
            )
        for kt in ("rsa", "ec"):
            r = engines[kt]
            rows.append(
                {
                    "id": f"pyhanko_{kt}",
                    "name": f"Faster than pyhanko-certvalidator, {r['label']}",
                    "value": _ratio(r["speedup_vs_pyhanko"]),
                    "goal": f"≥ {TARGET_PYHANKO:.0f}×",
                    "met": r["speedup_vs_pyhanko"] >= TARGET_PYHANKO,
                    "detail": "",
                }
            )
        for kt in ("rsa", "ec"):
            r = engines[kt]
            rows.append(
                {
                    "id": f"cache_{kt}",
                    "name": f"Cache hit faster than uncached, {r['label']}",
                    "value": _ratio(r["cache_speedup"]),
                    "goal": f"≥ {TARGET_CACHE:.0f}×",
                    "met": r["cache_speedup"] >= TARGET_CACHE,
                    "detail": f"hit: {_us(r['us']['cached']['median'])} µs",
                }
            )
    frameworks = results.get("frameworks")
    if frameworks and "error" not in frameworks:
        for fw, label in (("flask", "Flask"), ("django", "Django")):
            if fw not in frameworks:
                continue
            warm = frameworks[fw]["warm"]
            rows.append(
                {
                    "id": f"framework_{fw}",
                    "name": f"{label} throughput with originverify (warm cache) / without",
                    "value": f"{warm['ratio']:.2f}",
                    "goal": f"≥ {TARGET_FRAMEWORK:.2f}",
                    "met": warm["ratio"] >= TARGET_FRAMEWORK,
                    "detail": f"+{warm['added_cpu_us']:.0f} µs server CPU per request",
                }
            )
    return rows


def render_targets(rows: Sequence[dict[str, Any]]) -> str:
    lines = [
        "| target | measured | goal | verdict | detail |",
        "|---|---:|---:|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['value']} | {row['goal']} | {_mark(row['met'])} "
            f"| {row['detail']} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------


def render_engines(result: dict[str, Any]) -> str:
    out = [
        f"Median of {result['rounds']} interleaved rounds; ratio = time of the row / time of "
        "originverify uncached (below 1: cheaper).\n"
    ]
    for kt in ("rsa", "ec"):
        r = result[kt]
        out.append(f"**{r['label']}, 3-certificate chain (root anchor → intermediate → leaf)**\n")
        out.append("| engine / path | µs per verification | min – max µs | ratio to uncached |")
        out.append("|---|---:|---:|---:|")
        for name in ENGINE_ORDER[::-1]:
            if name not in r["us"]:
                continue
            s = r["us"][name]
            label = result["cases"].get(name, name)
            if name in ("uncached", "cached"):
                label = f"**{label}**"
            out.append(
                f"| {label} | {_us(s['median'])} | {_us(s['min'])} – {_us(s['max'])} "
                f"| {_ratio(r['ratio_to_uncached'][name])} |"
            )
        floor = r.get("openssl_floor_us")
        if floor:
            out.append(
                f"| `openssl speed` (system OpenSSL), 2 × one verify | {_us(floor)} | | "
                f"{_ratio(floor / r['us']['uncached']['median'])} |"
            )
        out.append("")
    return "\n".join(out)


def render_breakdown(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Breakdown unavailable: `{result['error']}`\n"
    out = [
        "Uncached path, RFC 9440 headers, default format: each step timed in place (a replica "
        "of `Verifier._run` with timestamps between steps; medians over thousands of "
        "requests). In place, the Python steps after pyca's verify run with cold CPU caches "
        "and cost 2-3× what they cost in a loop of their own. *Ours* is everything but "
        "pyca's `ClientVerifier.verify`.\n",
        "| step | " + " | ".join(result[kt]["label"] + " µs" for kt in ("rsa", "ec")) + " |",
        "|---|---:|---:|",
    ]
    steps = list(result["rsa"]["steps"])
    for step in steps:
        cells = [_us(result[kt]["steps"][step]) for kt in ("rsa", "ec")]
        out.append(f"| {step} | " + " | ".join(cells) + " |")
    for label, key in (
        ("sum of the steps (replica)", "sum"),
        ("of which ours (not pyca's verify)", "ours"),
        ("real `verify_request`, uncached, same loop", "total"),
        ("pyca bare, pre-parsed, same loop (the reference)", "bare"),
    ):
        cells = [_us(result[kt][key]) for kt in ("rsa", "ec")]
        out.append(f"| *{label}* | " + " | ".join(cells) + " |")
    out.append("")
    hit = result.get("hit")
    if hit:
        out.append("Cache hit path (`verify_request`, HeaderList vs WSGI environ):\n")
        out.append("| step | µs |")
        out.append("|---|---:|")
        for step, value in hit.items():
            out.append(f"| {step} | {_us(value)} |")
        out.append("")
    return "\n".join(out)


def render_decode(result: dict[str, Any]) -> str:
    out = [
        f"`format.decode()` alone vs the whole uncached `verify_request` with that format "
        f"(median of {result['rounds']} rounds).\n",
        "| format | chain | header bytes | decode µs | total µs | decode share |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for kt in ("rsa", "ec"):
        r = result[kt]
        for fmt, row in r["formats"].items():
            out.append(
                f"| {result['formats'][fmt]} | {r['label']} | {row['header_bytes']:,} "
                f"| {_us(row['decode_us']['median'])} | {_us(row['total_us']['median'])} "
                f"| {row['share']:.1%} |"
            )
    out.append("")
    return "\n".join(out)


def render_scaling(result: dict[str, Any]) -> str:
    size = result.get("default_cache_size", 1024)
    out = [
        "**Result cache, N distinct clients** (ECDSA P-256 leaves; cache sized to N; lookups "
        "are random clients with fresh header objects)\n",
        "| N clients | µs per hit (`verify_request`) | hit cost vs a 16-entry cache "
        "| µs per `ResultCache.get` | hit rate "
        f"measured | hit rate, default size {size}: uniform / Zipf(1) | bytes per entry: "
        "tracemalloc / RSS | µs per miss (fill) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["cache"]:
        sim = row["simulated_hit_rate_default_size"]
        out.append(
            f"| {row['clients']:,} | {_us(row['hit_us']['median'])} "
            f"| {_ratio(row.get('hit_growth_vs_16'))} "
            f"| {_us(row['get_us']['median'])} | {row['measured_hit_rate']:.1%} "
            f"| {sim['uniform']:.1%} / {sim['zipf']:.1%} "
            f"| {row['traced_bytes_per_entry']:,.0f} / {row['rss_bytes_per_entry']:,.0f} "
            f"| {_us(row['fill_us_per_request'])} |"
        )
    last = result["cache"][-1]
    growth = last.get("hit_growth_vs_16", float("nan"))
    out.append(
        f"\nA hit among {last['clients']:,} entries costs {_ratio(growth)} a hit in a "
        f"16-entry cache measured in the same process ({'flat' if growth < 1.3 else 'not flat'}"
        ": within +30% counts as flat). Simulated hit rates replay a random stream of "
        "100,000 requests (after as many to warm up) through a real `ResultCache` of the "
        "default size. tracemalloc traced the last "
        f"{last.get('traced_entries', last['clients']):,} insertions of each fill (the "
        "untraced ones give the cost of a miss); RSS covers all of them and also sees what "
        "cryptography's Rust side allocates for the parsed certificates an entry keeps.\n"
    )
    chain = result["chain_length"]
    lengths = chain["lengths"]
    for kt in ("rsa", "ec"):
        r = chain[kt]
        out.append(f"**Chain length, {r['label']}** (certificates including the root anchor; µs)\n")
        out.append("| path | " + " | ".join(str(n) for n in lengths) + " |")
        out.append("|---|" + "---:|" * len(lengths))
        for name, rows in r["cases"].items():
            cells = [_us(rows[str(n)]["us"]["median"]) for n in lengths]
            out.append(f"| {chain['cases'][name]} | " + " | ".join(cells) + " |")
        overhead = [
            rows_u["us"]["median"] / r["cases"]["bare"][str(n)]["us"]["median"] - 1
            for n, rows_u in ((n, r["cases"]["uncached"][str(n)]) for n in lengths)
        ]
        out.append(
            "| *uncached overhead over bare* | " + " | ".join(_pct(x) for x in overhead) + " |"
        )
        out.append("")
    return "\n".join(out)


def render_frameworks(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Not measured: `{result['error']}`\n"
    s = result["settings"]
    out = [
        f"gunicorn `gthread`, {s['workers']} worker(s) × {s['threads']} threads for every "
        f"server; wrk 1 thread, {s['connections']} keep-alive connections, {s['seconds']:g} s "
        f"per run, {s['rounds']} interleaved round(s); {s['chain']} 3-certificate chain in "
        "RFC 9440 headers. Ratio = median over rounds of req/s ÷ req/s without originverify "
        "in the same round.\n",
        "| framework | variant | req/s | ratio to without | server CPU µs/request "
        "| added CPU µs/request |",
        "|---|---|---:|---:|---:|---:|",
    ]
    names = {
        "without": "without originverify",
        "warm": "with, cache warm (same client)",
        "cold": "with, cache off",
    }
    for fw, label in (("flask", "Flask"), ("django", "Django")):
        if fw not in result:
            continue
        for variant, row in result[fw].items():
            out.append(
                f"| {label} | {names[variant]} | {row['rps']:,.0f} | {row['ratio']:.2f} "
                f"| {row['cpu_us']:,.0f} | {row['added_cpu_us']:+,.0f} |"
            )
    out.append("")
    return "\n".join(out)


def render_edge(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Not measured: `{result['error']}`\n"
    return (
        f"Output of `{result['command']}` ({result['seconds']:.0f} s), unchanged:\n\n"
        + result["markdown"].strip()
        + "\n"
    )


# ---------------------------------------------------------------------------------------------
# Plots
# ---------------------------------------------------------------------------------------------

OURS = "#1f6feb"
OTHER = "#8c959f"
FLOOR = "#2da44e"
SLOW = "#cf222e"


def _color(name: str) -> str:
    if name in ("uncached", "cached", "ov_pyhanko"):
        return OURS
    if name.startswith("floor"):
        return FLOOR
    if name == "pyhanko":
        return SLOW
    return OTHER


def plot_engines(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, kt in zip(axes, ("rsa", "ec"), strict=True):
        r = result[kt]
        names = [n for n in ENGINE_ORDER if n in r["us"]]
        values = [r["us"][n]["median"] for n in names]
        bars = ax.barh(range(len(names)), values, color=[_color(n) for n in names])
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), [SHORT[n] for n in names])
        ax.set_xlabel("µs per verification (log scale; this machine)")
        ax.set_title(f"{r['label']}, 3-certificate chain")
        ax.set_xlim(min(values) / 2, max(values) * 6)
        for bar, name, value in zip(bars, names, values, strict=True):
            ax.text(
                value * 1.08,
                bar.get_y() + bar.get_height() / 2,
                f"{_us(value)} µs  ({_ratio(r['ratio_to_uncached'][name])})",
                va="center",
                fontsize=8,
            )
        ax.grid(axis="x", which="both", alpha=0.25)
    fig.suptitle("Cost per chain verification by engine (ratio to originverify uncached)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_decode(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(10, 4.6))
    labels, decode, rest = [], [], []
    for kt in ("rsa", "ec"):
        r = result[kt]
        for fmt, row in r["formats"].items():
            labels.append(f"{fmt} ({r['label']})")
            d, t = row["decode_us"]["median"], row["total_us"]["median"]
            decode.append(d)
            rest.append(max(t - d, 0))
    y = range(len(labels))
    ax.barh(y, decode, color=SLOW, label="decoding the headers")
    ax.barh(y, rest, left=decode, color=OTHER, label="everything else (uncached)")
    for i, (d, r_) in enumerate(zip(decode, rest, strict=True)):
        ax.text(d + r_ + 5, i, f"{d / (d + r_):.0%} decode", va="center", fontsize=8)
    ax.set_yticks(list(y), labels)
    ax.invert_yaxis()
    ax.set_xlabel("µs per uncached verify_request (this machine)")
    ax.set_title("Share of header decoding in one uncached verification, by edge format")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2, fontsize=8)
    ax.set_xlim(0, max(d + r_ for d, r_ in zip(decode, rest, strict=True)) * 1.18)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_cache(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    rows = result["cache"]
    n = [r["clients"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    ax1.plot(
        n, [r["hit_us"]["median"] for r in rows], "o-", color=OURS, label="verify_request, hit"
    )
    ax1.plot(n, [r["get_us"]["median"] for r in rows], "s--", color=OTHER, label="ResultCache.get")
    ax1.set_xscale("log")
    ax1.set_ylim(bottom=0)
    ax1.set_xlabel("distinct clients in the cache")
    ax1.set_ylabel("µs per lookup (this machine)")
    ax1.set_title("Lookup cost vs cache size")
    ax1.legend(fontsize=8)
    ax1.grid(alpha=0.25)
    ax2.plot(n, [r["rss_bytes_per_entry"] / 1024 for r in rows], "o-", color=OURS, label="RSS")
    ax2.plot(
        n,
        [r["traced_bytes_per_entry"] / 1024 for r in rows],
        "s--",
        color=OTHER,
        label="tracemalloc (Python heap)",
    )
    ax2.set_xscale("log")
    ax2.set_ylim(bottom=0)
    ax2.set_xlabel("distinct clients in the cache")
    ax2.set_ylabel("KiB per entry")
    ax2.set_title("Memory per cache entry")
    ax2.legend(fontsize=8)
    ax2.grid(alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_chain_length(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    lengths = result["lengths"]
    styles = {
        "uncached": ("o-", OURS),
        "cached": ("o--", OURS),
        "bare": ("s-", OTHER),
        "bare_der": ("s:", OTHER),
        "pyhanko": ("^-", SLOW),
        "floor": ("d-", FLOOR),
    }
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, kt in zip(axes, ("rsa", "ec"), strict=True):
        r = result[kt]
        for name, rows in r["cases"].items():
            marker, color = styles.get(name, ("x-", "black"))
            ax.plot(
                lengths,
                [rows[str(n)]["us"]["median"] for n in lengths],
                marker,
                color=color,
                label=result["cases"][name],
            )
        ax.set_yscale("log")
        ax.set_xticks(lengths)
        ax.set_xlabel("certificates in the chain (including the root anchor)")
        ax.set_title(r["label"])
        ax.grid(alpha=0.25, which="both")
    axes[0].set_ylabel("µs per verification (log; this machine)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("Cost vs chain length")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_frameworks(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    fws = [fw for fw in ("flask", "django") if fw in result]
    variants = ("without", "warm", "cold")
    labels = {
        "without": "without originverify",
        "warm": "with, cache warm",
        "cold": "with, cache off",
    }
    colors = {"without": OTHER, "warm": OURS, "cold": "#9ecbff"}
    fig, ax = plt.subplots(figsize=(8, 4.2))
    width = 0.26
    top = max(result[fw][v]["rps"] for fw in fws for v in variants)
    for i, variant in enumerate(variants):
        xs = [j + (i - 1) * width for j in range(len(fws))]
        values = [result[fw][variant]["rps"] for fw in fws]
        bars = ax.bar(xs, values, width, color=colors[variant], label=labels[variant])
        for bar, fw in zip(bars, fws, strict=True):
            ax.text(
                bar.get_x() + bar.get_width() / 2,
                bar.get_height() + top * 0.01,
                f"{result[fw][variant]['ratio']:.2f}",
                ha="center",
                fontsize=9,
            )
    ax.set_xticks(range(len(fws)), [fw.capitalize() for fw in fws])
    ax.set_ylabel("requests/s (this machine)")
    ax.set_ylim(0, top * 1.15)
    ax.set_title("Throughput under gunicorn + wrk (labels: ratio to without)")
    ax.legend(fontsize=8, loc="upper right")
    ax.grid(axis="y", alpha=0.25)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def make_plots(results: dict[str, Any], directory: Path = PLOTS) -> dict[str, str]:
    """Write every plot the results allow; returns {name: path relative to docs/}."""
    try:
        import matplotlib
    except ImportError:
        return {}
    matplotlib.use("Agg")
    directory.mkdir(parents=True, exist_ok=True)
    made: dict[str, str] = {}
    scaling = results.get("scaling") or {}
    jobs = (
        ("engines", results.get("engines"), plot_engines),
        ("decode", results.get("decode"), plot_decode),
        ("cache_scaling", scaling if "cache" in scaling else None, plot_cache),
        ("chain_length", scaling.get("chain_length"), plot_chain_length),
        ("frameworks", results.get("frameworks"), plot_frameworks),
    )
    for name, data, plot in jobs:
        if not data or "error" in data:
            continue
        path = directory / f"{name}.png"
        plot(data, path)
        made[name] = f"{directory.name}/{path.name}"
    return made


# ---------------------------------------------------------------------------------------------
# The report
# ---------------------------------------------------------------------------------------------


def _image(plots: dict[str, str], name: str, alt: str) -> str:
    return f"![{alt}]({plots[name]})\n" if name in plots else ""


def _section(results: dict[str, Any], key: str, render: Any) -> str:
    data = results.get(key)
    if data is None:
        return "Not run (skipped on the command line).\n"
    if "error" in data:
        return f"Failed: `{data['error']}`\n"
    return str(render(data))


def notes(results: dict[str, Any], verdicts: Sequence[dict[str, Any]]) -> str:
    """What the numbers say about each missed target, from this run's own measurements."""
    missed = {row["id"] for row in verdicts if not row["met"]}
    engines = results.get("engines") or {}
    breakdown = results.get("breakdown") or {}
    out: list[str] = []
    if any(m.startswith("overhead_") for m in missed) and "rsa" in engines:
        parts = []
        for kt in ("rsa", "ec"):
            r = engines[kt]
            bare, der = r["us"]["bare"]["median"], r["us"]["bare_der"]["median"]
            unc = r["us"]["uncached"]["median"]
            parts.append(
                f"{r['label']}: pyca alone costs {_us(bare)} µs on pre-parsed certificates and "
                f"{_us(der)} µs when it must parse the DER, as every per-request verifier must "
                f"({_pct(der / bare - 1)}); originverify costs {_us(unc)} µs"
            )
        text = (
            "**Uncached overhead.** " + "; ".join(parts) + ". Parsing fresh certificate objects "
            "is not ours, but it is part of any verification from headers: pyca caches a "
            "certificate's public key on the object, so a pre-parsed chain skips a key load "
            "the real request path pays."
        )
        if "rsa" in breakdown:
            ours = [
                f"{breakdown[kt]['label']} {_us(breakdown[kt]['ours'])} µs" for kt in ("rsa", "ec")
            ]
            text += (
                " What is ours is itemised in *Where the time goes* below ("
                + ", ".join(ours)
                + " per request outside pyca's verify)."
            )
        out.append(text)
    if any(m.startswith("pyhanko_") for m in missed) and "rsa" in engines:
        parts = []
        for kt in ("rsa", "ec"):
            r = engines[kt]
            floor = r["us"]["floor"]["median"]
            limit = r["us"]["pyhanko"]["median"] / floor
            parts.append(
                f"{r['label']}: pyhanko {_us(r['us']['pyhanko']['median'])} µs, the "
                f"signature floor {_us(floor)} µs, so no validator built on the same "
                f"primitives can be more than {limit:.1f}× faster than pyhanko"
            )
        out.append(
            "**Against pyhanko-certvalidator.** "
            + "; ".join(parts)
            + ". pyhanko verifies signatures with the same pyca/OpenSSL calls; where the "
            "signature checks are most of the cost (ECDSA P-256 verification is several times "
            "dearer than RSA-2048), a 10× margin is arithmetically out of reach for any "
            "engine, and the remaining gap to the floor is pyca's own verifier plus our path."
        )
    if any(m.startswith("cache_") for m in missed) and "rsa" in engines:
        hits = ", ".join(
            f"{engines[kt]['label']} {_us(engines[kt]['us']['cached']['median'])} µs hit vs "
            f"{_us(engines[kt]['us']['uncached']['median'])} µs uncached"
            for kt in ("rsa", "ec")
        )
        out.append(
            "**Cache speed-up.** "
            + hits
            + ". The hit path (source proof, header snapshot, dictionary lookup, counters) "
            "costs the same for every key type, so the ratio is lowest where verification is "
            "cheapest (RSA). See the hit-path rows of *Where the time goes*."
        )
    if any(m.startswith("framework_") for m in missed):
        fw = results.get("frameworks") or {}
        parts = [
            f"{name.capitalize()} +{fw[name]['warm']['added_cpu_us']:.0f} µs CPU per request "
            f"on a {fw[name]['without']['cpu_us']:.0f} µs request"
            for name in ("flask", "django")
            if name in fw
        ]
        out.append(
            "**Framework overhead.** With a warm cache "
            + ", ".join(parts)
            + ". The views are hello-world views on a minimal stack (no sessions, database or "
            "templates), which makes the ratio as unfavourable as it gets: the added cost is "
            "a fixed number of µs per request, so any real view moves the ratio towards 1. "
            "The core's share of it is the cache-hit path; the rest is the integration's "
            "per-request work (header withholding, context-local look-ups, signals)."
        )
    return "\n\n".join(out) + ("\n" if out else "")


def write_report(results: dict[str, Any], path: Path = DOC) -> Path:
    plots = make_plots(results, path.parent / "benchmarks")
    verdicts = targets(results)
    info = results.get("machine", {})
    meta = results.get("meta", {})
    lines = [
        "# Benchmarks",
        "",
        "<!-- Generated by `python benchmarks/run_all.py`; edit the scripts, not this file. -->",
        "",
        "What verifying a forwarded client certificate costs at the origin, next to what a "
        "user would use instead and next to the hardware limit, all measured in **one run on "
        "one machine**. **Ratios are the headline**: absolute µs and requests/s are specific "
        "to the machine below and move with its load; ratios are measured within interleaved "
        "rounds, so load that slows every case alike cancels out.",
        "",
        f"Command: `{meta.get('command', 'python benchmarks/run_all.py')}` — "
        f"{meta.get('duration_s', 0):.0f} s"
        + (
            " (**quick settings**: short runs, small sizes; not for quoting)"
            if meta.get("quick")
            else ""
        )
        + ".",
        "",
        "Time per section: "
        + ", ".join(f"{k} {v:.0f} s" for k, v in meta.get("section_s", {}).items())
        + ".",
        "",
        "## Headline: targets",
        "",
        render_targets(verdicts) if verdicts else "No target could be judged in this run.",
        "",
    ]
    note = notes(results, verdicts)
    if note:
        lines += ["### What the misses are made of", "", note]
    lines += [
        "## Machine",
        "",
        "| | |",
        "|---|---|",
        *(f"| {k} | {v} |" for k, v in info.items()),
        f"| load average before / after | {meta.get('load_before', '?')} / "
        f"{meta.get('load_after', '?')} |",
        "",
        "## 1. Chain verification by engine",
        "",
        _image(plots, "engines", "Cost per verification by engine"),
        _section(results, "engines", render_engines),
        "### Where the time goes (uncached path, and the cache hit)",
        "",
        _section(results, "breakdown", render_breakdown),
        "## 2. Decoding per edge format",
        "",
        _image(plots, "decode", "Decoding share by format"),
        _section(results, "decode", render_decode),
        "## 3. Scaling",
        "",
        _image(plots, "cache_scaling", "Cache lookup cost and memory per entry"),
        _image(plots, "chain_length", "Cost vs chain length"),
        _section(results, "scaling", render_scaling),
        "## 4. Framework overhead (gunicorn + wrk on 127.0.0.1)",
        "",
        _image(plots, "frameworks", "Throughput with and without the middleware"),
        _section(results, "frameworks", render_frameworks),
        "## 5. Edge forwarder vs nginx",
        "",
        _section(results, "edge", render_edge),
        "## How to read and reproduce",
        "",
        "- One command: `python benchmarks/run_all.py` (`--quick` for a smoke run, `--skip "
        "frameworks,edge` to leave sections out, `--json FILE` to keep the raw results). "
        "Each section also runs alone: `python benchmarks/bench_engines.py`, "
        "`bench_decode.py`, `bench_cache_scaling.py`, `bench_frameworks.py`, `bench_edge.py`.",
        "- Micro-benchmarks calibrate each case to a batch of a few tens of ms, interleave "
        "the cases round by round (order rotated) and report the median of the per-round "
        "means; ratios are medians of per-round ratios. Their clock is "
        + (
            "wall time (`BENCH_CLOCK=wall`)."
            if meta.get("clock") == "wall"
            else "the CPU time of the benchmark process (equal to wall time for this "
            "CPU-bound work on an idle core, and not inflated while another process holds "
            "the core); `BENCH_CLOCK=wall` switches to wall time."
        ),
        "- Throughput (sections 4 and 5) is wall-clock requests/s from wrk; the server CPU "
        "per request next to it comes from /proc and is the steadier figure on a shared "
        "machine.",
        "- *pyca bare* is `PolicyBuilder().store(...).time(...).build_client_verifier()` with "
        "pyca's defaults, reused across calls; *pre-parsed* means the same certificate "
        "objects every call, *from DER* parses the leaf and chain each call.",
        "- *pyhanko-certvalidator* gets its best case: trust manager built once, one event loop "
        "reused, no revocation fetching; a new `ValidationContext` per call, since the "
        "validation time must be the current one.",
        "- The signature floor `verify_directly_issued_by` loads the issuer's public key on "
        "every call, as a verifier must for a presented intermediate; *signatures only* "
        "prepares keys and TBS bytes once. `openssl speed` uses the system OpenSSL, which is "
        "not the one bundled with cryptography.",
        "",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines))
    return path


def main() -> None:
    """Re-render the report from a results file: ``python benchmarks/report.py FILE.json``."""
    import argparse
    import json

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path, help="written by run_all.py --json")
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args()
    print(write_report(json.loads(args.results.read_text()), args.output))


if __name__ == "__main__":
    main()
