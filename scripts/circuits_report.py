"""Render docs/report-example/: the circuits report of the shipped model two-layer-induction
(its ablation on its own held-out sequences).

Run from the repository root: ``PYTHONPATH=. python scripts/circuits_report.py [FILE.html]``
(with FILE.html, the self-contained HTML report too).
"""

import sys
from pathlib import Path

from tensoralgebra import circuits

DOCS = Path(__file__).resolve().parents[1] / "docs"
NAME = "two-layer-induction"


def main() -> None:
    result = circuits.report(NAME, samples=2000, seed=0)
    folder = DOCS / "report-example"
    folder.mkdir(exist_ok=True)
    for old in folder.glob("*.png"):
        old.unlink()
    markdown = result.to_markdown(folder)
    # The page's title in the site's sidebar, apart from docs/report.md's.
    markdown = markdown.replace(f"# Circuits report of {NAME}", f"# Example report: {NAME}", 1)
    (folder / "report.md").write_text(markdown, encoding="utf-8")
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(result.to_html(), encoding="utf-8")
    print(result.to_text())


if __name__ == "__main__":
    main()
