"""Bad input to the symbolic API: every call refused with a clear error, or (numpy integers)
accepted; bound variables that never capture the scoring head; no unbounded build."""

import itertools
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.expr.nodes import IndexedSum, MatrixSymbol
from tensoralgebra.expr.traversal import free_vars
from tensoralgebra.factored import MAX_WRITTEN_HEADS
from tensoralgebra.paths import heads_of

ARCH = ta.Architecture((2, 1))
SCHEMATIC = ta.Architecture.schematic(2)
HUGE = ta.Architecture((10**30, 10**30, 1))

# (call, expected error type, a fragment of the message)
BAD_INPUT = [
    (lambda: ta.logit_paths(None), TensorAlgebraError, "logit_paths needs an Architecture, got"),
    (lambda: ta.logit_paths((2, 2)), TensorAlgebraError, "needs an Architecture, got tuple"),
    (lambda: ta.count_logit_paths("2,2"), TensorAlgebraError, "needs an Architecture, got str"),
    (lambda: ta.logits("x"), TensorAlgebraError, "logits needs an Architecture, got str 'x'"),
    (lambda: ta.scores(None, 0), TensorAlgebraError, "needs an Architecture, got NoneType"),
    (lambda: ta.residual_stream(3, 0), TensorAlgebraError, "needs an Architecture, got int"),
    (lambda: ta.count_score_paths(ARCH, 1, 0, kind=["Q"]), TensorAlgebraError, "kind is ['Q']"),
    (lambda: ta.count_score_paths(ARCH, 1, 0, kind="V"), TensorAlgebraError, "expected one of"),
    (lambda: ta.check_score_kind("qk", "--kind"), TensorAlgebraError, "--kind is 'qk'"),
    (lambda: ta.path_kind(-1), TensorAlgebraError, "order -1 is out of range"),
    (lambda: ta.path_kind(1.0), TensorAlgebraError, "order is 1.0: expected an integer"),
    (lambda: ta.path_kind(True), TensorAlgebraError, "order is True: expected an integer, not"),
    (lambda: ta.score_kind(-1, 0), TensorAlgebraError, "query_order -1 is out of range"),
    (lambda: ta.score_kind(0, "1"), TensorAlgebraError, "key_order is '1': expected an integer"),
    (lambda: ta.Architecture(heads="22"), TensorAlgebraError, "sequence of head counts"),
    (lambda: ta.Architecture(heads=(2, 2.0)), TensorAlgebraError, "heads[1] is 2.0: expected an"),
    (lambda: ta.Architecture(heads=(2, "2")), TensorAlgebraError, "heads[1] is '2'"),
    (lambda: ta.Architecture(heads=(False,)), TensorAlgebraError, "heads[0] is False"),
    (lambda: ta.Architecture(heads=None), TensorAlgebraError, "sequence of head counts"),
    (lambda: ta.Architecture((1,), "rotary"), TensorAlgebraError, "positional is 'rotary'"),
    (lambda: ta.Architecture((1,), True), TensorAlgebraError, "positional is True"),
    (lambda: ta.Architecture((1,), ["standard"]), TensorAlgebraError, "positional is ['standard']"),
    (lambda: ta.Architecture.schematic(2.0), TensorAlgebraError, "n_layers is 2.0"),
    (lambda: ta.Architecture.schematic("2"), TensorAlgebraError, "n_layers is '2'"),
    (lambda: ta.Architecture.schematic(10**30), TensorAlgebraError, "0..1,000,000 layers"),
    (lambda: ta.Architecture((1,) * 1_000_001), TensorAlgebraError, "number of layers in heads"),
    (lambda: ta.scores(ARCH, 5, 0), TensorAlgebraError, "layer 5 does not exist: this architec"),
    (lambda: ta.scores(ARCH, 1.0, 0), TensorAlgebraError, "layer is 1.0: expected an integer"),
    (lambda: ta.scores(ARCH, True, 0), TensorAlgebraError, "layer is True: expected an integer, n"),
    (lambda: ta.scores(ARCH, 1, "0"), TensorAlgebraError, "head is '0': expected an integer"),
    (lambda: ta.scores(ARCH, 1, 0.0), TensorAlgebraError, "head is 0.0: expected an integer"),
    (lambda: ta.scores(ARCH, 0, 2), TensorAlgebraError, "head 2 does not exist: layer 0 has hea"),
    (lambda: ta.scores(SCHEMATIC, 1, 2), TensorAlgebraError, "heads are symbolic"),
    (lambda: ta.scores(SCHEMATIC, 1, 0.0), TensorAlgebraError, "head is 0.0: expected an integer"),
    (lambda: ta.scores(SCHEMATIC, 1, "h_1"), TensorAlgebraError, "a head variable's name"),
    (lambda: ta.score_paths(ARCH, 1, 0, max_order="1"), TensorAlgebraError, "max_order is '1'"),
    (lambda: ta.score_paths(ARCH, 1, 0, max_order=2), TensorAlgebraError, "max_order 2 is out"),
    (lambda: ta.count_score_paths(ARCH, "1"), TensorAlgebraError, "layer is '1'"),
    (lambda: ta.count_logit_paths(ARCH, 3), TensorAlgebraError, "order 3 is out of range"),
    (lambda: ta.count_logit_paths(ARCH, False), TensorAlgebraError, "order is False"),
    (lambda: ta.logit_paths(ARCH, max_order=1.5), TensorAlgebraError, "max_order is 1.5"),
    (lambda: ta.count_logit_paths_by_order(ARCH, -1), TensorAlgebraError, "max_order -1 is out"),
    (lambda: ta.layer_factor(ARCH, 2), TensorAlgebraError, "layer 2 does not exist"),
    (lambda: ta.residual_stream(ARCH, 3), TensorAlgebraError, "layer 3 is out of range: resid"),
    (lambda: ta.residual_stream(ARCH, 1.0), TensorAlgebraError, "layer is 1.0: expected an int"),
    (lambda: ta.fitting_max_order(ARCH, -1), TensorAlgebraError, "limit -1 is out of range"),
    (lambda: ta.fitting_max_order(ARCH, 1e3), TensorAlgebraError, "limit is 1000.0"),
    (lambda: ta.fitting_score_max_order(ARCH, 2, 10), TensorAlgebraError, "layer 2 does not ex"),
    (lambda: ta.logits(ta.Architecture((10**30,))), ExpansionLimitError, "the logits would write"),
    (lambda: ta.scores(HUGE, 2, 0), ExpansionLimitError, "2,000,000,000,000,000,000,000,000,"),
    (lambda: ta.residual_stream(HUGE, 1), ExpansionLimitError, f"more than the {20_000:,}"),
    (lambda: ta.layer_factor(HUGE, 0), ExpansionLimitError, "layer 0's factor would write"),
    (lambda: ta.logits(ta.Architecture.schematic(30_000)), ExpansionLimitError, "one Σ for each"),
    (lambda: ta.count_logit_paths_by_order(S(100_000)), ExpansionLimitError, "max_order=16574 "),
]


