"""The error of weights files: one type, whose message names the file and what was expected.

>>> print(WeightsFileError("model.pt", "a pickle, not a safetensors file"))
model.pt: a pickle, not a safetensors file
>>> WeightsFileError("model.pt", "...").path
'model.pt'
"""

from __future__ import annotations

import os

from tensoralgebra.errors import TensorAlgebraError


class WeightsFileError(TensorAlgebraError):
    """A weights file that cannot be written or read: the message starts with its path."""

    def __init__(self, path: str | os.PathLike, problem: str):
        self.path = os.fspath(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")

    def __reduce__(self):
        return (type(self), (self.path, self.problem))
