"""The package's errors: one base type, so ``except TensorAlgebraError`` catches them all.

>>> err = ExpansionLimitError("the logits of (8, 8, 8) have 729 terms, over the limit of 500",
...                           option="max_order", value=1)
>>> print(err)
the logits of (8, 8, 8) have 729 terms, over the limit of 500; max_order=1 fits
>>> err.reason, err.option, err.value
('the logits of (8, 8, 8) have 729 terms, over the limit of 500', 'max_order', 1)
"""

from __future__ import annotations


class TensorAlgebraError(ValueError):
    """Bad input to tensoralgebra; the message names the offending value and what was expected."""


class SpaceMismatchError(TensorAlgebraError, TypeError):
    """An ill-typed product, Kronecker product or sum: the operands' spaces do not fit."""


class ExpansionLimitError(TensorAlgebraError):
    """A request would produce more than a limit allows (terms, lines, bytes), refused up front.

    ``reason`` says what is too large, in words that hold for the API and the command line alike;
    ``option`` and ``value``, when given, name a parameter and a value of it that is known to fit
    (``option="max_order", value=1``), so a caller (the command line) can phrase the advice in
    its own terms (``--max-order 1``). Advice is only given when it has been checked to work.
    """

    def __init__(self, reason: str, *, option: str | None = None, value: object = None):
        self.reason = reason
        self.option = option
        self.value = value
        advice = "" if option is None else f"; {option}={value!r} fits"
        super().__init__(reason + advice)

    def __reduce__(self):
        return (_rebuild_limit_error, (self.reason, self.option, self.value))


def _rebuild_limit_error(reason, option, value) -> ExpansionLimitError:
    return ExpansionLimitError(reason, option=option, value=value)
