"""The package's errors: one base type, so ``except TensorAlgebraError`` catches them all."""


class TensorAlgebraError(ValueError):
    """Bad input to tensoralgebra; the message names the offending value and what was expected."""


class SpaceMismatchError(TensorAlgebraError, TypeError):
    """An ill-typed product, Kronecker product or sum: the operands' spaces do not fit."""


class ExpansionLimitError(TensorAlgebraError):
    """An eager expansion would produce more terms than the limit allows."""
