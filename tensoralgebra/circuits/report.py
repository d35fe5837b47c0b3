"""The circuits report of one model: every analysis of the package in one document.

:func:`report` runs, on a model (:class:`~tensoralgebra.Weights` or an
:class:`~tensoralgebra.AttentionOnlyTransformer`):

1. the Q-, K- and V-composition scores of every pair of heads, baseline-subtracted
   (:func:`~tensoralgebra.circuits.composition_scores`);
2. the OV and QK copying scores ``Σλ/Σ|λ|`` (:func:`~tensoralgebra.circuits.copying_scores`);
3. the previous-token, duplicate-token and induction detectors on repeated random sequences
   (:func:`~tensoralgebra.circuits.detect_heads`);
4. the skip-trigram tables of ``heads`` (default: the ``top_heads`` heads of largest full-OV
   Frobenius norm, the heads that write most into the logits; :mod:`.skip_trigrams`);
5. the order-by-order ablation on ``tokens`` [n, n_ctx] (a dataset: full-context sequences; a
   trained model's held-out set), or, without ``tokens``, on a shipped model's own held-out
   text (:mod:`~tensoralgebra.circuits.shipped`), else on the detectors' repeated random
   sequences, which the report says (:func:`~tensoralgebra.circuits.order_ablation`);
6. the figures of :mod:`~tensoralgebra.circuits.plots` (the attention patterns on the first
   :data:`PROMPT` tokens of the ablation's first sequence).

The :class:`Report` renders as text, JSON (every number), markdown (figures as PNG files beside
it) and self-contained HTML (:mod:`~tensoralgebra.circuits.report_render`). Everything that
could take long is checked first: the skip-trigram scan (``sources``), at most
:data:`MAX_SEQUENCES` sequences, the composition baseline's ``samples``.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((2, 2)), d_model=16, d_head=4, d_vocab=12, n_ctx=8)
>>> r = report(w, samples=100, top_heads=1, figures=False)
>>> sorted(r.to_dict()), r.skip_trigrams[0].head
(['ablation', 'composition', 'copying', 'detectors', 'model', 'skip_trigrams'], (1, 1))
>>> report(w, tokens=[[1, 2, 3]])  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: the report: the tokens have sequences of length 3, ...
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits import shipped
from tensoralgebra.circuits.composition import KINDS, CompositionScores, composition_scores
from tensoralgebra.circuits.copying import CopyingScores, copying_scores
from tensoralgebra.circuits.full import Head, Reader, ov_circuit
from tensoralgebra.circuits.skip_trigrams import SkipTrigrams, check_scan, decoder
from tensoralgebra.circuits.skip_trigrams import skip_trigrams as skip_trigram_table
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError

#: Most dataset sequences the ablation reads in a report.
MAX_SEQUENCES = 512
#: Most tokens of the prompt whose attention patterns are drawn.
PROMPT = 16
#: Most heads whose attention patterns are drawn.
PATTERN_HEADS = 2


@dataclass(eq=False)
class Report:
    """The analyses of one model (see the module's docstring); ``figures`` maps a figure's
    name to its :class:`~tensoralgebra.circuits.figures.CircuitFigure` (empty when not drawn)."""

    model: dict
    composition: dict[str, CompositionScores]
    copying: dict[str, CopyingScores]
    detectors: dict
    skip_trigrams: list[SkipTrigrams]
    ablation: object
    ablation_data: str
    figures: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """Every number of the report, JSON-ready."""
        from tensoralgebra.circuits.report_render import as_dict

        return as_dict(self)

    def to_text(self) -> str:
        """The report for a terminal."""
        from tensoralgebra.circuits.report_render import as_text

        return as_text(self)

    def to_html(self) -> str:
        """One self-contained HTML page (figures inlined as base64 PNG; no external file)."""
        from tensoralgebra.circuits.report_render import as_html

        return as_html(self)

    def to_markdown(self, directory) -> str:
        """Markdown that shows the figures, written as PNG files into ``directory``."""
        from tensoralgebra.circuits.report_render import as_markdown

        return as_markdown(self, directory)

    def __str__(self) -> str:
        return self.to_text()


def report(
    model: object,
    tokens: object = None,
    decode: object = None,
    *,
    heads: object = None,
    top_heads: int = 3,
    k: int = 8,
    destinations: int = 2,
    sources: int | None = None,
    vocabulary: object = None,
    sequences: int = shipped.SEQUENCES,
    samples: int = 1000,
    seed: int = 0,
    figures: bool = True,
) -> Report:
    """The :class:`Report` of ``model`` (or the shipped model it names): ``tokens``
    [n ≤ MAX_SEQUENCES, n_ctx] for the ablation (default: the first ``sequences`` held-out
    sequences of a shipped model's own data, else repeated random sequences), ``decode`` a
    dataset or a function of token ids (as :func:`~tensoralgebra.circuits.skip_trigrams.decoder`;
    default: a shipped text model's dataset), ``heads`` the ``(layer, head)``
    pairs whose skip-trigram tables are shown (default: the ``top_heads`` of largest full-OV
    norm, or every head if the model has fewer), each with ``k`` OV entries and
    ``destinations`` destinations over ``sources``, naming only the tokens of ``vocabulary``
    (default: all; for a shipped text model, the tokens of its held-out sequences);
    ``samples`` and ``seed`` of the composition baseline and the detectors' sequences."""
    from tensoralgebra.circuits.ablation import order_ablation
    from tensoralgebra.circuits.detectors import detect_heads, repeated_random_tokens
    from tensoralgebra.circuits.passes import check_dataset
    from tensoralgebra.numeric.model import AttentionOnlyTransformer

    model = shipped.resolve(model)
    sequences = validation.positive_integer(sequences, "sequences", maximum=MAX_SEQUENCES)
    reader = Reader(model)
    weights = reader.weights
    if not reader.heads:
        raise TensorAlgebraError("the report needs a model with at least one head")
    if weights.n_ctx < 2:
        raise TensorAlgebraError(f"the report needs n_ctx ≥ 2, the model has {weights.n_ctx}")
    if decode is None and shipped.text_of(getattr(model, "dataset", None)) is not None:
        decode = model.dataset  # a shipped text model's tokens read as its text
        if vocabulary is None:  # and its tables name the tokens of its text, not rare bytes
            vocabulary = np.unique(shipped.held_out(model, sequences))
    text = decoder(decode, weights.d_vocab)
    chosen = _heads(reader, heads, top_heads)
    check_scan(weights.d_vocab, weights.d_head, sources)  # refused before any work
    seed = validation.seed(seed)
    figures = validation.flag(figures, "figures")
    transformer = (
        model if isinstance(model, AttentionOnlyTransformer) else AttentionOnlyTransformer(weights)
    )
    if tokens is None and transformer.dataset is not None:
        data = shipped.held_out(transformer, sequences)
        described = (
            f"{len(data)} held-out sequences of {data.shape[1]} tokens of "
            f"{transformer.dataset.name!r}, the data {transformer.name} was trained on"
        )
    elif tokens is None:
        data = repeated_random_tokens(weights.d_vocab, weights.n_ctx // 2, 16, seed)
        described = f"{len(data)} repeated random sequences of {data.shape[1]} tokens (seed {seed})"
    else:
        _, data = check_dataset(transformer, tokens, "the report", min_seq=2, full_context=True)
        if len(data) > MAX_SEQUENCES:
            raise ExpansionLimitError(
                f"the report's ablation reads at most {MAX_SEQUENCES} sequences, the tokens have "
                f"{len(data)} (give tokens[:{MAX_SEQUENCES}])"
            )
        described = f"{len(data)} given sequences of {data.shape[1]} tokens"
    tables = [
        skip_trigram_table(
            weights,
            *h,
            k=k,
            destinations=destinations,
            sources=sources,
            decode=decode,
            vocabulary=vocabulary,
        )
        for h in chosen
    ]
    result = Report(
        model={"name": transformer.name, **_summary(weights)},
        composition={
            kind: composition_scores(weights, kind, samples=samples, seed=seed) for kind in KINDS
        },
        copying={c: copying_scores(weights, circuit=c) for c in ("OV", "QK")},
        detectors=detect_heads(transformer, seed=seed),
        skip_trigrams=tables,
        ablation=order_ablation(transformer, data),
        ablation_data=described,
    )
    if figures:
        result.figures = _figures(result, transformer, data[0], text)
    return result


def _summary(weights) -> dict:
    arch = weights.architecture
    return {
        "heads": list(arch.heads),
        "d_model": weights.d_model,
        "d_head": weights.d_head,
        "d_vocab": weights.d_vocab,
        "n_ctx": weights.n_ctx,
        "normalization": weights.normalization,
        "positional": weights.positional,
        "dtype": str(weights.dtype),
    }


def _heads(reader: Reader, heads: object, top_heads: object) -> list[Head]:
    """The heads given (checked), or the ``top_heads`` of largest full-OV Frobenius norm."""
    if heads is not None:
        if isinstance(heads, (str, bytes)) or not hasattr(heads, "__iter__"):
            raise TensorAlgebraError(f"heads is {heads!r}: expected (layer, head) pairs")
        chosen = [reader.head(h, f"heads[{i}]") for i, h in enumerate(heads)]
        if not chosen:
            raise TensorAlgebraError("heads is empty: name at least one (layer, head) pair")
        return chosen
    n = validation.positive_integer(top_heads, "top_heads")  # at most: all the model has
    norms = [_frobenius(ov_circuit(reader.weights, *h)) for h in reader.heads]
    order = np.argsort(-np.array(norms), kind="stable")[:n]
    return [reader.heads[i] for i in order]


def _frobenius(matrix) -> float:
    """``||A B||_F = sqrt(tr(A^T A B B^T))`` of a factored matrix, through two [r, r] Gram
    matrices (faster than the QR of FactoredMatrix.frobenius_norm for d_vocab × d_head
    factors)."""
    left = np.ascontiguousarray(matrix.A.T) @ matrix.A
    right = matrix.B @ np.ascontiguousarray(matrix.B.T)
    return float(np.sqrt(max(float(np.sum(left * right)), 0.0)))


def _figures(result: Report, transformer, sequence: np.ndarray, text) -> dict:
    from tensoralgebra.circuits.plots import composition_figure, eigenvalue_figure
    from tensoralgebra.circuits.plots_attention import plot_attention, plot_order_ablation
    from tensoralgebra.circuits.plots_skip_trigrams import skip_trigram_figure

    flagged = [h for d in ("induction", "previous_token") for h in result.detectors[d].flagged]
    shown = list(dict.fromkeys(flagged + [t.head for t in result.skip_trigrams]))
    return {
        "composition-k": composition_figure(result.composition["K"]),
        "eigenvalues-ov": eigenvalue_figure(result.copying["OV"]),
        "attention": plot_attention(
            transformer, sequence[:PROMPT], heads=shown[:PATTERN_HEADS], decode=text
        ),
        "ablation": plot_order_ablation(result.ablation),
        "skip-trigrams": skip_trigram_figure(result.skip_trigrams),
    }
