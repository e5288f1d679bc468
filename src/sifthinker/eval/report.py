"""Turning a ``results.json`` into Markdown and PNG charts, and putting several runs side by side.

>>> res = {"benchmark": "demo", "headline": "accuracy", "metrics": {"accuracy": 50.0}, "denominators": {},
...        "counts": {"loaded": 2, "evaluated": 2, "skipped": 0}, "per_category": {}}
>>> "| accuracy | 50.00 |" in results_markdown(res)
True
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..io import temp_path

__all__ = ["results_markdown", "write_charts", "compare", "load_results", "fmt", "ProtocolMismatch"]

_CAT_EXTRAS = ("acc_plus", "counting_score", "mean_iou")


def fmt(v) -> str:
    """A cell: floats to 2 decimals (4 below 1, for IoUs), None as ``–``.

    >>> fmt(12.3456), fmt(0.51234), fmt(None), fmt(7)
    ('12.35', '0.5123', '–', '7')
    """
    if v is None:
        return "–"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 1 and v != 0 else f"{v:.2f}"
    return str(v)


def _table(header: list[str], rows: list[list]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join(fmt(c) if not isinstance(c, str) else c for c in r) + " |" for r in rows]
    return out


def results_markdown(res: dict) -> str:
    """The Markdown report of one run's results (what ``results.md`` holds)."""
    lines = [f"# {res.get('benchmark', '?')} — evaluation results", ""]
    head = res.get("headline", "accuracy")
    metrics = res.get("metrics", {})
    dens = res.get("denominators", {})
    lines.append(f"**{head}: {fmt(metrics.get(head))}** — denominator: {dens.get(head, 'see below')}")
    lines.append("")
    if res.get("units"):
        lines += [f"_Units: {res['units']}._", ""]
    lines += ["## Metrics", ""]
    lines += _table(["metric", "value", "denominator"], [[k, v, dens.get(k, "")] for k, v in metrics.items()])
    c = res.get("counts", {})
    lines += ["", "## Counts", ""]
    lines += _table(list(c), [list(c.values())])
    cats = res.get("per_category", {})
    if cats:
        extras = [k for k in _CAT_EXTRAS if any(k in v for v in cats.values())]
        lines += ["", "## Per category", ""]
        rows = [
            [k, v.get("n"), v.get("evaluated"), v.get("accuracy"), v.get("accuracy_evaluated")]
            + [v.get(e) for e in extras]
            for k, v in cats.items()
        ]
        lines += _table(["category", "n", "evaluated", "accuracy", "accuracy (evaluated)", *extras], rows)
    for key, title in (
        ("per_subcategory", "Per subcategory"),
        ("per_type", "Per type"),
        ("per_answer_type", "Per answer type"),
    ):
        if res.get(key):
            lines += ["", f"## {title}", ""]
            rows = [
                [k, v.get("n"), v.get("evaluated"), v.get("accuracy"), v.get("accuracy_evaluated")]
                for k, v in res[key].items()
            ]
            lines += _table(["name", "n", "evaluated", "accuracy", "accuracy (evaluated)"], rows)
    if res.get("grounding"):
        g = res["grounding"]
        lines += ["", "## Grounding (last area vs ground-truth boxes)", ""]
        lines += _table(list(g), [list(g.values())])
    sk = res.get("skipped")
    if sk:
        lines += ["", "## Skipped", ""]
        lines.append(
            f"{sk.get('total', 0)} skipped: "
            + (", ".join(f"{k} {v}" for k, v in sk.get("by_reason", {}).items()) or "none")
        )
    if res.get("left_out") or res.get("missing_files"):
        lines += ["", "## Left out by the reader", ""]
        lines.append(", ".join(f"{k} {v}" for k, v in (res.get("left_out") or {}).items()) or "no items")
        if res.get("missing_files"):
            lines.append(f"\nPublished files not found: {', '.join(res['missing_files'])}")
    tr = res.get("trace")
    if tr:
        lines += ["", "## Trace statistics (evaluated items)", ""]
        lines += _table(list(tr), [list(tr.values())])
    fo = res.get("focus")
    if fo:
        lines += ["", "## Focus (first vs last area against the evidence; cost per item)", ""]
        lines += _table(list(fo), [list(fo.values())])
    proto = res.get("protocol")
    if proto:
        shown = {k: v for k, v in proto.items() if k != "prompt"}
        prompt = proto.get("prompt") or {}
        lines += ["", "## Protocol", "", "```json", json.dumps(shown, indent=2, sort_keys=True, default=str), "```"]
        if prompt:
            lines += ["", f"Prompt template (sha256 `{prompt.get('sha256')}`):", "", "```",
                      str(prompt.get("template")), "```"]  # fmt: skip
    if res.get("config"):
        lines += ["", "## Config", "", "```json", json.dumps(res["config"], indent=2, sort_keys=True), "```"]
    return "\n".join(lines) + "\n"


def _bar_png(names: list[str], values: list[float | None], title: str, path: Path) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    vals = [v if v is not None else 0.0 for v in values]
    fig = Figure(figsize=(max(4.0, 0.6 * len(names) + 2), 3.6), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(111)
    bars = ax.bar(range(len(names)), vals, color="#4878d0")
    ax.set_xticks(range(len(names)))
    ax.set_xticklabels(names, rotation=30, ha="right", fontsize=8)
    ax.set_ylim(0, 100)
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title, fontsize=10)
    for b, v in zip(bars, values):
        ax.text(b.get_x() + b.get_width() / 2, b.get_height() + 1, fmt(v), ha="center", fontsize=7)
    fig.tight_layout()
    tmp = temp_path(path)
    fig.savefig(tmp, format="png")
    os.replace(tmp, path)


