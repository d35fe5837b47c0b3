"""``verify``: the expansion checked against real forward passes, sum and term by term.

For the logits and for every head's scores (docs/conventions.md §5), with the patterns of one
forward pass frozen:

- the sum of all terms (computed with shared prefixes, :mod:`~tensoralgebra.numeric.stacks`)
  against the forward pass: the logits, or the head's recorded (unscaled, pre-mask) scores;
- every term (up to ``term_budget`` per quantity, a stratified sample beyond) against the forward
  pass restricted to its path (what ``model.record(..., keep=path)`` computes, many paths in one
  batched pass: :mod:`~tensoralgebra.numeric.restricted`), a logit term in the residual stream
  as the unembedding reads it (:mod:`~tensoralgebra.numeric.logit_check`); a score term
  ``(q, k)`` through its sides, the head's conventional Q/K projections of the streams that the
  restricted passes of ``q`` and ``k`` feed into its layer, with a bound on each term's error
  (:mod:`~tensoralgebra.numeric.score_check`);
- the printed expression of each term (all of them, or an evenly spaced sample of
  ``expr_limit``), evaluated symbol by symbol, against the same value;
- the rule-based expansion itself (``ta.expand`` of the factored logits or scores, up to
  ``expansion_limit`` terms): every term evaluated, matched with the enumerated terms (none
  missing, repeated or unknown), their sum against the forward pass;
- for ``k`` below the top order, the terms of order ≤ k against the order-by-order ablated pass
  (``keep_order=k``); with ``max_order`` the sums are checked against that pass too.

Terms are streamed in chunks and never all held (docs/large-models.md). A value that is NaN or
infinite anywhere (forward pass, term, sum) fails its check, saying where.
With ``expansion=expr`` only that expression is checked (see :func:`verify`).

>>> import tensoralgebra as ta
>>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
...     ta.Architecture(heads=(2, 2)), d_model=16, d_head=4, d_vocab=20, n_ctx=8))
>>> report = ta.verify(model, [[1, 5, 2, 7, 7, 3], [0, 1, 2, 3, 4, 5]])
>>> report.ok, [(c.name, c.terms) for c in report.checks][:4]
(True, [('logits', 9), ('logits order≤0', 1), ('logits order≤1', 5), ('scores L0H0', 1)])
>>> [(c.name, c.expanded) for c in report.checks if c.expanded]  # ta.expand's terms evaluated
[('logits', 9), ('scores L0H0', 1), ('scores L0H1', 1), ('scores L1H0', 9), ('scores L1H1', 9)]
>>> max(c.sum_rel for c in report.checks) < 1e-12
True
"""

from __future__ import annotations

import numpy as np

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr.expand import cycle_collection_paused
from tensoralgebra.expr.nodes import Expr
from tensoralgebra.expr.spaces import POSITIONS, VOCAB, Space
from tensoralgebra.numeric import budget
from tensoralgebra.numeric.bind import BACKENDS, Bindings
from tensoralgebra.numeric.expansion_check import EXPANSION_LIMIT
from tensoralgebra.numeric.model import check_model
from tensoralgebra.numeric.quantities import Run
from tensoralgebra.numeric.report import TOLERANCE, VerifyReport
from tensoralgebra.numeric.trace import Trace


