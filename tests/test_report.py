"""The circuits report (ta.circuits.report, 'tensoralgebra circuits') and the figures: every
format renders, the numbers are the analyses' own, the HTML is self-contained, bad input is
refused clearly in the API and on the command line."""

import importlib
import json
import re

import numpy as np
import pytest

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.circuits import figures
from tensoralgebra.circuits.report import report
from tensoralgebra.cli import main
from tensoralgebra.training.data import dataset

skip_module = importlib.import_module("tensoralgebra.circuits.skip_trigrams")


def weights(d_vocab=12, n_ctx=8, heads=(2, 2)):
    return ta.Weights.random(ta.Architecture(heads), d_model=16, d_head=4, d_vocab=d_vocab,
                             n_ctx=n_ctx, seed=1)  # fmt: skip


@pytest.fixture(scope="module")
def full():
    w = weights()
    tokens = np.random.default_rng(0).integers(0, 12, size=(5, 8))
    letters = "abcdefghijkl"
    return w, tokens, report(w, tokens, lambda ids: letters[ids[0]], samples=100, top_heads=2)


def test_the_report_holds_the_analyses_own_numbers(full):
    w, tokens, r = full
    model = ta.AttentionOnlyTransformer(w)
    assert r.ablation.losses == ta.circuits.order_ablation(model, tokens).losses
    assert r.ablation_data == "5 given sequences of 8 tokens"
    K = ta.circuits.composition_scores(w, "K", samples=100)
    assert np.array_equal(r.composition["K"].scores, K.scores, equal_nan=True)
    assert np.array_equal(r.copying["OV"].scores, ta.circuits.copying_scores(w).scores)
    assert [t.head for t in r.skip_trigrams] == _largest_ov(w, 2)
    data = json.loads(json.dumps(r.to_dict()))
    assert data["ablation"]["losses"] == list(r.ablation.losses)
    assert data["composition"]["K"]["scores"][0][:2] == [None, None]  # layer 0 feeds no layer 0
    assert data["skip_trigrams"][0]["triples"][0]["text"][0] in "abcdefghijkl"
    assert set(data["detectors"]) == {"previous_token", "duplicate_token", "induction"}


def _largest_ov(w, n):
    heads = [(layer, h) for layer in range(2) for h in range(2)]
    norms = [np.linalg.norm(ta.circuits.ov_circuit(w, *h).dense()) for h in heads]
    return [heads[i] for i in np.argsort(norms)[::-1][:n]]


def test_html_is_one_self_contained_page(full):
    page = full[2].to_html()
    assert page.count("data:image/png;base64,") == 5
    assert not re.search(r"(src|href)=\"(?!data:)", page)  # nothing loaded from elsewhere
    assert "<script" not in page and "@import" not in page and "url(" not in page
    assert "Skip-trigrams" in page and "<code>[" in page


def test_markdown_writes_its_figures_beside_it(full, tmp_path):
    text = full[2].to_markdown(tmp_path / "out")
    names = re.findall(r"\]\(([\w-]+\.png)\)", text)
    assert len(names) == 5
    for name in names:
        assert (tmp_path / "out" / name).read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(TensorAlgebraError, match="is not a directory"):
        full[2].to_markdown(tmp_path / "out" / names[0])


def test_every_figure_shows_in_notebooks_and_saves_as_png_and_svg(full, tmp_path):
    for name, fig in full[2].figures.items():
        assert isinstance(fig, figures.CircuitFigure)
        assert fig._repr_png_()[:4] == b"\x89PNG"
        assert fig.save(tmp_path / f"{name}.svg").read_text().lstrip().startswith("<?xml")
    with pytest.raises(TensorAlgebraError, match="cannot write a figure"):
        fig.save(tmp_path / "missing" / "x.png")


def test_without_tokens_the_ablation_reads_repeated_random_sequences():
    r = report(weights(), samples=50, top_heads=9, figures=False)
    assert r.ablation_data.startswith("16 repeated random sequences of 8 tokens")
    assert len(r.skip_trigrams) == 4 and r.figures == {}  # top_heads beyond the model: all
    assert "circuits report: heads [2, 2]" in r.to_text()


def test_a_large_vocabulary_is_refused_before_any_work(monkeypatch):
    monkeypatch.setattr(skip_module, "MAX_WORK", 100)
    with pytest.raises(ExpansionLimitError) as caught:
        report(weights(), samples=50)
    assert caught.value.option == "sources" and caught.value.value == 2


