"""Markdown tables and PNG plots of the sections other than the fleet comparison: the
stage breakdown, decoding, scaling, frameworks, edge and revocation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report_format import FLOOR, OTHER, OURS, SLOW, ratio, us

COLUMNS = (("cold", "cold"), ("new_leaf", "new leaf"), ("hit", "hit"))


def render_breakdown(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Breakdown unavailable: `{result['error']}`\n"
    kts = [kt for kt in ("ec", "rsa") if kt in result]
    head = [f"{result[kt]['label']} {label}" for kt in kts for _, label in COLUMNS]
    out = [
        "Each stage of the verifier's own stage list timed in place (the stages replayed with a "
        "timestamp between them, request by request, interleaved with the real "
        "`Verifier.check` and bare pyca from DER; medians, µs). Empty: the stage did not run "
        "(a hit stops at `cached`). The `chain` stage holds pyca's verification; everything "
        "else is originverify's own work.\n",
        "| stage | " + " | ".join(head) + " |",
        "|---|" + "---:|" * len(head),
    ]
    stages: list[str] = []
    for kt in kts:
        for key, _ in COLUMNS:
            stages += [s for s in result[kt][key]["stages"] if s not in stages]
    for stage in stages:
        cells = [us(result[kt][key]["stages"].get(stage)) for kt in kts for key, _ in COLUMNS]
        out.append(f"| {stage} | " + " | ".join(cells) + " |")
    for label, field in (
        ("*sum of the replayed stages*", "replayed"),
        ("*real `Verifier.check`, same loop*", "check"),
        ("*bare pyca from DER, same loop*", "bare_der"),
    ):
        cells = [us(result[kt][key][field]) for kt in kts for key, _ in COLUMNS]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    vias = ", ".join(
        f"{result[kt]['label']} {key}: `{result[kt][key]['via']}`"
        for kt in kts
        for key, _ in COLUMNS
    )
    out.append(f"\nPaths taken (`Outcome.via`): {vias}.\n")
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
                f"| {us(row['decode_us']['median'])} | {us(row['total_us']['median'])} "
                f"| {row['share']:.1%} |"
            )
    out.append("")
    return "\n".join(out)


def render_scaling(result: dict[str, Any]) -> str:
    size = result.get("default_cache_size", 1024)
    out = [
        "**Result cache, N distinct clients** (ECDSA P-256 leaves under one intermediate; "
        "cache sized to N; every request made before the fill and kept alive; lookups are "
        "random clients)\n",
        "| N clients | bytes per entry: RSS / tracemalloc | µs per hit | hit vs a 16-entry "
        "cache | cold ÷ hit | hit rate measured | hit rate at the default size "
        f"{size}: uniform / Zipf(1) | µs per miss (fill) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["cache"]:
        sim = row["simulated_hit_rate_default_size"]
        out.append(
            f"| {row['clients']:,} | {row['rss_bytes_per_entry']:,.0f} / "
            f"{row['traced_bytes_per_entry']:,.0f} | {us(row['hit_us']['median'])} "
            f"| {ratio(row['hit_growth_vs_16'])} | {ratio(row['cold_vs_hit'])} "
            f"| {row['measured_hit_rate']:.1%} | {sim['uniform']:.1%} / {sim['zipf']:.1%} "
            f"| {us(row['fill_us_per_request'])} |"
        )
    last = result["cache"][-1]
    growth = last["hit_growth_vs_16"]
    out.append(
        f"\nTargets: ≤ 1,536 bytes per entry and a hit ≥ 50× cheaper than cold, at the largest "
        f"size (judged in the headline). A hit among {last['clients']:,} entries costs "
        f"{ratio(growth)} a hit in a 16-entry cache measured in the same process "
        f"({'flat' if growth < 1.3 else 'not flat'}: within +30% counts as flat). Simulated "
        "hit rates replay a random stream of 100,000 requests (after as many to warm up) "
        "through a real `ResultCache` of the default size. tracemalloc traced the last "
        f"{last['traced_entries']:,} insertions of each fill; RSS covers all of them and also "
        "sees what cryptography's Rust side allocates for what an entry keeps.\n"
    )
    out.append(render_chain_length(result["chain_length"]))
    return "\n".join(out)


def render_chain_length(chain: dict[str, Any]) -> str:
    lengths = chain["lengths"]
    out = []
    for kt in ("rsa", "ec"):
        r = chain[kt]
        out.append(
            f"**Chain length, {r['label']}** (certificates including the root anchor; µs, and "
            "the ratio to bare pyca from DER)\n"
        )
        out.append("| path | " + " | ".join(str(n) for n in lengths) + " |")
        out.append("|---|" + "---:|" * len(lengths))
        for name, rows in r["cases"].items():
            cells = [
                f"{us(rows[str(n)]['us']['median'])} ({ratio(rows[str(n)]['ratio_to_bare'])})"
                for n in lengths
            ]
            out.append(f"| {chain['cases'][name]} | " + " | ".join(cells) + " |")
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


def render_child(result: dict[str, Any]) -> str:
    """A section script's own Markdown output, headings moved below the report's."""
    if "error" in result:
        return f"Not measured: `{result['error']}`\n"
    text = "\n".join(
        "#" + line if line.startswith("## ") else line
        for line in result["markdown"].strip().splitlines()
    )
    return f"Output of `{result['command']}` ({result['seconds']:.0f} s):\n\n{text}\n"


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
    ax1.plot(n, [r["hit_us"]["median"] for r in rows], "o-", color=OURS, label="hit, N entries")
    ax1.plot(n, [r["hit_small_us"]["median"] for r in rows], "s--", color=OTHER, label="hit, 16")
    ax1.set_xscale("log")
    ax1.set_ylim(bottom=0)
    ax1.set_xlabel("distinct clients in the cache")
    ax1.set_ylabel("µs per hit (this machine)")
    ax1.set_title("Hit cost vs cache size")
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
    ax2.axhline(1.5, color=FLOOR, ls="-.", lw=1, label="target 1.5 KiB")
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
        "bare_der": ("s-", OTHER),
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
