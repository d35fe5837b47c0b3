"""Render the figures of the analysis pages (docs/composition.md, copying.md, detectors.md,
ablation.md, skip-trigrams.md) from the shipped models, and print the numbers they show.

Run from the repository root: ``PYTHONPATH=. python scripts/circuit_figures.py`` (writes
docs/figures/; the example report is scripts/circuits_report.py's).
"""

from pathlib import Path

import numpy as np

from tensoralgebra import circuits, models

OUT = Path(__file__).resolve().parents[1] / "docs" / "figures"


def composition_and_copying() -> None:
    for name, short in (("two-layer-induction", "induction"), ("two-layer-stdlib", "stdlib")):
        w = models.load(name).weights
        table = circuits.composition_scores(w, "K", samples=2000, seed=0)
        circuits.composition_figure(table).save(OUT / f"composition-{short}-k.png")
        copying = circuits.copying_scores(w)
        circuits.eigenvalue_figure(copying).save(OUT / f"eigenvalues-{short}-ov.png")
        print(name, table, copying, sep="\n")


def attention() -> None:
    model = models.load("two-layer-induction")
    prompt = circuits.repeated_random_tokens(model.weights.d_vocab, 10, 1, seed=0)[0]
    figure = circuits.plot_attention(model, prompt, heads=[(0, 0), (1, 0), (1, 1)])
    figure.save(OUT / "attention-induction.png")


def ablation() -> None:
    table = circuits.order_ablation("two-layer-stdlib")
    circuits.plot_order_ablation(table).save(OUT / "ablation-stdlib.png")
    print(table)


def skip_trigram_table() -> None:
    model = models.load("one-layer-stdlib")
    vocabulary = np.unique(model.dataset.held_out(model.n_ctx, 64))
    tables = [
        circuits.skip_trigrams(
            model, 0, h, k=5, destinations=2, decode=model.dataset, vocabulary=vocabulary
        )
        for h in (0, 3)
    ]
    circuits.skip_trigram_figure(tables).save(OUT / "skip-trigrams-stdlib.png")
    for table in tables:
        print(table)


def main() -> None:
    OUT.mkdir(exist_ok=True)
    composition_and_copying()
    attention()
    ablation()
    skip_trigram_table()


if __name__ == "__main__":
    main()
