"""The Markdown table the rate benchmarks print: each case's median rate, and its ratio to the baseline's."""

from __future__ import annotations

import statistics


def rate_table(columns: tuple[str, str, str], rates: dict[str, list[float]], baseline: str) -> str:
    """One row per case (in ``rates`` order) with its median rate and that median over the baseline's."""
    base = statistics.median(rates[baseline])
    lines = [f"| {columns[0]} | {columns[1]} | {columns[2]} |", "|---|---:|---:|"]
    for name, values in rates.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:,.0f} | {median / base:.2f} |")
    return "\n".join(lines)
