"""The demo's ``report.html``: one self-contained page (images embedded as data URIs, no external assets)."""

from __future__ import annotations

import html
import io
import os
from pathlib import Path
from typing import Any

from ..io import atomic_write_text, data_url

__all__ = ["write_report", "curves_png", "png_data_uri"]

CSS = """
body { font-family: -apple-system, 'Segoe UI', Helvetica, Arial, sans-serif; margin: 2rem auto; max-width: 1100px;
       color: #1d2329; line-height: 1.45; padding: 0 1rem; }
h1 { font-size: 1.7rem; margin-bottom: .2rem; } h2 { font-size: 1.25rem; margin-top: 2.2rem;
     border-bottom: 1px solid #d8dee4; padding-bottom: .3rem; }
.sub { color: #57606a; margin-top: 0; }
table { border-collapse: collapse; margin: .8rem 0; font-size: .92rem; }
th, td { border: 1px solid #d8dee4; padding: .35rem .7rem; text-align: right; }
th:first-child, td:first-child { text-align: left; }
thead th { background: #f3f5f7; }
tr.total td { font-weight: 600; background: #fafbfc; }
td.best { background: #e6f4ea; }
.ci { color: #8b949e; font-size: .78rem; }
.note { color: #57606a; font-size: .88rem; }
figure { margin: 1rem 0; } figcaption { color: #57606a; font-size: .88rem; }
img { max-width: 100%; border: 1px solid #eaeef2; }
pre { background: #f6f8fa; padding: .7rem; overflow-x: auto; font-size: .8rem; white-space: pre-wrap; }
.grid { display: grid; grid-template-columns: 1fr; gap: 1rem; }
.kv td:first-child { color: #57606a; }
"""


def png_data_uri(path_or_bytes: str | os.PathLike | bytes) -> str:
    data = path_or_bytes if isinstance(path_or_bytes, bytes) else Path(path_or_bytes).read_bytes()
    return data_url(data)


