"""Skip-trigrams: the ``[source] … [destination] → [out]`` triples a head implements.

A one-layer head attends from the present token (the *destination*, the query) to an earlier
token (the *source*, the key) and, having attended to it, raises the logit of some next token
(the *out*). The paper reads these triples off the head's two full circuits
(:mod:`~tensoralgebra.circuits.full`):

- the OV circuit ``W_U W_OV^h W_E`` [d_vocab, d_vocab]: entry ``(out, source)`` is the logit
  the head adds to ``out`` when it attends to ``source``;
- the QK circuit ``W_E^T W_QK^h W_E`` [d_vocab, d_vocab] (unscaled by ``1/sqrt(d_head)``, no
  positional part): entry ``(destination, source)`` is the attention score from ``destination``
  to ``source``.

**Ranking.** (1) the ``k`` largest OV entries ``(out, source)`` over every out token and the
scanned sources, largest first (ties: by out, then source id); (2) for each of them, the
``destinations`` tokens with the largest QK entry ``(destination, source)``, largest first (ties:
by token id). Triples are listed in that order: OV entry first, then QK entry. So the table is
"what each source most promotes, and who attends to that source most".

**Bounds.** Both circuits stay factored (:class:`~tensoralgebra.circuits.FactoredMatrix`):
step (1) scans ``d_vocab × n_sources`` entries in row blocks (``d_vocab · n_sources · d_head``
multiply-adds, at most :data:`MAX_WORK`), step (2) computes one QK column of ``d_vocab`` entries
per source it names. A vocabulary whose full scan is over the bound is refused up front with the
number of sources that fits: ``sources=N`` scans the ``N`` source tokens of largest OV column
norm ``||W_U W_OV^h W_E[:, s]||`` (computed from the factors, ``O(d_vocab d_head²)``), exactly.

>>> import tensoralgebra as ta
>>> w = ta.Weights.random(ta.Architecture((1,)), d_model=16, d_head=4, d_vocab=20, n_ctx=4)
>>> table = skip_trigrams(w, 0, 0, k=3, destinations=2)
>>> len(table.triples), table.head, table.sources
(6, (0, 0), 20)
>>> t = table.triples[0]
>>> bool(t.ov == ov_circuit(w, 0, 0).dense()[t.out, t.source])
True
>>> skip_trigrams(w, 0, 1)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: head 1 does not exist: layer 0 has heads 0..0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from tensoralgebra import validation
from tensoralgebra.circuits.composition import label
from tensoralgebra.circuits.factored_matrix import FactoredMatrix
from tensoralgebra.circuits.full import Head, Reader, ov_circuit, qk_circuit
from tensoralgebra.circuits.shipped import text_of
from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.training.data.text import TextBytes

#: Most multiply-adds the OV scan of one head may take (about a second on one core).
MAX_WORK = 2 * 10**9
#: Most OV entries (source → out pairs) one table lists.
MAX_K = 1000
#: Most destinations listed per pair.
MAX_DESTINATIONS = 100

RANKING = (
    "the k largest OV entries (out, source) over the scanned sources, largest first; for each, "
    "the destinations with the largest QK entries (destination, source), largest first"
)


@dataclass(frozen=True)
class Triple:
    """One skip-trigram: token ids and the two circuit entries that rank it."""

    source: int
    destination: int
    out: int
    qk: float
    ov: float


def decoder(decode: object, d_vocab: int) -> Callable[[int], str] | None:
    """``decode`` as a function token → text, checked on the model's vocabulary: ``None``; a
    dataset (anything with a ``decode`` method and a ``d_vocab``, as
    :class:`~tensoralgebra.training.data.base.TokenData`), whose ``d_vocab`` must be the
    model's (bytes, ``stdlib``, one at a time as :func:`~tensoralgebra.circuits.shipped.text_of`
    shows them: ``\\xc3``); or a function of a list of token ids, as ``TokenData.decode`` is.
    Refused when it cannot decode the model's first and last tokens."""
    if decode is None:
        return None
    if hasattr(decode, "decode") and hasattr(decode, "d_vocab"):
        if decode.d_vocab != d_vocab:
            raise TensorAlgebraError(
                f"the decoder's dataset {getattr(decode, 'name', '')!r} has d_vocab="
                f"{decode.d_vocab}, the model {d_vocab}: it does not decode this model's tokens"
            )
        if isinstance(decode, TextBytes):
            return text_of(decode)  # one byte at a time, readable (UTF-8 would give U+FFFD)
        decode = decode.decode
    if not callable(decode):
        raise TensorAlgebraError(
            f"decode is {decode!r}: expected a dataset or a function of a list of token ids"
        )
    for token in sorted({0, d_vocab - 1}):
        try:
            text = decode([token])
        except Exception as error:  # a decoder is user code: any failure is a bad decoder
            raise TensorAlgebraError(
                f"decode cannot decode token {token} of this model (d_vocab={d_vocab}): {error}"
            ) from None
        if not isinstance(text, str):
            raise TensorAlgebraError(f"decode([{token}]) gave {text!r}: expected a str")
    return lambda token: decode([int(token)])