def write_charts(res: dict, out_dir: str | os.PathLike) -> list[str]:
    """PNG bar charts of accuracy (over all loaded items) per category, and per subcategory when there is one."""
    out = Path(out_dir)
    written = []
    for key, fname, label in (
        ("per_category", "accuracy_by_category.png", "category"),
        ("per_subcategory", "accuracy_by_subcategory.png", "subcategory"),
    ):
        groups = res.get(key) or {}
        if not groups:
            continue
        path = out / fname
        _bar_png(
            list(groups),
            [g.get("accuracy") for g in groups.values()],
            f"{res.get('benchmark', '')}: accuracy by {label} (all loaded items)",
            path,
        )
        written.append(str(path))
    return written


def load_results(run_dir: str | os.PathLike) -> dict:
    """A run's ``results.json`` (``run_dir`` a run folder or the file), checked to be a JSON object whose
    ``protocol``, when present, is an object; each fault names the file."""
    p = Path(run_dir)
    p = p / "results.json" if p.is_dir() else p
    if not p.is_file():
        raise FileNotFoundError(f"{p}: no results.json; score the run first (--mode score)")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{p}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{p}: expected a JSON object, got {type(data).__name__}")
    if "protocol" in data and not isinstance(data["protocol"], dict):
        raise ValueError(f"{p}: field 'protocol' must be an object, got {type(data['protocol']).__name__}")
    return data


class ProtocolMismatch(ValueError):
    """Runs measured under different protocols; the message lists the fields that differ."""


def _mismatch_lines(diff: dict[str, list], names: list[str]) -> list[str]:
    rows = []
    for field, vals in diff.items():
        shown = [json.dumps(v, sort_keys=True, default=str)[:60] for v in vals]
        rows.append([field, *shown])
    return _table(["protocol field", *names], rows)


def compare(run_dirs: list[str | os.PathLike], *, allow_mismatch: bool = False) -> str:
    """A Markdown table putting runs side by side — model, headline, every metric, per-category accuracy, counts,
    trace and focus — a base model next to its fine-tune.

    Runs whose protocol cards differ in anything but the model (:func:`sifthinker.eval.protocol.
    protocol_differences`: items, prompt, pixel budget, decoding, parser, judge, seed) are refused with
    :class:`ProtocolMismatch`, or with ``allow_mismatch`` shown with the differences flagged above the table.
    """
    from .protocol import protocol_differences

    if not run_dirs:
        raise ValueError("compare: give at least one run directory")
    runs = [load_results(d) for d in run_dirs]
    names = [Path(d).name or str(d) for d in run_dirs]
    if len(set(names)) < len(names):
        names = [str(d) for d in run_dirs]
    diff = protocol_differences([r.get("protocol") for r in runs])
    if diff and not allow_mismatch:
        detail = "; ".join(f"{k}: " + " vs ".join(json.dumps(v, default=str)[:80] for v in vals)
                           for k, vals in diff.items())  # fmt: skip
        raise ProtocolMismatch(
            f"the runs were measured under different protocols ({detail}); their numbers are not comparable "
            "(pass --allow-mismatch to show them side by side anyway, flagged)"
        )
    keys: list[tuple[str, tuple]] = [
        ("benchmark", ("benchmark",)),
        ("model", ("protocol", "model", "name")),
        ("model path", ("protocol", "model", "path")),
        ("model hash", ("@hash",)),
        ("backend", ("protocol", "backend")),
        ("headline", ("@headline",)),
    ]

    def add(label, path):
        if (label, path) not in keys:
            keys.append((label, path))

    for r in runs:
        for k in r.get("metrics", {}):
            add(k, ("metrics", k))
    for r in runs:
        for cat in r.get("per_category", {}):
            add(f"accuracy: {cat}", ("per_category", cat, "accuracy"))
    for k in ("loaded", "evaluated", "skipped", "left_out", "missing_answer", "invalid_answer"):
        add(f"count: {k}", ("counts", k))
    for k in ("format_valid_rate", "mean_areas", "depth_consistency"):
        add(f"trace: {k}", ("trace", k))
    for k in ("first_iou", "last_iou", "correction_gain", "tokens_per_answer", "seconds_per_item"):
        add(f"focus: {k}", ("focus", k))

    def get(r, path):
        if path == ("@headline",):
            h = r.get("headline", "accuracy")
            return f"{h} = {fmt(r.get('metrics', {}).get(h))}"
        if path == ("@hash",):
            m = (r.get("protocol") or {}).get("model") or {}
            h = m.get("hash") or m.get("revision")
            return h[:12] if isinstance(h, str) else None
        v = r
        for p in path:
            if not isinstance(v, dict) or p not in v:
                return None
            v = v[p]
        return v

    rows = [[label] + [get(r, path) for r in runs] for label, path in keys]
    lines = ["# Runs compared", ""]
    if diff:
        lines += ["**⚠ protocols differ — these numbers were not measured the same way:**", ""]
        lines += _mismatch_lines(diff, names) + [""]
    return "\n".join([*lines, *_table(["", *names], rows)]) + "\n"
