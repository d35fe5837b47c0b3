"""The learning-rate schedule: linear warm-up, then cosine decay to a tenth of the peak.

The rate is a pure function of the step, so a resumed run needs no scheduler state beyond the
step it stopped at (which the checkpoint records).

>>> [round(learning_rate(step, peak=1.0, warmup=2, steps=6), 3) for step in range(6)]
[0.5, 1.0, 1.0, 0.775, 0.325, 0.1]
>>> learning_rate(0, peak=0.01, warmup=0, steps=1)
0.01
"""

from __future__ import annotations

import math

#: Where the cosine decay ends, as a fraction of the peak rate.
FINAL_FRACTION = 0.1


def learning_rate(step: int, *, peak: float, warmup: int, steps: int) -> float:
    """The rate of step ``step`` (``0..steps - 1``): ``peak * (step + 1) / warmup`` during the
    ``warmup`` first steps, then a cosine from ``peak`` at the first step after warm-up down to
    ``FINAL_FRACTION * peak`` at the last (a run of one decaying step stays at ``peak``)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    decaying = steps - warmup  # steps warmup..steps-1
    progress = 0.0 if decaying <= 1 else (step - warmup) / (decaying - 1)
    cosine = 0.5 * (1 + math.cos(math.pi * progress))
    return peak * (FINAL_FRACTION + (1 - FINAL_FRACTION) * cosine)