def curves_png(
    history: list[dict[str, Any]], keys: list[str], title: str, ylabel: str, xlabel: str = "GRPO step"
) -> bytes | None:
    """A line chart of ``keys`` over ``step`` in a trainer log history; None when nothing was logged."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    series = {}
    for k in keys:
        pts = [(h["step"], h[k]) for h in history if k in h and "step" in h and h[k] == h[k]]
        if pts:
            series[k] = pts
    if not series:
        return None
    fig, ax = plt.subplots(figsize=(7.5, 3.4))
    for k, pts in series.items():
        xs, ys = zip(*pts, strict=True)
        ax.plot(xs, ys, marker="o", ms=3, lw=1.5, label=k.replace("rewards/", "").replace("/mean", ""))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()


def _e(x: Any) -> str:
    return html.escape(str(x))


def _fmt(v: Any, fmt: str) -> str:
    return "—" if v is None else format(v, fmt)


def _acc_cell(row: dict) -> str:
    ci = row.get("ci")
    band = f"<span class='ci'>{ci[0]:.0f}–{ci[1]:.0f}</span>" if ci else ""
    return f"{_fmt(row.get('accuracy'), '.1f')} {band}"


def _score_table(analysis: dict) -> str:
    """Rows: question types, the spatial group, overall, then focus and depth statistics; columns: models."""
    models = analysis["models"]
    names = list(models)
    head = "".join(f"<th>{_e(n)}</th>" for n in names)
    rows = []
    for t in analysis["types"]:
        n = next(iter(models.values()))["per_type"][t]["n"]
        mark = " ★" if t in analysis["spatial_types"] else ""
        cells = "".join(f"<td>{_acc_cell(m['per_type'][t])}</td>" for m in models.values())
        rows.append(f"<tr><td>{_e(t)}{mark} (n={n})</td>{cells}</tr>")
    for label, key in (("spatial types ★ together", "spatial"), ("all questions", "overall")):
        n = next(iter(models.values()))[key]["n"]
        cells = "".join(f"<td>{_acc_cell(m[key])}</td>" for m in models.values())
        rows.append(f"<tr class='total'><td>{label} (n={n})</td>{cells}</tr>")

    def stat(label: str, get, fmt: str) -> str:
        cells = "".join(f"<td>{_fmt(get(m), fmt)}</td>" for m in models.values())
        return f"<tr><td>{_e(label)}</td>{cells}</tr>"

    rows += [
        stat("format-valid traces (%)", lambda m: m["format_valid_rate"], ".1f"),
        stat("mean areas per trace", lambda m: m["mean_areas"], ".2f"),
        stat("last-area IoU with the evidence", lambda m: m["mean_iou"], ".3f"),
        stat("first-focus IoU (single-evidence items)", lambda m: m["focus"]["first_iou"], ".3f"),
        stat("last-focus IoU (single-evidence items)", lambda m: m["focus"]["last_iou"], ".3f"),
        stat("stated depth error |d − D̄(box)|", lambda m: m["depth"]["abs_error"], ".3f"),
        stat("… always stating the mean depth", lambda m: m["depth"]["mean_baseline"], ".3f"),
        stat("mean stated depth", lambda m: m["depth"]["mean_stated"], ".3f"),
    ]
    return f"<table><thead><tr><th>question type</th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _bought(analysis: dict) -> list[str]:
    """Sentences: what each stage changed, on the spatial types and overall, with both intervals."""
    m = analysis["models"]
    pairs = [("SIF chains (SFT)", "answers only (SFT)", "SIF chains over a bare answer (same questions, samples)"),
             ("SFT + GRPO-SIF", "SIF chains (SFT)", "GRPO-SIF over SFT"),
             ("answers only (SFT)", "base (pretrained, no SFT)", "SFT on answers over the base")]  # fmt: skip
    out = []
    for a, b, what in pairs:
        if a not in m or b not in m:
            continue
        for key, label in (("spatial", "the spatial types"), ("overall", "all questions")):
            x, y = m[a][key]["accuracy"], m[b][key]["accuracy"]
            if x is None or y is None:
                continue
            out.append(f"{what}: {x - y:+.1f} points on {label} ({y:.1f} → {x:.1f} %).")
    return out


TARGETS = (
    # (what, measured as, goal, higher is better)
    ("SIF-SFT above answers-only on the spatial types", "points", 15.0, True),
    ("SFT + GRPO-SIF above SIF-SFT, all questions", "points", 5.0, True),
    ("SFT + GRPO-SIF above SIF-SFT, spatial types", "points", 5.0, True),
    ("last-area IoU with the evidence, SFT + GRPO-SIF", "IoU", 0.5, True),
    ("stated depth error / always stating the mean depth, SFT + GRPO-SIF", "ratio", 0.5, False),
)


def target_rows(analysis: dict) -> list[tuple[str, float | None, float, bool | None]]:
    """The demo's targets: (what, measured, goal, met) from the analysis (None where a model is missing)."""
    m = analysis["models"]
    ao, sft, grpo = (m.get(k) for k in ("answers only (SFT)", "SIF chains (SFT)", "SFT + GRPO-SIF"))

    def diff(a, b, key):
        return None if a is None or b is None else round(a[key]["accuracy"] - b[key]["accuracy"], 1)

    ratio = None
    if grpo and grpo["depth"]["abs_error"] is not None and grpo["depth"]["mean_baseline"]:
        ratio = round(grpo["depth"]["abs_error"] / grpo["depth"]["mean_baseline"], 3)
    values = [diff(sft, ao, "spatial"), diff(grpo, sft, "overall"), diff(grpo, sft, "spatial"),
              grpo["mean_iou"] if grpo else None, ratio]  # fmt: skip
    rows = []
    for (what, _unit, goal, higher), v in zip(TARGETS, values):
        met = None if v is None else (v >= goal if higher else v <= goal)
        rows.append((what, v, goal, met))
    return rows


def _targets_table(analysis: dict) -> str:
    body = []
    for (what, unit, goal, higher), (_, v, _, met) in zip(TARGETS, target_rows(analysis)):
        sign = "≥" if higher else "≤"
        verdict = "—" if met is None else ("met" if met else f"missed by {abs(v - goal):.3g}")
        body.append(f"<tr><td>{_e(what)}</td><td>{_fmt(v, '.3g')} {unit}</td><td>{sign} {goal:g}</td>"
                    f"<td>{verdict}</td></tr>")  # fmt: skip
    return ("<table><thead><tr><th>target</th><th>measured</th><th>goal</th><th>verdict</th></tr></thead><tbody>"
            + "".join(body) + "</tbody></table>")  # fmt: skip


