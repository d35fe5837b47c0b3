"""Render the figures of docs/composition.md and docs/copying.md (a seeded random model).

Run from the repository root: ``PYTHONPATH=. python scripts/circuit_figures.py`` (writes
docs/figures/).
"""

from pathlib import Path

import tensoralgebra as ta
from tensoralgebra import circuits

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def main() -> None:
    OUT.mkdir(exist_ok=True)
    arch = ta.Architecture((4, 4))
    w = ta.Weights.random(arch, d_model=32, d_head=8, d_vocab=64, n_ctx=8, seed=0)
    table = circuits.composition_scores(w, "K", samples=2000, seed=0)
    circuits.composition_figure(table).savefig(OUT / "composition-random-k.png", dpi=110)
    copying = circuits.copying_scores(w)
    circuits.eigenvalue_figure(copying).savefig(OUT / "eigenvalues-random-ov.png", dpi=110)
    print(table)
    print(copying)


if __name__ == "__main__":
    main()
