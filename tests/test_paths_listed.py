"""``logit_paths`` lists the paths of an architecture without constant sources in one stream
(every layer's heads listed up front); that stream is exactly the general enumeration, one
group of paths per set of layers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import paths


@st.composite
def architectures_and_orders(draw):
    n_layers = draw(st.integers(0, 4))
    heads = tuple(draw(st.lists(st.integers(0, 3), min_size=n_layers, max_size=n_layers)))
    arch = ta.Architecture(
        heads,
        positional=draw(st.sampled_from(("standard", "shortformer", None))),
        normalization=draw(st.sampled_from((None, "LN", "LNPre"))),
        biases=draw(st.booleans()),
    )
    return arch, draw(st.one_of(st.none(), st.integers(0, n_layers)))


@settings(max_examples=150, deadline=None)
@given(case=architectures_and_orders())
def test_the_listed_stream_is_the_general_enumeration(case):
    arch, max_order = case
    top = arch.n_layers if max_order is None else max_order
    listed = list(ta.logit_paths(arch, max_order))
    general = list(paths._grouped_logit_paths(arch, top))
    assert listed == general
    assert all(type(p) is ta.LogitPath for p in listed)
    assert [(p.heads, p.source, p.normalization) for p in listed] == [
        (p.heads, p.source, p.normalization) for p in general
    ]
    assert len(listed) == sum(ta.count_logit_paths_by_order(arch, max_order))


@settings(max_examples=30, deadline=None)
@given(case=architectures_and_orders())
def test_listed_paths_are_the_expansions_terms(case):
    arch, _ = case
    if arch.biases or ta.count_logit_paths(arch) > 300:
        return
    assert [p.expr for p in ta.logit_paths(arch)] == list(ta.terms(ta.expand(ta.logits(arch))))


def test_the_listed_stream_is_taken_exactly_when_heads_can_be_listed():
    small, with_biases = ta.Architecture((2, 3)), ta.Architecture((2, 3), biases=True)
    huge = ta.Architecture((paths._LISTED_HEADS, 1))
    assert type(ta.logit_paths(small)) is map
    assert type(ta.logit_paths(with_biases)) is not map
    assert type(ta.logit_paths(huge)) is not map
    first = next(ta.logit_paths(ta.Architecture((10**30,) * 3), max_order=3))
    assert first == ta.LogitPath(())
