"""Rendering a :class:`~tensoralgebra.circuits.report.Report`: JSON-ready dict, text, markdown
(figures as PNG files beside it) and self-contained HTML (figures inlined as base64 PNG, one
inline style sheet, no script, font or link to anything outside the page).

Markdown and HTML come from one list of blocks (:func:`blocks`): a heading, a paragraph, a
table, a figure; each renderer turns them into its syntax.

>>> import tensoralgebra as ta
>>> from tensoralgebra.circuits.report import report
>>> w = ta.Weights.random(ta.Architecture((1, 1)), d_model=8, d_head=2, d_vocab=6, n_ctx=4)
>>> page = as_html(report(w, samples=50, top_heads=1, figures=False))
>>> page.startswith("<!DOCTYPE html>"), "http" in page, "<script" in page
(True, False, False)
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np

from tensoralgebra.circuits.composition import label
from tensoralgebra.errors import TensorAlgebraError

#: Pairs of heads listed per composition kind in markdown and HTML.
TOP_PAIRS = 8

_STYLE = """
body { font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.6em; text-align: left; }
td.n { text-align: right; font-family: monospace; } code { font-family: monospace; }
img { max-width: 100%; height: auto; display: block; margin: 0.5em 0; }
figcaption { font-size: 0.85em; color: #555; }
"""


def _numbers(array: np.ndarray) -> list:
    """A nested list of floats, NaN as ``None`` (JSON has no NaN)."""
    return (
        [_numbers(row) for row in array]
        if np.ndim(array) > 1
        else [None if np.isnan(x) else float(x) for x in array]
    )


def as_dict(report) -> dict:
    """Every number of the report."""
    composition = {}
    for kind, table in report.composition.items():
        composition[kind] = {
            "earlier": [label(p) for p in table.earlier],
            "later": [label((h,)) for h in table.later],
            "scores": _numbers(table.scores),
            "baseline_subtracted": _numbers(table.subtracted()),
            "baselines": {str(d): vars(b) | {"rms": b.rms} for d, b in table.baselines.items()},
        }
    copying = {
        circuit: {
            "heads": [label((h,)) for h in table.heads],
            "scores": [float(x) for x in table.scores],
            "copying": [bool(x) for x in table.copying],
            "threshold": table.threshold,
            "eigenvalues": [
                [[float(z.real), float(z.imag)] for z in row] for row in table.eigenvalues
            ],
        }
        for circuit, table in report.copying.items()
    }
    return {
        "model": report.model,
        "composition": composition,
        "copying": copying,
        "detectors": {name: scores.to_dict() for name, scores in report.detectors.items()},
        "skip_trigrams": [table.to_dict() for table in report.skip_trigrams],
        "ablation": {"data": report.ablation_data, **report.ablation.to_dict()},
    }


def as_text(report) -> str:
    """The report for a terminal: each analysis's own text, one after another."""
    m = report.model
    parts = [
        f"circuits report{_of(m)}: heads {m['heads']}, d_model {m['d_model']}, "
        f"d_head {m['d_head']}, d_vocab {m['d_vocab']}, n_ctx {m['n_ctx']}",
        *(str(t) for t in report.composition.values()),
        *(str(t) for t in report.copying.values()),
        *(str(t) for t in report.detectors.values()),
        *(str(t) for t in report.skip_trigrams),
        f"ablation data: {report.ablation_data}\n{report.ablation}",
    ]
    return "\n\n".join(parts) + "\n"


def blocks(report) -> list[tuple]:
    """The document as ``("h1"|"h2"|"p", text)``, ``("table", header, rows)`` and
    ``("figure", name, caption)`` blocks."""
    m = report.model
    out: list[tuple] = [
        ("h1", f"Circuits report{_of(m)}"),
        ("p", f"Heads per layer {m['heads']}; d_model {m['d_model']}, d_head {m['d_head']}, "
              f"d_vocab {m['d_vocab']}, n_ctx {m['n_ctx']}; normalization "
              f"{m['normalization']}, positional {m['positional']}, {m['dtype']}."),
        ("h2", "Composition scores"),
        ("p", "Score minus the random baseline's mean (matrices of the same shapes), the "
              f"{TOP_PAIRS} largest pairs of each kind."),
    ]  # fmt: skip
    for kind, table in report.composition.items():
        base = table.baselines[1]
        out.append(("p", f"{kind}-composition: baseline {base.mean:.4f} ± {base.std:.4f}."))
        rows = [[a, b, f"{s:.4f}", f"{e:+.4f}"] for a, b, s, e in table.largest(TOP_PAIRS)]
        out.append(("table", ["earlier", "later", "score", "minus baseline"], rows))
    out.append(("figure", "composition-k", "K-composition scores, baseline-subtracted"))
    out.append(("h2", "Copying"))
    heads = report.copying["OV"].heads
    rows = [[label((h,))] + [_flagged(report.copying[c], i) for c in ("OV", "QK")]
            for i, h in enumerate(heads)]  # fmt: skip
    out.append(("p", f"Σλ/Σ|λ| of the full circuits; copying (*) at ≥ "
                     f"{report.copying['OV'].threshold:g}."))  # fmt: skip
    out += [("table", ["head", "OV", "QK"], rows), ("figure", "eigenvalues-ov", "OV spectra")]
    out.append(("h2", "Head detectors"))
    detectors = report.detectors
    first = next(iter(detectors.values()))
    out.append(("p", f"Attention on each detector's targets, repeated random sequences of "
                     f"shape {first.tokens_shape}; flagged (*) above {first.threshold:g}; "
                     "uniform attention's score in the last row."))  # fmt: skip
    rows = [[label((h,))] + [_mark(d.score(*h), d.threshold) for d in detectors.values()]
            for h in heads]  # fmt: skip
    rows.append(["uniform"] + [f"{d.baseline:.3f}" for d in detectors.values()])
    out += [("table", ["head", *detectors], rows), ("figure", "attention", "Attention patterns")]
    out.append(("h2", "Skip-trigrams"))
    for table in report.skip_trigrams:
        out.append(("p", f"{label((table.head,))}: {table.sources} of {table.d_vocab} sources "
                         "scanned; QK the attention score, OV the logit added."))  # fmt: skip
        out.append(("table", ["source … destination → out", "QK", "OV"], table.rows()))
    out.append(("figure", "skip-trigrams", "Skip-trigram tables"))
    out += _ablation(report)
    return out


def _flagged(table, i: int) -> str:
    return f"{table.scores[i]:+.3f}" + (" *" if table.copying[i] else "")


def _mark(score: float, threshold: float) -> str:
    return f"{score:.3f}" + (" *" if score > threshold else "")


def _ablation(report) -> list[tuple]:
    a = report.ablation
    rows = [[f"≤ {k}", f"{loss:.4f}", f"{(a.uniform - loss) if k == 0 else a.marginal[k - 1]:+.4f}"]
            for k, loss in enumerate(a.losses)]  # fmt: skip
    layers = [[f"L{i}", f"{r:+.4f}"] for i, r in enumerate(a.layer_reductions)]
    return [
        ("h2", "Order-by-order ablation"),
        ("p", f"Loss (nats) with paths of order ≤ k, patterns frozen, on {report.ablation_data}; "
              f"uniform prediction {a.uniform:.4f}, full model {a.full:.4f}."),
        ("table", ["order", "loss", "reduction"], rows),
        ("table", ["layer", "reduction"], layers),
        ("figure", "ablation", "Order-by-order ablation"),
    ]  # fmt: skip


def as_markdown(report, directory) -> str:
    """Markdown of :func:`blocks`; the figures are written as ``NAME.png`` into ``directory``."""
    folder = _directory(directory)
    lines = []
    for block in blocks(report):
        kind = block[0]
        if kind in ("h1", "h2"):
            lines.append(f"{'#' * int(kind[1])} {block[1]}")
        elif kind == "p":
            lines.append(block[1])
        elif kind == "table":
            cells = [[str(c).replace("|", "\\|") for c in row] for row in block[2]]
            lines.append("\n".join(
                ["| " + " | ".join(block[1]) + " |", "|" + "---|" * len(block[1])]
                + ["| " + " | ".join(row) + " |" for row in cells]
            ))  # fmt: skip
        elif block[1] in report.figures:
            report.figures[block[1]].save(folder / f"{block[1]}.png")
            lines.append(f"![{block[2]}]({block[1]}.png)")
    return "\n\n".join(lines) + "\n"


def as_html(report) -> str:
    """One self-contained HTML page of :func:`blocks`."""
    body = []
    for block in blocks(report):
        kind = block[0]
        if kind in ("h1", "h2", "p"):
            body.append(f"<{kind}>{html.escape(block[1])}</{kind}>")
        elif kind == "table":
            head = "".join(f"<th>{html.escape(c)}</th>" for c in block[1])
            rows = "".join("<tr>" + "".join(_cell(c) for c in row) + "</tr>" for row in block[2])
            body.append(f"<table><tr>{head}</tr>{rows}</table>")
        elif block[1] in report.figures:
            data = base64.b64encode(report.figures[block[1]].to_bytes("png")).decode()
            body.append(
                f'<figure><img alt="{html.escape(block[2])}" src="data:image/png;base64,{data}">'
                f"<figcaption>{html.escape(block[2])}</figcaption></figure>"
            )
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Circuits report{html.escape(_of(report.model))}</title>"
        f"<style>{_STYLE}</style></head><body>\n" + "\n".join(body) + "\n</body></html>\n"
    )


def _of(model: dict) -> str:
    """``" of NAME"`` for a shipped model, else nothing."""
    return f" of {model['name']}" if model.get("name") else ""


def _cell(value: object) -> str:
    text = str(value)
    numeric = text.lstrip("+-").replace(".", "", 1).replace(" *", "").isdigit()
    if numeric:
        return f'<td class="n">{html.escape(text)}</td>'
    if "…" in text:  # a skip-trigram: monospace, as the text report shows it
        return f"<td><code>{html.escape(text)}</code></td>"
    return f"<td>{html.escape(text)}</td>"


def _directory(directory) -> Path:
    """``directory`` as an existing directory (made if missing, its parent existing)."""
    folder = Path(directory)
    if folder.exists() and not folder.is_dir():
        raise TensorAlgebraError(f"out {str(folder)!r} is not a directory")
    try:
        folder.mkdir(exist_ok=True)
    except OSError as error:
        raise TensorAlgebraError(
            f"cannot make the directory {str(folder)!r}: {error.strerror}"
        ) from None
    return folder
