"""Real architectures (docs/conventions.md §7): biases, frozen LayerNorm and shortformer positions
in the symbolic layer. Enumeration equals expansion term by term; counts equal enumeration."""

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.errors import TensorAlgebraError

KINDS = st.tuples(
    st.sampled_from([None, "standard", "shortformer"]),
    st.sampled_from([None, "LN", "LNPre"]),
    st.booleans(),
)


@st.composite
def architectures(draw):
    positional, normalization, biases = draw(KINDS)
    real = {"positional": positional, "normalization": normalization, "biases": biases}
    if draw(st.booleans()):
        return ta.Architecture.schematic(draw(st.integers(0, 3)), **real)
    return ta.Architecture(draw(st.lists(st.integers(0, 2), max_size=3)), **real)


@given(architectures())
def test_logit_paths_are_the_expansion(arch):
    expanded = ta.terms(ta.expand(ta.logits(arch)))
    paths = list(ta.logit_paths(arch))
    assert list(expanded) == [p.expr for p in paths]
    by_order = ta.count_logit_paths_by_order(arch)
    assert ta.count_logit_paths(arch) == len(paths) == sum(by_order)
    assert [ta.count_logit_paths(arch, order=k) for k in range(len(by_order))] == list(by_order)
    assert by_order == tuple(sum(p.order == k for p in paths) for k in range(len(by_order)))


def closed_form(arch):
    """docs/conventions.md §7: s Π(1 + H_l) + Σ_l Π_{l'>l}(1 + H_l') + 1 with biases."""
    heads = [1] * arch.n_layers if arch.is_schematic else list(arch.heads)
    s = 2 if arch.positional == "standard" else 1
    total = s
    for h in heads:
        total *= 1 + h
    if arch.biases:
        for layer in range(len(heads)):
            suffix = 1
            for h in heads[layer + 1 :]:
                suffix *= 1 + h
            total += suffix
        total += 1
    return total


@given(architectures())
def test_logit_count_closed_form(arch):
    assert ta.count_logit_paths(arch) == closed_form(arch)


@given(architectures(), st.data())
def test_score_paths_are_the_expansion(arch, data):
    layers = [lay for lay in range(arch.n_layers) if arch.is_schematic or arch.heads[lay] > 0]
    if not layers:
        return
    layer = data.draw(st.sampled_from(layers))
    max_order = data.draw(st.sampled_from([None, *range(layer + 1)]))
    paths = list(ta.score_paths(arch, layer, max_order=max_order))
    if max_order is None:
        assert list(ta.terms(ta.expand(ta.scores(arch, layer)))) == [p.expr for p in paths]
    by_kind = ta.count_score_paths_by_kind(arch, layer, max_order=max_order)
    assert by_kind == {k: sum(p.kind == k for p in paths) for k in by_kind}
    assert ta.count_score_paths(arch, layer, max_order=max_order) == len(paths)


def test_sources_and_constant_along_keys():
    arch = ta.Architecture((1, 1), biases=True)
    sources = {p.source for p in ta.logit_paths(arch)}
    assert sources == {"token", "bias L0", "bias L1", "unembedding bias"}
    assert all(
        p.heads == () or p.heads[0][0] > 0 for p in ta.logit_paths(arch) if p.source == "bias L0"
    )
    terms = list(ta.score_paths(arch, 1))
    constant = [p for p in terms if p.constant_along_keys]
    assert {p.key.source for p in constant} == {"key bias", "bias L0"}
    ln = ta.Architecture((1, 1), normalization="LN", biases=True)
    assert {p.key.source for p in ta.score_paths(ln, 1) if p.constant_along_keys} == {"key bias"}


def test_shortformer_positions_only_in_scores():
    arch = ta.Architecture((1, 1), positional="shortformer")
    assert {p.source for p in ta.logit_paths(arch)} == {"token"}
    positions = [p for p in ta.score_paths(arch, 1) if "position" in (p.query.source, p.key.source)]
    assert positions and all(
        not side.heads for p in positions for side in (p.query, p.key) if side.source == "position"
    )


def test_idealised_expansions_unchanged():
    arch = ta.Architecture((1, 1), positional="standard")
    assert arch.is_idealised and arch == ta.Architecture((1, 1), "standard", None, False)
    assert str(ta.logits(arch)).startswith("(Id ⊗ W_U)·(Id + A^{L1H0} ⊗ W_OV^{L1H0})")
    assert arch.to_dict() == {
        "n_layers": 2,
        "heads": [1, 1],
        "schematic": False,
        "positional": "standard",
    }


@pytest.mark.parametrize(
    "arch",
    [
        ta.Architecture((2, 1), "shortformer", "LN", True),
        ta.Architecture.schematic(3, None, "LNPre", True),
    ],
)
def test_value_semantics(arch):
    assert pickle.loads(pickle.dumps(arch)) == arch
    assert hash(eval(repr(arch), {"Architecture": ta.Architecture})) == hash(arch)
    assert arch.to_dict()["normalization"] == arch.normalization and arch.to_dict()["biases"]
    assert not arch.is_idealised


@pytest.mark.parametrize(
    ("call", "fragment"),
    [
        (lambda: ta.Architecture((1,), normalization="ln"), "normalization is 'ln'"),
        (lambda: ta.Architecture((1,), normalization="RMS"), "expected one of None, 'LN'"),
        (lambda: ta.Architecture((1,), biases=1), "biases is 1: expected True or False"),
        (lambda: ta.Architecture((1,), biases="yes"), "biases is 'yes'"),
        (lambda: ta.Architecture((1,), positional="rotary"), "positional is 'rotary'"),
        (lambda: ta.Architecture.schematic(2, normalization=0), "normalization is 0"),
        (lambda: ta.Architecture.schematic(2, biases=None), "biases is None"),
        (lambda: ta.logit_paths(ta.Architecture((1,), biases=True), max_order=2), "order 0..1"),
    ],
)
def test_bad_input(call, fragment):
    with pytest.raises(TensorAlgebraError, match=None) as error:
        call()
    assert fragment in str(error.value)


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["top-paths", "--heads", "1", "--biases", "--target", "1"], "top-paths does not handle"),
        (["expand", "--heads", "1", "--normalization", "ln"], "invalid choice: 'ln'"),
    ],
)
def test_cli_refusals(argv, fragment, capsys, tmp_path, monkeypatch):
    from tensoralgebra.cli import main

    monkeypatch.chdir(tmp_path)
    try:
        status = main(argv)
    except SystemExit as exit_:  # argparse's own refusals
        status = exit_.code
    assert status == 2
    assert fragment in capsys.readouterr().err


def test_cli_counts_real_architecture(capsys):
    from tensoralgebra.cli import main

    assert main(["count", "--heads", "2,2", "--biases", "--positional", "shortformer"]) == 0
    arch = ta.Architecture((2, 2), positional="shortformer", biases=True)
    assert capsys.readouterr().out.split()[-2:] == ["total", str(ta.count_logit_paths(arch))]


def test_verify_checks_real_architectures_on_the_command_line(capsys):
    from tensoralgebra.cli import main

    argv = ["verify", "--heads", "1,2", "--biases", "--normalization", "LN"]
    assert main([*argv, "--positional", "shortformer"]) == 0
    assert capsys.readouterr().out.rstrip().endswith("checks ok")
