"""Token datasets for training, each a :class:`~tensoralgebra.training.data.base.TokenData`,
built by name through :func:`dataset`.

========================  ==============================================================
name                      data
========================  ==============================================================
``synthetic-induction``   a random prefix repeated (:class:`InductionData`)
``markov``                a random Markov chain (:class:`MarkovData`)
``skip-trigrams``         planted ``[A] … [B] → [C]`` on noise (:class:`SkipTrigramData`)
``synthetic-mixture``     rows of ``synthetic-induction`` or ``markov`` (:class:`MixtureData`)
``stdlib``                the standard library's source as bytes (:class:`TextBytes`)
``stdlib-chars``          the standard library's source as characters (:class:`TextChars`)
========================  ==============================================================

>>> data = dataset("markov", d_vocab=16, seed=3)
>>> data.name, data.d_vocab, data.batch_for(seed=0, step=0, batch_size=4, n_ctx=32).shape
('markov', 16, (4, 32))
>>> dataset("markov", vocab=16)  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
tensoralgebra.errors.TensorAlgebraError: the dataset 'markov' has no option 'vocab': its options ...
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.data.base import TokenData
from tensoralgebra.training.data.bigrams import BigramTable, bigram_counts, bigram_table
from tensoralgebra.training.data.markov import MarkovData
from tensoralgebra.training.data.mixture import MixtureData
from tensoralgebra.training.data.synthetic import InductionData, Sample, SkipTrigramData
from tensoralgebra.training.data.text import TextBytes, TextChars

__all__ = [
    "DATASETS",
    "BigramTable",
    "InductionData",
    "MarkovData",
    "MixtureData",
    "Sample",
    "SkipTrigramData",
    "TextBytes",
    "TextChars",
    "TokenData",
    "bigram_counts",
    "bigram_table",
    "dataset",
    "options",
]

#: Every dataset by name: a factory taking the dataset's options as keywords.
DATASETS: dict[str, Callable[..., TokenData]] = {
    factory.name: factory
    for factory in (
        InductionData,
        MarkovData,
        SkipTrigramData,
        MixtureData,
        TextBytes,
        TextChars,
    )
}


def options(name: str) -> dict[str, object]:
    """The options of the dataset ``name`` with their defaults.

    >>> options("synthetic-induction")
    {'d_vocab': 64, 'min_period': 4, 'max_period': None, 'repeat_fraction': 1.0, 'seed': 0}
    """
    factory = _factory(name)
    parameters = inspect.signature(factory).parameters.values()
    return {p.name: p.default for p in parameters}


def dataset(name: str, **settings) -> TokenData:
    """The dataset registered as ``name`` (a key of :data:`DATASETS`), built with ``settings``;
    an unknown name or option is refused, naming what exists."""
    known = options(name)
    unknown = [key for key in settings if key not in known]
    if unknown:
        listed = ", ".join(repr(key) for key in unknown)
        raise TensorAlgebraError(
            f"the dataset {name!r} has no option{'s' * (len(unknown) > 1)} {listed}: its "
            f"options are {', '.join(known)}"
        )
    return DATASETS[name](**settings)


def _factory(name: object) -> Callable[..., TokenData]:
    if not isinstance(name, str) or name not in DATASETS:
        raise TensorAlgebraError(
            f"no dataset is named {name!r}: the datasets are {', '.join(DATASETS)}"
        )
    return DATASETS[name]
