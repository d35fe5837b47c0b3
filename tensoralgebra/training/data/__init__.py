"""Token datasets for training, each a :class:`~tensoralgebra.training.data.base.TokenData`."""

from tensoralgebra.training.data.base import TokenData

__all__ = ["TokenData"]