def S(n):
    return ta.Architecture.schematic(n)


@pytest.mark.parametrize(("call", "error", "fragment"), BAD_INPUT)
def test_bad_input_is_refused_clearly(call, error, fragment):
    with pytest.raises(error) as caught:
        result = call()
        list(itertools.islice(result, 1)) if hasattr(result, "__next__") else None
    assert fragment in str(caught.value)


def test_numpy_integers_are_accepted_everywhere():
    i = np.int64
    arch = ta.Architecture((i(2), np.int32(1)))
    assert arch == ta.Architecture((2, 1)) and all(type(h) is int for h in arch.heads)
    assert len(list(ta.score_paths(arch, layer=i(1), head=i(0)))) == 9
    assert ta.scores(arch, i(1), i(0)) == ta.scores(arch, 1, 0)
    assert ta.count_score_paths(arch, i(1), i(0), max_order=i(0)) == 1
    assert ta.count_logit_paths(arch, i(1)) == 3 and ta.path_kind(np.uint8(2)) == "virtual"
    assert ta.score_kind(i(1), i(0)) == "Q" and ta.layer_factor(arch, i(0)) is not None
    assert len(list(ta.logit_paths(arch, max_order=i(1)))) == 4
    assert ta.residual_stream(arch, i(2)) == ta.residual_stream(arch, 2)
    assert ta.Architecture.schematic(i(3)).n_layers == 3
    assert ta.fitting_max_order(arch, i(4)) == 1


