"""Markdown, plots and target verdicts of the fleet sections: the engines side by side
(``bench_compare``), the fleet-size curve (``bench_fleet``) and hostile memory
(``bench_hostile``). ``report.py`` assembles them into ``docs/benchmarks.md``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from report_format import FLOOR, OTHER, OURS, mark, ratio, us

TARGET_NEW_LEAF = 0.5  # × bare pyca
TARGET_COLD = 1.15  # × bare pyca
TARGET_HIT = 50.0  # hit at least this many times cheaper than cold
TARGET_ED25519 = 1.3  # × raw Ed25519 verify
TARGET_HMAC = 0.1  # × an uncached chain verification
TARGET_ENTRY_BYTES = 1.5 * 1024

ORDER = ("floor_sig", "floor_leaf", "proto_anchor", "bare_der", "openssl", "pyhanko")
OUR_CASES = ("ov_cold", "ov_new_leaf", "ov_hit")
GOALS = {
    "ov_cold": f"≤ {TARGET_COLD:.2f}×",
    "ov_new_leaf": f"≤ {TARGET_NEW_LEAF:.2f}×",
    "ov_hit": f"≥ {TARGET_HIT:.0f}× cheaper than cold",
}
KEY_TYPES = ("ec", "rsa")
SHORT = {
    "floor_sig": "floor: 2 signatures, keys loaded",
    "floor_leaf": "floor: leaf signature only",
    "proto_anchor": "pyca, intermediate as anchor",
    "bare_der": "bare pyca, from DER (1.0)",
    "openssl": "OpenSSL via pyOpenSSL, from DER",
    "pyhanko": "pyhanko-certvalidator",
    "ov_cold": "originverify, cache off",
    "ov_new_leaf": "originverify, new leaf",
    "ov_hit": "originverify, cache hit",
}


def _row(
    target_id: str, name: str, value: str, goal: str, met: bool, detail: str = ""
) -> dict[str, Any]:
    return {
        "id": target_id,
        "name": name,
        "value": value,
        "goal": goal,
        "met": met,
        "detail": detail,
    }


def targets_compare(result: dict[str, Any]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for kt in KEY_TYPES:
        r = result[kt]
        label, rb = r["label"], r["ratio_to_bare"]
        rows.append(
            _row(
                f"new_leaf_{kt}",
                f"New leaf under a validated intermediate / bare pyca, {label}",
                ratio(rb["ov_new_leaf"]),
                GOALS["ov_new_leaf"],
                rb["ov_new_leaf"] <= TARGET_NEW_LEAF,
                f"{us(r['us']['ov_new_leaf']['median'])} µs, path `{r['facts']['via_new_leaf']}`; "
                f"leaf-signature floor {ratio(rb['floor_leaf'])}",
            )
        )
        rows.append(
            _row(
                f"cold_{kt}",
                f"Cold (cache off) / bare pyca, {label}",
                ratio(rb["ov_cold"]),
                GOALS["ov_cold"],
                rb["ov_cold"] <= TARGET_COLD,
                f"{us(r['us']['ov_cold']['median'])} µs vs {us(r['us']['bare_der']['median'])} µs",
            )
        )
        rows.append(
            _row(
                f"hit_{kt}",
                f"Cache hit cheaper than cold, {label}",
                ratio(r["hit_vs_cold"]),
                f"≥ {TARGET_HIT:.0f}×",
                r["hit_vs_cold"] >= TARGET_HIT,
                f"hit {us(r['us']['ov_hit']['median'])} µs",
            )
        )
    rows += targets_envelope(result)
    return rows


def targets_envelope(result: dict[str, Any]) -> list[dict[str, Any]]:
    ec, rsa = result["ec"], result["rsa"]
    if not ec.get("ratio_to_raw"):
        return []
    ed = ec["ratio_to_raw"]["env_ed25519"]
    rows = [
        _row(
            "envelope_ed25519",
            "Ed25519-signed request check / raw Ed25519 verify",
            ratio(ed),
            f"≤ {TARGET_ED25519:.1f}×",
            ed <= TARGET_ED25519,
            f"{us(ec['us']['env_ed25519']['median'])} µs vs "
            f"{us(ec['us']['raw_ed25519']['median'])} µs",
        )
    ]
    hmac_us = ec["us"]["env_hmac"]["median"]
    paired = ec["ratio_to_cold"]["env_hmac"]
    rows.append(
        _row(
            "envelope_hmac_ec",
            f"HMAC-signed request check / uncached chain verification, {ec['label']}",
            ratio(paired),
            f"≤ {TARGET_HMAC:.1f}×",
            paired <= TARGET_HMAC,
            f"{us(hmac_us)} µs vs {us(ec['us']['ov_cold']['median'])} µs (paired rounds)",
        )
    )
    rsa_cold = rsa["us"]["ov_cold"]["median"]
    rows.append(
        _row(
            "envelope_hmac_rsa",
            f"HMAC-signed request check / uncached chain verification, {rsa['label']}",
            ratio(hmac_us / rsa_cold),
            f"≤ {TARGET_HMAC:.1f}×",
            hmac_us / rsa_cold <= TARGET_HMAC,
            f"{us(hmac_us)} µs vs {us(rsa_cold)} µs (medians, separate rounds)",
        )
    )
    return rows


def render_compare(result: dict[str, Any]) -> str:
    cases = result["cases"]
    ec, rsa = result["ec"], result["rsa"]
    out = [
        f"Median of {result['rounds']} interleaved rounds, 3-certificate chains (root anchor → "
        "intermediate → leaf). **Ratio = time of the row / time of bare pyca from DER in the "
        "same rounds** (below 1: cheaper).\n",
        f"| path | {ec['label']} µs | ratio | {rsa['label']} µs | ratio | target |",
        "|---|---:|---:|---:|---:|---|",
    ]
    for name in (*ORDER, *OUR_CASES):
        cells = []
        for r in (ec, rsa):
            cells += [us(r["us"][name]["median"]), ratio(r["ratio_to_bare"][name])]
        label = cases[name] if name not in OUR_CASES else f"**{cases[name]}**"
        goal = GOALS.get(name, "baseline" if name == "bare_der" else "")
        if name == "ov_hit":
            goal += ": " + " / ".join(
                f"{ratio(r['hit_vs_cold'])} {mark(r['hit_vs_cold'] >= TARGET_HIT)}"
                for r in (ec, rsa)
            )
        elif name in GOALS:
            limit = TARGET_COLD if name == "ov_cold" else TARGET_NEW_LEAF
            goal += ": " + " / ".join(mark(r["ratio_to_bare"][name] <= limit) for r in (ec, rsa))
        out.append(f"| {label} | " + " | ".join(cells) + f" | {goal} |")
    out.append("")
    out.append(render_facts(result))
    if ec.get("ratio_to_raw"):
        out.append(render_envelope(ec, cases))
    if "threads" in result:
        out.append(render_threads(result["threads"]))
    return "\n".join(out)


def render_facts(result: dict[str, Any]) -> str:
    parts = []
    for kt in KEY_TYPES:
        f = result[kt]["facts"]
        parts.append(
            f"{result[kt]['label']}: cold took path `{f['via_cold']}`, a new leaf "
            f"`{f['via_new_leaf']}`, a hit `{f['via_hit']}`; {f['new_leaf_pool']:,} pre-made "
            f"leaves, {f['new_leaf_cache_hits']} result-cache hits among them, "
            f"{sum(f['stale_fresh'].values())} pool wrap-arounds"
        )
    return (
        "*Path* is the `Outcome.via` each originverify case reported. The new-leaf case uses a "
        "1024-entry result cache and draws every request from a pool of leaves under the same "
        "intermediate, each used once (batches capped at "
        f"{result['fresh_cap']} calls so the pool lasts): " + "; ".join(parts) + ".\n"
    )


def render_envelope(ec: dict[str, Any], cases: dict[str, str]) -> str:
    out = [
        "**Signed envelope (RFC 9421) against its floor** (the certificate verdict is a cache "
        "hit, so the envelope is what is measured; every call a freshly signed request; "
        f"paths: `{ec['facts'].get('via_env_ed25519')}` / `{ec['facts'].get('via_env_hmac')}`)\n",
        "| path | µs | ratio to its raw floor | ratio to originverify cold | target |",
        "|---|---:|---:|---:|---|",
    ]
    for name, floor in (
        ("raw_ed25519", None),
        ("env_ed25519", "raw_ed25519"),
        ("raw_hmac", None),
        ("env_hmac", "raw_hmac"),
    ):
        value = ec["us"][name]["median"]
        to_floor = ratio(ec["ratio_to_raw"][name]) if floor else "1 (floor)"
        goal = ""
        if name == "env_ed25519":
            goal = (
                f"≤ {TARGET_ED25519:.1f}× raw: {mark(ec['ratio_to_raw'][name] <= TARGET_ED25519)}"
            )
        if name == "env_hmac":
            goal = f"≤ {TARGET_HMAC:.1f}× cold: {mark(ec['ratio_to_cold'][name] <= TARGET_HMAC)}"
        out.append(
            f"| {cases[name]} | {us(value)} | {to_floor} | {ratio(ec['ratio_to_cold'][name])} "
            f"| {goal} |"
        )
    out.append("")
    return "\n".join(out)


def render_threads(result: dict[str, Any]) -> str:
    if "error" in result:
        return f"Thread scaling failed: `{result['error']}`\n"
    out = [
        f"**Thread scaling** (uncached, one process, wall clock, {result['seconds']:g} s per run, "
        f"median of {result['rounds']} alternated round(s)): requests/s with 2 threads ÷ with 1. "
        "pyca releases the GIL during verification, so up to 2× is possible on 2 idle cores; "
        "on a loaded machine the second core is often not there.\n",
        "| chain | case | req/s, 1 thread | req/s, 2 threads | 2 threads ÷ 1 (median of "
        "per-round ratios) |",
        "|---|---|---:|---:|---:|",
    ]
    for kt in KEY_TYPES:
        r = result[kt]
        for name, label in (
            ("ov_cold", "originverify, cache off"),
            ("bare_der", "bare pyca, from DER"),
        ):
            row = r[name]
            out.append(
                f"| {r['label']} | {label} | {row['rps_1']:,.0f} | {row['rps_2']:,.0f} "
                f"| {row['ratio']:.2f}× |"
            )
    out.append("")
    return "\n".join(out)


def plot_compare(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    names = [*ORDER, *OUR_CASES][::-1]
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8), sharey=True)
    for ax, kt in zip(axes, KEY_TYPES, strict=True):
        r = result[kt]
        values = [r["ratio_to_bare"][n] for n in names]
        colors = [
            OURS if n in OUR_CASES else FLOOR if n.startswith("floor") else OTHER for n in names
        ]
        ax.barh(range(len(names)), values, color=colors)
        ax.axvline(1.0, color="black", lw=0.8)
        ax.set_xscale("log")
        ax.set_yticks(range(len(names)), [SHORT[n] for n in names])
        ax.set_xlabel("cost ÷ bare pyca from DER (log; same-run ratio)")
        ax.set_title(f"{r['label']}, 3-certificate chain")
        for i, value in enumerate(values):
            ax.text(value * 1.08, i, ratio(value), va="center", fontsize=8)
        ax.set_xlim(min(values) / 2, max(values) * 4)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- fleet size, cache memory, hostile memory ------------------------------------------------


def targets_memory(scaling: dict[str, Any], hostile: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    if scaling and "cache" in scaling:
        last = scaling["cache"][-1]
        n, per_entry = last["clients"], last["rss_bytes_per_entry"]
        rows.append(
            _row(
                "entry_bytes",
                f"Cache memory per entry (RSS growth at {n:,} entries)",
                f"{per_entry:,.0f} B",
                f"≤ {TARGET_ENTRY_BYTES:,.0f} B",
                per_entry <= TARGET_ENTRY_BYTES,
                f"tracemalloc (Python heap): {last['traced_bytes_per_entry']:,.0f} B",
            )
        )
        rows.append(
            _row(
                "hit_at_size",
                f"Cache hit cheaper than cold at {n:,} entries",
                ratio(last["cold_vs_hit"]),
                f"≥ {TARGET_HIT:.0f}×",
                last["cold_vs_hit"] >= TARGET_HIT,
                f"hit {us(last['hit_us']['median'])} µs, cold {us(last['cold_us']['median'])} µs",
            )
        )
    if hostile and "error" not in hostile:
        rows.append(
            _row(
                "hostile",
                f"Hostile memory: RSS growth, {hostile['requests']:,} distinct bogus "
                f"{hostile['chain_bytes'] // 1000} KB certificates",
                f"{hostile['worst_growth'] / 2**20:,.1f} MiB worst",
                "bounded",
                hostile["bounded"],
                f"last third of the run: {hostile['last_third_growth'] / 2**20:+,.1f} MiB "
                f"(bounded: ≤ {hostile['slack'] / 2**20:.0f} MiB) while "
                f"{hostile['fed_bytes'] / 3 / 2**20:,.0f} MiB of certificates went through",
            )
        )
    return rows


def render_fleet(result: dict[str, Any]) -> str:
    ref = result["reference"]
    out = [
        f"{result['label']} devices under one intermediate, uniformly random device per "
        f"request, result cache of {result['cache_size']:,} entries; median of "
        f"{result['rounds']} interleaved rounds. Ratio = cost per request ÷ bare pyca from DER "
        f"({us(ref['bare_der']['us']['median'])} µs) in the same rounds. References: "
        f"originverify cold {ratio(ref['ov_cold']['ratio_to_bare'])}, a cache hit "
        f"{ratio(ref['ov_hit']['ratio_to_bare'])}.\n",
        "| devices | µs per request | ratio to bare pyca | hit rate |",
        "|---:|---:|---:|---:|",
    ]
    for p in result["points"]:
        out.append(
            f"| {p['devices']:,} | {us(p['us']['median'])} | {ratio(p['ratio_to_bare'])} "
            f"| {p['hit_rate']:.1%} |"
        )
    out.append("")
    return "\n".join(out)


def plot_fleet(result: dict[str, Any], path: Path) -> None:
    import matplotlib.pyplot as plt

    points, ref = result["points"], result["reference"]
    n = [p["devices"] for p in points]
    fig, ax = plt.subplots(figsize=(9, 4.8))
    ax.plot(n, [p["ratio_to_bare"] for p in points], "o-", color=OURS, lw=2, label="originverify")
    for name, label, style in (
        ("ov_cold", "originverify cold (cache off)", ":"),
        ("bare_der", "bare pyca from DER (1.0)", "-"),
        ("ov_hit", "originverify cache hit", "--"),
    ):
        ax.axhline(ref[name]["ratio_to_bare"], color=OTHER, ls=style, lw=1, label=label)
    ax.axhline(TARGET_NEW_LEAF, color=FLOOR, ls="-.", lw=1, label="new-leaf target (0.5)")
    ax.axvline(result["cache_size"], color="black", ls=":", lw=1)
    ax.text(result["cache_size"] * 1.05, ax.get_ylim()[1] * 0.6, "cache size", fontsize=8)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("devices in the fleet (one intermediate CA; random device per request)")
    ax.set_ylabel("cost per request ÷ bare pyca (log)")
    ax.set_title(f"Fleet of N devices, {result['label']}, result cache {result['cache_size']}")
    for p in points:
        ax.annotate(
            f"{p['hit_rate']:.0%} hits",
            (p["devices"], p["ratio_to_bare"]),
            fontsize=7,
            textcoords="offset points",
            xytext=(4, -10),
        )
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.25, which="both")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render_hostile(result: dict[str, Any]) -> str:
    curve = result["curve"]
    reasons = ", ".join(f"`{k}` {v:,}" for k, v in result["reasons"].items())
    out = [
        f"{result['requests']:,} requests through the default verifier (result cache on), each "
        f"with a distinct {result['leaf_bytes']:,}-byte leaf and a distinct "
        f"{result['chain_bytes']:,}-byte bogus intermediate ({result['fed_bytes'] / 2**20:,.0f} "
        f"MiB of certificates in all), the edge secret right; verdicts: {reasons}; "
        f"{us(result['us_per_request'])} µs per request. RSS growth over a "
        f"baseline taken after {result.get('warm_up', 20):,} warm-up requests:\n",
        "| requests | RSS growth |",
        "|---:|---:|",
    ]
    out += [f"| {n:,} | {growth / 2**20:+,.1f} MiB |" for n, growth in curve]
    verdict = "bounded" if result["bounded"] else "**still growing**"
    out.append(
        f"\nWorst case {result['worst_growth'] / 2**20:,.1f} MiB; {verdict} (last third of the "
        f"run {result['last_third_growth'] / 2**20:+,.1f} MiB, allowed "
        f"{result['slack'] / 2**20:.0f} MiB of allocator noise).\n"
    )
    return "\n".join(out)