def verify(
    model,
    tokens,
    max_order: int | None = None,
    *,
    trace=None,
    backend: str = "numpy",
    per_term: bool = True,
    expr_limit: int = 256,
    tolerance: float | None = None,
    expansion: Expr | None = None,
    of: str | tuple[int, int] = "logits",
    expansion_limit: int = EXPANSION_LIMIT,
    max_bytes: int = budget.MEMORY_BUDGET,
    term_budget: int = budget.TERM_BUDGET,
    sample_seed: int = 0,
) -> VerifyReport:
    """Check the logit and score expansions of ``model`` on ``tokens`` [batch, seq].

    ``max_order``: only paths of order ≤ it (each side of a score term likewise). ``trace``: the
    forward pass to check against (default: a fresh one); pass one recorded earlier to check that
    the model still computes it. ``per_term=False`` skips the checks of terms one by one
    against their restricted passes. ``tolerance``: relative, by default
    :data:`~tensoralgebra.numeric.report.TOLERANCE` of the model's dtype. Errors are relative to
    the size of what is compared, and at least to the size rounding errors scale with:
    ``||W_U||_2 max_i Σ_p |r_{p,i}|`` for logits and ``||W_QK||_2 (max_i Σ_p |r_{p,i}|)²`` for
    scores, over the path streams ``r_p`` (values that cancel to nearly zero are no yardstick).

    ``expansion``: check this expression instead, an expression of the logits (``of="logits"``)
    or of one head's scores (``of=(layer, head)``), factored or expanded, concrete or with sums
    over heads: its value against the forward pass, and its terms against the enumerated terms
    (a term missing or repeated fails; terms written otherwise are compared by value only).

    ``expansion_limit``: the most terms of an expansion evaluated one by one (above it the
    rule-based expansion is not checked, and the report says so). ``max_bytes``: a run whose
    intermediate arrays would exceed it is refused up front
    (:class:`~tensoralgebra.ExpansionLimitError`, with a ``term_budget`` or ``max_order`` that
    fits). Terms are streamed in chunks sized to ``max_bytes``: no run holds every term.

    ``term_budget``: per quantity (the logits, one head's scores), every term is checked
    against its restricted pass when there are at most this many, else a stratified sample of
    this many drawn from ``sample_seed`` (every order, kind, head and source, each at least once,
    even where that takes more than ``term_budget``); each check's
    ``checked`` and ``checked_how`` say which. The sums of all terms are always exact and
    complete.

    Python's cyclic garbage collector is paused while ``verify`` runs (as while ``ta.expand``
    does), and restored when it returns: nothing it makes forms a reference cycle, so all it
    drops is freed at once, and each collection would walk every object made since the last.
    """
    model = check_model(model, "verify")
    arch = model.architecture
    array = model.tokens(tokens)
    n = arch.n_layers
    top = validation.optional_integer(
        max_order, "max_order", low=0, high=n + 1, context=f"paths of this model have order 0..{n}"
    )
    validation.choice(backend, "backend", BACKENDS)
    per_term = validation.flag(per_term, "per_term")
    limits = {
        "expr_limit": validation.integer(expr_limit, "expr_limit", low=0),
        "expansion_limit": validation.integer(expansion_limit, "expansion_limit", low=0),
    }
    max_bytes = validation.positive_integer(max_bytes, "max_bytes")
    limits["term_budget"] = validation.positive_integer(term_budget, "term_budget")
    limits["seed"] = validation.seed(sample_seed, "sample_seed")
    limits["max_bytes"] = max_bytes
    # Sizes from the model itself: model.weights would copy every weight (Bindings holds a view).
    d_model, d_vocab = model.W_E.shape
    dtype = str(model.W_E.dtype).removeprefix("torch.")
    tol = (
        TOLERANCE[dtype]
        if tolerance is None
        else validation.positive_number(tolerance, "tolerance")
    )
    target = _target(expansion, of, arch)
    _check_trace(trace, array)
    sizes = {
        "d_model": int(d_model),
        "d_head": model.d_head,
        "d_vocab": int(d_vocab),
        "n_ctx": model.n_ctx,
        "batch": array.shape[0],
        "seq": array.shape[1],
    }
    need = {**sizes, "itemsize": np.dtype(dtype).itemsize, "on_host": model.device.type == "cpu"}
    checked = per_term and expansion is None
    budget.check_verify(arch, top, checked, need, max_bytes, limits["term_budget"], limits)
    limits["chunk"], limits["block"] = budget.verify_chunks(need, n, max_bytes)
    # Overflow is reported by the checks themselves, with where it happened. The cyclic garbage
    # collector waits until the end: a run makes no reference cycles (everything it drops is
    # freed at once), and each collection would walk every object made since the last one.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"), cycle_collection_paused():
        reference = model.record(array) if trace is None else trace
        run = Run(model, array, reference, Bindings(model, reference, backend), tol, limits)
        checks = run.all(top, per_term) if target is None else [run.given(expansion, target, top)]
    return VerifyReport(repr(arch), sizes, dtype, tol, tuple(checks))


def _check_trace(trace: object, tokens: np.ndarray) -> None:
    if trace is None:
        return
    if not isinstance(trace, Trace):
        raise TensorAlgebraError(
            f"trace must be a Trace (from model.run) or None, got {type(trace).__name__}"
        )
    if not np.array_equal(trace.tokens, tokens):
        raise TensorAlgebraError("the trace given was recorded on other tokens than these")


def _target(expansion: object, of: object, arch) -> str | tuple[int, int] | None:
    """What ``expansion`` is an expression of: ``"logits"`` or a ``(layer, head)``; ``None``
    when there is no expansion (and ``of`` must be left alone)."""
    if expansion is None:
        if isinstance(of, str) and of == "logits":
            return None
        raise TensorAlgebraError(f"of={of!r} says what expansion= is of, but no expansion is given")
    if not isinstance(expansion, Expr):
        raise TensorAlgebraError(
            f"expansion must be an expression (ta.expand(...), ta.logits(...), ...), got "
            f"{type(expansion).__name__}"
        )
    if isinstance(of, str):
        validation.choice(of, "of", ("logits",))
        if expansion.rows != Space.of(POSITIONS, VOCAB):
            raise TensorAlgebraError(
                f"expansion maps to {expansion.rows}, but an expression of the logits maps to "
                f"{Space.of(POSITIONS, VOCAB)}; for a head's scores pass of=(layer, head)"
            )
        return "logits"
    if isinstance(of, (bytes, bool)) or not isinstance(of, (tuple, list)) or len(of) != 2:
        raise TensorAlgebraError(f"of is {of!r}: expected 'logits' or a (layer, head) pair")
    layer = validation.integer(of[0], "the layer of of=", low=0, high=arch.n_layers)
    heads = arch.heads[layer]
    context = f"layer {layer} has heads 0..{heads - 1}" if heads else f"layer {layer} has no heads"
    head = validation.integer(of[1], "the head of of=", low=0, high=heads, context=context)
    if len(expansion.rows.parts[0].factors) != 3:
        raise TensorAlgebraError(
            f"expansion maps to {expansion.rows}, but an expression of a head's scores is a form "
            "on positions⊗positions⊗source (as ta.scores and its expansion are)"
        )
    return (layer, head)