# Names a user might give the scoring head: the defaults of the sides, primed, and any other.
names = st.one_of(
    st.sampled_from(["h", "hq", "hk", "hq'", "hk'", "hq''", "h'", "q", "k"]),
    st.from_regex(r"[A-Za-z][A-Za-z0-9]{0,3}'{0,2}", fullmatch=True),
)


def _scoring_head_is_free(term, name):
    """The scoring head ``name`` occurs free in ``term``, and no Σ binds a variable of its name."""
    head = ta.HeadVar(name)
    assert head in free_vars(term)
    stack = [term]
    while stack:
        node = stack.pop()
        if isinstance(node, IndexedSum):
            assert node.var.name != name or node.var.layer is not None, str(term)
        if isinstance(node, MatrixSymbol) and node.name == "W_QK":
            assert node.index == head
        stack.extend(node.children)


@given(name=names, n_layers=st.integers(1, 3), data=st.data())
def test_bound_variables_never_capture_the_scoring_head(name, n_layers, data):
    layer = data.draw(st.integers(0, n_layers - 1), label="layer")
    arch = ta.Architecture.schematic(n_layers)
    paths = [p.expr for p in ta.score_paths(arch, layer, name)]
    for term in paths:
        _scoring_head_is_free(term, name)
    expanded = ta.terms(ta.expand(ta.scores(arch, layer, name)))
    assert list(expanded) == paths
    for term in expanded:
        _scoring_head_is_free(term, name)


def test_the_reported_capture_is_gone():
    (_, q, _, _) = [str(p.expr) for p in ta.score_paths(ta.Architecture.schematic(2), 1, "hq")]
    assert q == "Σ_{hq'∈H0} A^{hq'} ⊗ Id ⊗ W_E^T W_OV^{hq' T} W_QK^{hq} W_E"


@given(name=st.sampled_from(["h", "g", "h'"]), avoid=st.sets(st.sampled_from(["h", "h'", "g"])))
def test_factored_forms_name_their_variables_fresh(name, avoid):
    stream = ta.residual_stream(ta.Architecture.schematic(2), 2, var=name, avoid=avoid)
    sums = [n for n in _nodes(stream) if isinstance(n, IndexedSum)]
    assert len(sums) == 2 and all(s.var.name not in avoid for s in sums)
    factor = ta.layer_factor(ta.Architecture.schematic(1), 0, var=name, avoid=avoid)
    assert all(n.var.name not in avoid for n in _nodes(factor) if isinstance(n, IndexedSum))


def _nodes(expr):
    stack = [expr]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(node.children)


def test_factored_forms_stop_at_the_documented_limit():
    at_limit = ta.Architecture((MAX_WRITTEN_HEADS // 2, MAX_WRITTEN_HEADS // 2))
    assert ta.count_logit_paths(at_limit) == (1 + MAX_WRITTEN_HEADS // 2) ** 2
    over = ta.Architecture((MAX_WRITTEN_HEADS // 2, MAX_WRITTEN_HEADS // 2 + 1))
    with pytest.raises(ExpansionLimitError, match=f"{MAX_WRITTEN_HEADS + 1:,} per-head terms"):
        ta.logits(over)
    # The scores of a first-layer head read no earlier layer: nothing to write out.
    assert ta.scores(HUGE, 0, 0) is not None


def test_huge_models_count_and_list_lazily_at_once():
    start = time.perf_counter()
    assert ta.count_logit_paths(HUGE) == 2 * (1 + 10**30) ** 2
    first = [str(p) for p in itertools.islice(ta.logit_paths(HUGE), 4)]
    assert first == ["direct", "L0H0", "L0H1", "L0H2"]
    deep = list(itertools.islice(heads_of(HUGE, (0, 1, 2)), 2))
    assert deep == [((0, 0), (1, 0), (2, 0)), ((0, 0), (1, 1), (2, 0))]
    scored = list(itertools.islice(ta.score_paths(HUGE, 2, 0), 3))
    assert [str(p) for p in scored] == [
        "none: query direct, key direct",
        "Q: query L0H0, key direct",
        "Q: query L0H1, key direct",
    ]
    assert time.perf_counter() - start < 5  # instantly, in fact; generous for a loaded machine