def shown(text: str) -> str:
    """``text`` with control characters escaped (a newline as ``\\n``), for one table cell."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


@dataclass(frozen=True, eq=False)
class SkipTrigrams:
    """A head's skip-trigram table: ``triples`` in the module's ranking, from ``sources`` scanned
    source tokens of ``d_vocab``; ``text`` maps every token in the table to its decoded text
    (empty without a decoder)."""

    head: Head
    triples: tuple[Triple, ...]
    sources: int
    d_vocab: int
    text: dict[int, str]

    def token(self, token: int) -> str:
        """``[text]`` with a decoder, ``[id]`` without."""
        return f"[{shown(self.text[token])}]" if self.text else f"[{token}]"

    def trigram(self, t: Triple) -> str:
        """``[source] … [destination] → [out]``."""
        return f"{self.token(t.source)} … {self.token(t.destination)} → {self.token(t.out)}"

    def to_dict(self) -> dict:
        """A JSON-ready dict: the head, the ranking, and every triple's ids, text and entries."""
        rows = [
            {**vars(t), "trigram": self.trigram(t)}
            | ({"text": [self.text[x] for x in (t.source, t.destination, t.out)]} if self.text
               else {})
            for t in self.triples
        ]  # fmt: skip
        return {
            "head": label((self.head,)),
            "layer": self.head[0],
            "head_index": self.head[1],
            "sources_scanned": self.sources,
            "d_vocab": self.d_vocab,
            "ranking": RANKING,
            "triples": rows,
        }

    def rows(self) -> list[tuple[str, str, str]]:
        """``(trigram, QK, OV)`` strings, one per triple."""
        return [(self.trigram(t), f"{t.qk:+.3f}", f"{t.ov:+.3f}") for t in self.triples]

    def to_markdown(self) -> str:
        """A markdown table (``|`` in decoded text escaped)."""
        lines = [
            f"Skip-trigrams of {label((self.head,))} ({self.sources} of {self.d_vocab} sources "
            "scanned)",
            "",
            "| # | source … destination → out | QK | OV |",
            "|---|---|---:|---:|",
        ]
        for i, (trigram, qk, ov) in enumerate(self.rows(), 1):
            cell = trigram.replace("|", "\\|").replace("`", "\\`")
            lines.append(f"| {i} | `{cell}` | {qk} | {ov} |")
        return "\n".join(lines)

    def __str__(self) -> str:
        rows = self.rows()
        width = max((len(r[0]) for r in rows), default=0)
        lines = [
            f"skip-trigrams of {label((self.head,))} ({self.sources} of {self.d_vocab} "
            "sources scanned; QK: attention score, OV: logit added)"
        ]
        lines += [f"  {trigram:<{width}}  QK {qk}  OV {ov}" for trigram, qk, ov in rows]
        return "\n".join(lines)


def skip_trigrams(
    model: object,
    layer: int,
    head: int,
    *,
    k: int = 10,
    destinations: int = 3,
    sources: int | None = None,
    decode: object = None,
    vocabulary: object = None,
    fold_ln: bool = True,
) -> SkipTrigrams:
    """Head ``(layer, head)``'s skip-trigram table: the ``k`` top OV entries, each with its
    ``destinations`` top QK destinations (the module's ranking), over every source token
    (``sources=None``) or the ``sources`` of largest OV column norm; ``decode`` as
    :func:`decoder` takes it. ``vocabulary``: the token ids the table may name (as source,
    destination and out; default all): a trained model's rare tokens (bytes it hardly saw) have
    large, meaningless entries, so its table reads best over the tokens of its data. Refused
    (:class:`~tensoralgebra.ExpansionLimitError`, naming ``sources``) when the scan would exceed
    :data:`MAX_WORK` multiply-adds."""
    reader = Reader(model, fold_ln)
    layer, head = reader.checked(layer, head)
    ov, qk = (
        ov_circuit(model, layer, head, fold_ln=fold_ln),
        qk_circuit(model, layer, head, fold_ln=fold_ln),
    )
    d_vocab = ov.shape[0]
    text = decoder(decode, d_vocab)
    allowed = _vocabulary(vocabulary, d_vocab)
    scanned = np.intersect1d(scanned_sources(ov, sources), allowed)
    if not scanned.size:
        raise TensorAlgebraError("no source token is both scanned (sources) and in vocabulary")
    n = len(allowed)
    k = validation.positive_integer(k, "k", maximum=min(MAX_K, n * len(scanned)))
    destinations = validation.positive_integer(
        destinations, "destinations", maximum=min(MAX_DESTINATIONS, n)
    )
    top = FactoredMatrix(_rows(ov.A, allowed), ov.B[:, scanned]).top_k(k, "largest")
    best = {s: _destinations(qk, s, destinations, allowed) for s in set(scanned[top.cols].tolist())}
    triples = tuple(
        Triple(int(s), int(d), int(o), float(q), float(v))
        for o, s, v in zip(allowed[top.rows], scanned[top.cols], top.values)
        for d, q in best[int(s)]
    )
    tokens = {x for t in triples for x in (t.source, t.destination, t.out)}
    names = {x: text(x) for x in sorted(tokens)} if text else {}
    return SkipTrigrams((layer, head), triples, len(scanned), d_vocab, names)


