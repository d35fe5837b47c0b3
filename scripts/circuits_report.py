"""Render the example of docs/report.md and the figure of docs/skip-trigrams.md: the circuits
report of a seeded random two-layer model over the ``stdlib-chars`` vocabulary, its tokens decoded
as characters and its ablation on that dataset's held-out text.

Run from the repository root: ``PYTHONPATH=. python scripts/circuits_report.py [FILE.html]``
(writes docs/report-example/ and docs/figures/skip-trigrams-random.png; with FILE.html, the
self-contained HTML report too).
"""

import sys
from pathlib import Path

import tensoralgebra as ta
from tensoralgebra import circuits
from tensoralgebra.training.data import dataset

DOCS = Path(__file__).resolve().parents[1] / "docs"


def main() -> None:
    data = dataset("stdlib-chars")
    arch = ta.Architecture((2, 2))
    w = ta.Weights.random(arch, d_model=32, d_head=8, d_vocab=data.d_vocab, n_ctx=32, seed=0)
    tokens = data.held_out(w.n_ctx, 64)
    result = circuits.report(w, tokens, data, samples=2000, seed=0)
    (DOCS / "report-example").mkdir(exist_ok=True)
    markdown = result.to_markdown(DOCS / "report-example")
    (DOCS / "report-example" / "report.md").write_text(markdown, encoding="utf-8")
    tables = [circuits.skip_trigrams(w, 0, h, k=4, destinations=2, decode=data) for h in (0, 1)]
    circuits.skip_trigram_figure(tables).save(DOCS / "figures" / "skip-trigrams-random.png")
    for table in tables:
        print(table)
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(result.to_html(), encoding="utf-8")
    print(result.to_text())


if __name__ == "__main__":
    main()
