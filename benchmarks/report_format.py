"""Number formatting and colours shared by the report modules."""

from __future__ import annotations

import math

OURS = "#1f6feb"
OTHER = "#8c959f"
FLOOR = "#2da44e"
SLOW = "#cf222e"


def us(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(value: float | None) -> str:
    if value is None or math.isnan(value):
        return "–"
    if value >= 10:
        return f"{value:.0f}×"
    if value >= 1:
        return f"{value:.2f}×"
    return f"{value:.3f}×"


def pct(value: float) -> str:
    return f"{value:+.0%}"


def mark(ok: bool) -> str:
    return "met" if ok else "**MISSED**"