def check_scan(d_vocab: int, d_head: int, sources: object) -> int:
    """The number of sources a scan of a [d_vocab, d_vocab] OV circuit of rank ``d_head``
    reads (all for ``sources=None``), refused when it would take over :data:`MAX_WORK`
    multiply-adds, with the number of sources that fits."""
    fits = MAX_WORK // (d_vocab * d_head)
    n = (
        d_vocab
        if sources is None
        else validation.positive_integer(sources, "sources", maximum=d_vocab)
    )
    work = n * d_vocab * d_head
    if work > MAX_WORK:
        what = f"all {n:,} source tokens" if sources is None else f"{n:,} source tokens"
        raise ExpansionLimitError(
            f"scanning {what} of a head's OV circuit (d_vocab={d_vocab:,}, d_head={d_head}) "
            f"would take {work:,} multiply-adds, over {MAX_WORK:,} (sources=N scans the N "
            "sources of largest OV column norm)",
            option="sources" if fits else None,
            value=fits or None,
        )
    return n


def scanned_sources(ov: FactoredMatrix, sources: object) -> np.ndarray:
    """The source ids to scan [n], ascending: all, or the ``sources`` of largest column norm
    (ties: lower id); refused as :func:`check_scan` says."""
    d_vocab = ov.shape[0]
    n = check_scan(d_vocab, ov.rank, sources)
    if sources is None:
        return np.arange(d_vocab)
    gram = np.ascontiguousarray(ov.A.T) @ ov.A  # [r, r]; a contiguous copy is several times faster
    norms = np.einsum("rs,rs->s", gram @ ov.B, ov.B)  # ||A B[:, s]||² = B_s^T (A^T A) B_s
    return np.sort(np.lexsort((np.arange(d_vocab), -norms))[:n])


def _destinations(
    qk: FactoredMatrix, source: int, n: int, allowed: np.ndarray
) -> list[tuple[int, float]]:
    """The ``n`` destinations among ``allowed`` (ids, ascending) of largest QK entry
    ``(destination, source)``, ties by id."""
    column = _rows(qk.A, allowed) @ qk.B[:, source]  # [len(allowed)]
    cut = np.partition(column, column.size - n)[column.size - n]
    candidates = np.flatnonzero(column >= cut)
    order = candidates[np.lexsort((candidates, -column[candidates]))][:n]
    return [(int(allowed[d]), float(column[d])) for d in order]


def _rows(factor: np.ndarray, allowed: np.ndarray) -> np.ndarray:
    """The rows ``allowed`` of a left factor [d_vocab, r]; the factor itself when all are (a
    copy would change the order of the floating-point sums)."""
    return factor if len(allowed) == len(factor) else factor[allowed]


def _vocabulary(vocabulary: object, d_vocab: int) -> np.ndarray:
    """The token ids a table may name, ascending and distinct: all, or ``vocabulary`` checked."""
    if vocabulary is None:
        return np.arange(d_vocab)
    try:
        ids = np.asarray(vocabulary)
    except (TypeError, ValueError):
        ids = np.asarray([None])
    if ids.ndim != 1 or not ids.size or ids.dtype.kind not in "iu":
        raise TensorAlgebraError(
            f"vocabulary is {vocabulary!r}: expected a non-empty list of token ids"
        )
    if ids.min() < 0 or ids.max() >= d_vocab:
        raise TensorAlgebraError(
            f"vocabulary has token {int(ids.min() if ids.min() < 0 else ids.max())}: the model's "
            f"tokens are 0..{d_vocab - 1}"
        )
    return np.unique(ids)
