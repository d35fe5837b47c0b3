"""Hypothesis profiles for the test suite.

``fast`` (the default, and what CI runs) is deterministic and bounded: the same examples every
run, the whole suite in about a minute. ``thorough`` draws fresh random examples, five times as
many: opt in with ``HYPOTHESIS_PROFILE=thorough python -m pytest`` (several minutes).
"""

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "fast",
    derandomize=True,
    max_examples=60,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "thorough",
    max_examples=300,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fast"))
