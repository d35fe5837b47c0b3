"""What a :func:`~tensoralgebra.verify` run measures errors against: comparisons that name
values that are not finite, the rounding floors of the logits and of a head's scores (from the
sizes of the terms they are sums of), and the checks' records.

:class:`Yardsticks` is part of :class:`~tensoralgebra.numeric.quantities.Run` and uses its state
(the architecture, the bindings, the reference trace, the tolerance).
"""

from __future__ import annotations

import numpy as np

from tensoralgebra.numeric import comparison as cmp
from tensoralgebra.numeric import stacks
from tensoralgebra.numeric.arrays import first_nonfinite
from tensoralgebra.numeric.expansion_check import Messages
from tensoralgebra.numeric.real_symbols import ln_bias
from tensoralgebra.numeric.report import Check
from tensoralgebra.symbols import W_K, W_Q, W_QK, W_pos


class Yardsticks:
    """Comparisons, error floors and records, for :class:`~tensoralgebra.numeric.quantities.Run`."""

    def numpy(self, value) -> np.ndarray:
        return self.b.ops.to_numpy(value)

    def compare(self, got, want, floor, failures, want_name, got_name="the sum of the terms"):
        """``(abs, rel)`` error of ``got`` against ``want``, relative to the larger of
        ``max |want|`` and ``floor``, with a failure for each of them that is not finite (and
        named: a ``None`` name is not looked at)."""
        for what, array in ((want_name, want), (got_name, got)):
            where = None if what is None else first_nonfinite(array)
            if where:
                failures.add(f"{what}: {where}")
        return cmp.errors(got, want, cmp.scale(want, want, floor))

    def term_error(self, want, bound):
        """``error(got, expected)`` for
        :func:`~tensoralgebra.numeric.expansion_check.compare_terms`: terms' errors [n] relative
        to their own size, ``want``'s (the quantity's) or ``bound``."""
        whole = cmp.largest_entry(want)
        return lambda got, expected: cmp.term_errors(got, expected, whole, bound)

    def check(self, name, terms, expected, errors, fields, failures, notes=None) -> Check:
        notes = () if notes is None else notes.as_tuple()
        return Check(
            name, terms, expected, *errors, **fields,
            failures=failures.as_tuple(), notes=notes, tolerance=self.tol,
        )  # fmt: skip

    def forward_problems(self, before: int, want, name: str, failures: Messages) -> None:
        """Values of the forward pass that are not finite: the patterns of the layers before
        ``before``, and ``want`` (the quantity checked), named ``name``."""
        for layer in range(before):
            where = first_nonfinite(self.reference.patterns[layer])
            if where:
                what = f"the forward pass's patterns[{layer}] [batch, head, query, key]"
                failures.add(f"{what}: {where}")
        where = first_nonfinite(want)
        if where:
            failures.add(f"{name}: {where}")

    @staticmethod
    def term_problems(worst_term: tuple, failures: Messages) -> None:
        rel = worst_term[0]
        if rel is not None and not np.isfinite(rel):
            failures.add(f"term {worst_term[2]}: its error against its restricted pass is {rel}")

    def logit_bound(self, stream, k: int, unembed: float) -> float:
        """``||W_U||_2 max_i Σ_p ||r_{p,i}||`` over the streams of the paths of order ≤ ``k``
        as the unembedding reads them (through the final frozen LayerNorm), plus the size of
        the logits' constant: the size rounding errors scale with.

        A logit is ``W_U r`` summed over paths, so its rounding errors scale with
        ``||W_U||_2`` times the size of the terms it is the sum of; the values themselves are
        no yardstick when they cancel to nearly zero (one position, a narrow model)."""
        bound = stream.stream_bound(k) * unembed
        if self.arch.biases:
            constant = stacks.unembedding_constant(self.b)
            bound += cmp.largest(self._float64(constant)) + unembed * self._ln_bias_norm(None)
        return bound

    def _ln_bias_norm(self, layer: int | None) -> float:
        return float(np.linalg.norm(ln_bias(self.b.weights, layer)))

    def score_bound(self, sides, head: int) -> float:
        """``||W_QK||_2 (max_i Σ_p ||r_{p,i}||)²`` over the side streams (see
        :meth:`logit_bound`). In real architectures the product of the sizes of the query and
        key sides, each ``||W_Q||_2 max_i Σ_p ||N r_p W̃^T||_i`` plus shortformer positions and
        the head's own constant."""
        layer, streams = sides.layer, sides.stream_size
        if self.arch.is_idealised:
            form = self._float64(self.b.matrix(W_QK((layer, head))))
            return streams**2 * cmp.norm2(form)
        out = 1.0
        for reads, side in ((W_Q, "query"), (W_K, "key")):
            norm = cmp.norm2(self._float64(self.b.matrix(reads((layer, head)))))
            size = streams * norm
            if self.arch.positional == "shortformer":
                size += norm * cmp.largest(self._float64(self.b.matrix(W_pos)).T)
            if self.arch.biases:
                own = stacks.own_constant(self.b, layer, head, side)
                size += cmp.largest(self._float64(own)) + norm * self._ln_bias_norm(layer)
            out *= size
        return out

    def _float64(self, value) -> np.ndarray:
        return np.asarray(self.numpy(value), dtype=np.float64)