BAD = [
    (lambda: report(3), TensorAlgebraError, "circuits need ta.Weights"),
    (lambda: report("w"), TensorAlgebraError, "no shipped model is named 'w'"),
    (lambda: report("two-layer-induction", sequences=0), TensorAlgebraError, "sequences is 0"),
    (lambda: report(weights(), [[1, 2, 3]]), TensorAlgebraError, "shorter than the model's"),
    (lambda: report(weights(), [[12] * 8]), TensorAlgebraError, "12"),
    (lambda: report(weights(), [[0] * 8] * 513), ExpansionLimitError, "at most 512 sequences"),
    (lambda: report(weights(), heads=[(2, 0)]), TensorAlgebraError, "layer 2 does not exist"),
    (lambda: report(weights(), heads=[(1, 2)]), TensorAlgebraError, "head 2 does not exist"),
    (lambda: report(weights(), heads=[]), TensorAlgebraError, "heads is empty"),
    (lambda: report(weights(), heads="L0H0"), TensorAlgebraError, "heads is 'L0H0'"),
    (lambda: report(weights(), heads=[3]), TensorAlgebraError, "expected a (layer, head) pair"),
    (lambda: report(weights(), top_heads=0), TensorAlgebraError, "top_heads is 0"),
    (lambda: report(weights(), sources=13), TensorAlgebraError, "sources is 13: at most 12"),
    (lambda: report(weights(), samples=0), TensorAlgebraError, "samples is 0"),
    (lambda: report(weights(), seed=-1), TensorAlgebraError, "seed"),
    (lambda: report(weights(), figures="yes"), TensorAlgebraError, "figures"),
    (lambda: report(weights(), decode=3), TensorAlgebraError, "decode is 3"),
    (
        lambda: report(weights(), decode=dataset("markov", d_vocab=12)),
        TensorAlgebraError,
        "the dataset 'markov' has no text",
    ),
    (
        lambda: report(weights(), decode=dataset("markov", d_vocab=16)),
        TensorAlgebraError,
        "has d_vocab=16, the model 12",
    ),
    (lambda: report(weights(n_ctx=1), samples=10), TensorAlgebraError, "n_ctx ≥ 2"),
    (lambda: report(weights(heads=(0,)), samples=10), TensorAlgebraError, "at least one head"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD)
def test_bad_input_is_refused(call, error, fragment):
    with pytest.raises(error) as caught:
        call()
    assert fragment in str(caught.value)


RANDOM = ["circuits", "--heads", "2,2", "--d-vocab", "12", "--samples", "50"]


@pytest.fixture
def saved(tmp_path):
    path = tmp_path / "model.safetensors"
    weights().save(path)
    return str(path)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["circuits", "--model", "missing.safetensors"], "missing.safetensors: no such file"),
        ([*RANDOM, "--format", "pdf"], "--format is 'pdf': expected one of"),
        ([*RANDOM, "--format", "markdown"], "--format markdown needs --out DIR"),
        ([*RANDOM, "--out", "FILE"], "--out FILE: not a directory"),
        ([*RANDOM, "--out", "no/such/dir"], "its parent directory does not exist"),
        ([*RANDOM, "--top-heads", "0"], "--top-heads is 0"),
        ([*RANDOM, "--sources", "13"], "--sources is 13: the model has 12 tokens"),
        ([*RANDOM, "--samples", "0"], "--samples is 0"),
        ([*RANDOM, "--data", "nosuch"], "no dataset is named 'nosuch'"),
        ([*RANDOM, "--data", "stdlib-chars"], "does not decode this model's tokens"),
        ([*RANDOM, "--data", "markov", "--sequences", "0"], "--sequences is 0"),
        (["circuits", "--d-vocab", "12"], "circuits needs a model"),
        (["circuits", "--model", "MODEL", "--d-vocab", "12"], "--d-vocab not allowed with"),
        (
            ["circuits", "--heads", "1", "--d-vocab", "60000", "--d-model", "8", "--d-head", "8"],
            "use --sources 4166",
        ),
    ],
)
def test_bad_command_lines_are_refused(args, fragment, tmp_path, saved, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "FILE").write_text("")
    args = [saved if a == "MODEL" else a for a in args]
    assert main(args) == 2
    assert fragment in capsys.readouterr().err


def test_the_command_writes_every_format(tmp_path, saved, capsys):
    assert main(["circuits", "--model", saved, "--samples", "50"]) == 0
    assert "skip-trigrams of L" in capsys.readouterr().out
    assert main(["circuits", "--model", saved, "--samples", "50", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["model"]["d_vocab"] == 12
    for fmt, name in (("html", "report.html"), ("markdown", "report.md")):
        out = tmp_path / fmt
        assert main(["circuits", "--model", saved, "--format", fmt, "--out", str(out)]) == 0
        assert f"wrote {out / name}" in capsys.readouterr().out
    assert len(list((tmp_path / "markdown").glob("*.png"))) == 5
    assert "data:image/png;base64," in (tmp_path / "html" / "report.html").read_text()