def write_report(out, cfg, analysis: dict, histories: dict, focus: list, info: dict, example: str) -> Path:
    """Write ``report.html`` from the demo's analysis, the trainers' log histories and the focus-path panels."""
    title = "SIFThinker demo: a tiny model, the whole method, on a CPU"
    parts = [f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>",
             f"<style>{CSS}</style></head><body>", f"<h1>{_e(title)}</h1>"]  # fmt: skip
    parts.append(
        f"<p class='sub'>{_e(cfg.base_model)} (pretrained on perception only) → SFT on SIF chains from the data "
        "engine → GRPO-SIF; an answers-only baseline and an official-depth-reward ablation beside them.</p>"
    )
    synth, data = info["synth"], info["data"]
    summary = [
        ("synthetic scenes / questions", f"{synth.get('scenes', '?')} / {synth.get('records', '?')}"),
        ("training chains kept / failed", f"{data.get('total_kept', '?')} / {data.get('failed', '?')}"),
        ("test questions (every one evaluated)", str(analysis["n_test"])),
        ("SFT / GRPO-SIF / ablation steps", f"{cfg.sft_steps} / {cfg.grpo_steps} / {cfg.ablation_steps}"),
        ("seed", str(cfg.seed)),
        ("wall time of this run", f"{info['seconds']:.0f} s (stages done earlier are not re-run)"),
    ]
    parts.append("<table class='kv'>" + "".join(f"<tr><td>{_e(k)}</td><td>{_e(v)}</td></tr>" for k, v in summary)
                 + "</table>")  # fmt: skip
    parts.append("<h2>What each stage bought</h2><ul>" + "".join(f"<li>{_e(x)}</li>" for x in _bought(analysis))
                 + "</ul>")  # fmt: skip
    parts.append("<h2>The targets, measured</h2>")
    parts.append(_targets_table(analysis))
    parts.append(
        "<p class='note'>A gap smaller than the intervals of the table below is within noise. Where a target is "
        "missed, the learning curves show how far each stage moved; the levers are more pretraining (the base's "
        "grounding was still rising), more SFT epochs for the chains' last step (comparing two stated depths), and "
        "more GRPO steps and larger groups than a CPU allows.</p>"
    )
    parts.append("<h2>Scores on the synthetic test split</h2>")
    parts.append(
        "<p class='note'>Accuracy in percent with its 95 % Wilson interval (small grey numbers), judged by rules: a "
        "missing or unparsable answer is wrong. ★ marks the spatial types. Depth errors are over every region the "
        "model stated, against the true box-mean depth of that region's box; the baseline states, for the same "
        "boxes, the mean of their true depths.</p>"
    )
    parts.append(_score_table(analysis))
    parts.append("<h2>Learning curves</h2>")
    charts = [
        (histories.get("SFT", []) + [], ["loss"], "SFT loss on the SIF chains", "loss", "SFT step"),
        (histories.get("answers only", []), ["loss"], "SFT loss of the answers-only baseline", "loss", "SFT step"),
    ]
    grpo = histories.get("GRPO-SIF", [])
    reward_keys = sorted({k for h in grpo for k in h if k.startswith("rewards/") and k.endswith("/mean")})
    charts.append((grpo, reward_keys, "GRPO-SIF rewards (mean over each step's completions)", "reward", "GRPO step"))
    for hist, keys, t, ylab, xlab in charts:
        png = curves_png(hist, keys, t, ylab, xlabel=xlab)
        if png:
            parts.append(f"<figure><img alt='{_e(t)}' src='{png_data_uri(png)}'></figure>")
    ablation = _ablation_chart(grpo, histories.get("GRPO official", []))
    if ablation:
        parts.append("<h2>Ablation: the official depth reward against the grounded one</h2>")
        parts.append(
            "<p class='note'>Two GRPO runs from the same SFT model, differing only in the depth reward. Both log, "
            "over every stated region, the mean stated depth and its error against the true box-mean depth. The "
            "official reward checks a stated depth against the model's own box, so stating far depths for large "
            "background boxes earns it; the grounded reward pays only for the evidence's depth.</p>"
        )
        parts.append(f"<figure><img alt='depth ablation' src='{png_data_uri(ablation)}'></figure>")
    if focus:
        parts.append("<h2>Focus paths on test items</h2>")
        parts.append("<p class='note'>One panel per step: the step's boxes with their stated depths, and its text; "
                     "the last panel shows the colourised depth image the model saw (near = red). A malformed "
                     "generation is drawn from what could be read and titled as malformed.</p>")  # fmt: skip
        parts.append("<div class='grid'>")
        for caption, path in focus:
            parts.append(f"<figure><img alt='{_e(caption)}' src='{png_data_uri(path)}'>"
                         f"<figcaption>{_e(caption)}</figcaption></figure>")  # fmt: skip
        parts.append("</div>")
    parts.append("<h2>A training chain from the data engine</h2>")
    parts.append(f"<pre>{_e(example)}</pre>")
    parts.append("</body></html>")
    return atomic_write_text(out, "\n".join(parts))


def _ablation_chart(grounded: list[dict], official: list[dict]) -> bytes | None:
    """Mean stated depth and its error against the true depth, per GRPO step, for the two runs."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    runs = {"grounded": (grounded, "depth_grounded"), "official": (official, "depth")}
    fig, axes = plt.subplots(1, 2, figsize=(9.5, 3.4))
    drawn = False
    for label, (hist, name) in runs.items():
        for ax, part in zip(axes, ("mean_stated", "abs_error")):
            pts = [(h["step"], h[f"{name}/{part}"]) for h in hist if f"{name}/{part}" in h]
            if pts:
                xs, ys = zip(*pts, strict=True)
                ax.plot(xs, ys, marker="o", ms=3, lw=1.5, label=f"{label} depth reward")
                drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for ax, t in zip(axes, ("mean stated depth", "|stated − true box depth|")):
        ax.set_title(t, fontsize=10)
        ax.set_xlabel("GRPO step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    plt.close(fig)
    return buf.getvalue()
