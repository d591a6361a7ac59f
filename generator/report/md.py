# SPDX-License-Identifier: GPL-2.0
"""report.md: the text report in Markdown (pipe tables for the headline)."""

from generator.report import txt
from generator.report.model import Comparison


def _cell(text: str) -> str:
    """Markdown table cell: pipes and markup characters from data are escaped."""
    out = text
    for ch in "\\|*_`<>[]":
        out = out.replace(ch, "\\" + ch)
    return out


def render(cmp: Comparison, title: str = "drainlab results") -> str:
    lines = [f"# {_cell(title)}", "",
             f"Baseline: **{_cell(cmp.baseline)}** ({_cell(cmp.baseline_why)})", ""]
    lines += [f"- {k}: {_cell(v)}" for k, v in cmp.identity.items()] + [""]
    for variant in cmp.variants[1:]:
        lines += [f"## {_cell(variant)} vs {_cell(cmp.baseline)}", "",
                  ("| operation | drains/op new | drains/op base | drain time ratio [95% CI] "
                  "| verdict | latency ratio [95% CI] | verdict |"),
                  "|---|---:|---:|---:|---|---:|---|"]
        for key in cmp.keys:
            dn, db = cmp.cell(variant, key, "drains"), cmp.cell(cmp.baseline, key, "drains")
            dt, lat = cmp.cell(variant, key, "drain_us"), cmp.cell(variant, key, "latency_ms")
            dtr, latr = (dt.vs_base if dt else None), (lat.vs_base if lat else None)
            lines.append(" | ".join([
                f"| {key}", (dn.mean if dn else None) or "-", (db.mean if db else None) or "-",
                _cell(txt.ratio_text(dtr)), dtr.verdict if dtr else "",
                _cell(txt.ratio_text(latr)), (latr.verdict if latr else "") + " |"]))
        lines.append("")
    lines += ["## Health", "", "| variant | runs | "
              + " | ".join(n for n, _ in cmp.health[0].rates()) + " |",
              "|---|---:|" + "---:|" * len(cmp.health[0].rates())] if cmp.health else []
    for h in cmp.health:
        lines.append(f"| {_cell(h.variant)} | {h.runs} | "
                     + " | ".join(_cell(r.text) for _, r in h.rates()) + " |")
    lines += ["", "## Details", "", "```", txt.render(cmp, title).rstrip(), "```", ""]
    return "\n".join(lines)
