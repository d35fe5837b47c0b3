"""Values compared in torch, chunk by chunk: what ``verify`` reduces to scalars before anything
leaves the backend (no array is pulled back to numpy inside its loops).

>>> import torch
>>> got, want = torch.ones(2, 1, 3, 4), torch.ones(2, 1, 3, 4)
>>> want[1, 0, 2, 3] = 1.5
>>> err, size = entry_errors(got, want)
>>> err.tolist(), size.tolist()
([0.0, 0.5], [1.0, 1.5])
"""

from __future__ import annotations

import numpy as np
import torch


def tensor(value) -> torch.Tensor:
    """``value`` as a torch tensor, sharing memory with a numpy array where it can."""
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    return torch.from_numpy(array if array.flags.writeable else array.copy())


def entry_errors(got: torch.Tensor, want: torch.Tensor, dims: int = 3):
    """``(max |got - want|, max |want|)`` over the last ``dims`` axes of stacks [n, ...]: [n]
    each (NaN where either holds a NaN)."""
    axes = tuple(range(-dims, 0))
    diff = (got - want).abs()
    err = diff.amax(dim=axes)
    err = torch.where(torch.isnan(diff).flatten(-dims).any(-1), torch.nan, err)
    return err, want.abs().amax(dim=axes)


def norm_errors(got: torch.Tensor, want: torch.Tensor):
    """``(max_i ||got_i - want_i||, max_i ||want_i||)`` over positions ``i`` of streams
    [n, batch, seq, d_model], the norm over d_model: [n] each."""
    err = torch.linalg.vector_norm(got - want, dim=-1).amax(dim=(-2, -1))
    return err, torch.linalg.vector_norm(want, dim=-1).amax(dim=(-2, -1))


def first_bad(stack: torch.Tensor) -> int | None:
    """The index of the first entry of a stack [n, ...] that is not finite everywhere."""
    bad = ~torch.isfinite(stack.reshape(len(stack), -1)).all(dim=1)
    return int(torch.argmax(bad.to(torch.int8))) if bool(bad.any()) else None


def worst_of(err: torch.Tensor, size: torch.Tensor, floor: float):
    """``(rel, abs, index)`` of the worst of ``err`` [n] relative to ``max(size, floor)``
    (NaN counts as the worst)."""
    scale = torch.clamp(size, min=floor)
    rel = torch.where(scale > 0, err / scale, err)
    key = torch.where(torch.isnan(rel), torch.inf, rel)
    i = int(torch.argmax(key))
    return float(rel[i]), float(err[i]), i
