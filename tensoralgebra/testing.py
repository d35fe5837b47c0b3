"""Assertions for test suites: an expansion agrees with the model's forward passes.

Each raises ``AssertionError`` with a message naming the check (the logits, or the head), the
worst term and the size of the error, and what else failed: terms that ``ta.expand`` lost,
repeated or changed, values that are not finite (and where).

>>> import tensoralgebra as ta
>>> from tensoralgebra.testing import assert_expansion
>>> model = ta.AttentionOnlyTransformer(ta.Weights.random(
...     ta.Architecture(heads=(1, 2)), d_model=8, d_head=2, d_vocab=9, n_ctx=5))
>>> report = assert_expansion(model, [[1, 2, 3, 4]])
>>> report
VerifyReport(Architecture(heads=(1, 2)), float64: 6 checks, ok)
"""

from __future__ import annotations

import numpy as np

from tensoralgebra import validation
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.numeric.report import Check, VerifyReport
from tensoralgebra.numeric.verification import verify


def _fail(report: VerifyReport, checks: list[Check]) -> None:
    bad = [c for c in checks if not c.ok]
    if not bad:
        return
    lines = [
        f"{len(bad)} of {len(checks)} expansion checks failed ({report.dtype}, "
        f"relative tolerance {report.tolerance:.0e}, {report.architecture}):"
    ]
    for c in bad:
        lines.append(f"  {c.name}: {_describe(c)}")
        lines += [f"    {failure}" for failure in c.failures]
    raise AssertionError("\n".join(lines))


def _checked(c: Check) -> str:
    """What a check is of: ``logits``, ``scores L1H0`` (also for ``expansion=``'s check)."""
    return c.name.removeprefix("expansion of ")


def _describe(c: Check) -> str:
    what = (
        f"{c.terms} terms where the closed form says {c.expected_terms}; "
        if c.expected_terms is not None and c.terms != c.expected_terms
        else ""
    )
    what += f"sum of terms off by {c.sum_abs:.3e} (relative {c.sum_rel:.3e})"
    if c.term_rel is not None:
        what += f"; worst term {c.worst_term}: off by {c.term_abs:.3e} (relative {c.term_rel:.3e})"
    if c.expr_rel is not None:
        what += f"; printed terms evaluated: relative {c.expr_rel:.3e}"
    if c.expanded_rel is not None:
        what += f"; ta.expand's {c.expanded} terms evaluated: relative {c.expanded_rel:.3e}"
    return what


def assert_logit_expansion(model, tokens, max_order: int | None = None, **options) -> VerifyReport:
    """The logit terms sum to the logits, and each equals its path-restricted forward pass.

    ``options`` go to :func:`~tensoralgebra.verify` (``trace``, ``backend``, ``tolerance``, ...).
    """
    report = verify(model, tokens, max_order, **options)
    # With ``expansion=`` the one check is named "expansion of logits".
    _fail(report, [c for c in report.checks if _checked(c).startswith("logits")])
    return report


def assert_score_expansion(
    model, tokens, max_order: int | None = None, *, head: tuple[int, int] | None = None, **options
) -> VerifyReport:
    """Every head's score terms (or only ``head`` = ``(layer, head)``'s) sum to its recorded
    scores, and each equals the scores of its query and key paths' restricted passes."""
    if head is not None:
        if isinstance(head, (str, bytes)) or not hasattr(head, "__len__") or len(head) != 2:
            raise TensorAlgebraError(f"head is {head!r}: expected a (layer, head) pair")
        head = tuple(
            validation.integer(v, f"the {w} of head") for w, v in zip(("layer", "head"), head)
        )
    report = verify(model, tokens, max_order, **options)
    name = None if head is None else f"scores L{head[0]}H{head[1]}"
    checks = [
        c for c in report.checks if _checked(c).startswith("scores") and name in (None, _checked(c))
    ]
    if name is not None and not checks:
        raise AssertionError(f"the model has no head {head}: nothing named {name} was checked")
    _fail(report, checks)
    return report


def assert_expansion(model, tokens, max_order: int | None = None, **options) -> VerifyReport:
    """Both: the logit expansion and every head's score expansion."""
    report = verify(model, tokens, max_order, **options)
    _fail(report, list(report.checks))
    return report


def assert_expansion_on_random_model(
    arch,
    *,
    seed: int = 0,
    d_model: int = 6,
    d_head: int = 3,
    d_vocab: int = 7,
    n_ctx: int = 5,
    batch: int = 2,
    **options,
) -> VerifyReport:
    """:func:`assert_expansion` on a random model of ``arch`` (``ta.Weights.random`` with these
    sizes and ``seed``) and ``batch`` random sequences of length ``n_ctx`` drawn from ``seed``.

    >>> import tensoralgebra as ta
    >>> assert_expansion_on_random_model(ta.Architecture(heads=(1, 2)), seed=3).ok
    True
    """
    from tensoralgebra.numeric import AttentionOnlyTransformer, Weights

    weights = Weights.random(
        arch, d_model=d_model, d_head=d_head, d_vocab=d_vocab, n_ctx=n_ctx, seed=seed
    )
    batch = validation.positive_integer(batch, "batch")
    tokens = np.random.default_rng(seed).integers(0, weights.d_vocab, size=(batch, weights.n_ctx))
    return assert_expansion(AttentionOnlyTransformer(weights), tokens, **options)
