"""Skip-trigram tables: a planted ``[A] … [B] → [C]`` is found, the factored ranking equals a
dense one on small vocabularies, large vocabularies are refused up front, bad input clearly."""

import importlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.circuits import ov_circuit, qk_circuit
from tensoralgebra.circuits.skip_trigrams import decoder, skip_trigrams
from tensoralgebra.training.data import dataset

module = importlib.import_module("tensoralgebra.circuits.skip_trigrams")


def planted(source, destination, out, d_vocab=12, noise=0.01, seed=0):
    """One head whose QK circuit is ``e_destination e_source^T`` and OV circuit ``e_out
    e_source^T``, plus small noise: one-hot embeddings and unembeddings, d_head 2."""
    rng = np.random.default_rng(seed)
    d_model = d_vocab + 2
    eye = np.eye(d_model)

    def near(*rows):
        return np.array(rows) + noise * rng.normal(size=(len(rows), d_model))

    W_Q = near(eye[destination], np.zeros(d_model)) * 3.0
    W_K = near(eye[source], np.zeros(d_model))
    W_V = near(eye[source], np.zeros(d_model))
    W_O = near(eye[out], np.zeros(d_model)).T
    return ta.Weights(
        W_E=eye[:, :d_vocab],
        W_U=eye[:d_vocab],
        W_Q=(W_Q[None],),
        W_K=(W_K[None],),
        W_V=(W_V[None],),
        W_O=(W_O[None],),
        n_ctx=4,
    )


@pytest.mark.parametrize(("source", "destination", "out"), [(3, 7, 5), (0, 0, 11), (9, 2, 9)])
def test_a_planted_skip_trigram_is_found_first(source, destination, out):
    table = skip_trigrams(planted(source, destination, out), 0, 0, k=1, destinations=1)
    (first,) = table.triples
    assert (first.source, first.destination, first.out) == (source, destination, out)
    assert first.qk == pytest.approx(3.0, abs=0.2) and first.ov == pytest.approx(1.0, abs=0.1)
    assert table.trigram(first) == f"[{source}] … [{destination}] → [{out}]"


def test_a_planted_skip_trigram_is_decoded_to_text():
    letters = "abcdefghijkl"
    table = skip_trigrams(
        planted(3, 7, 5), 0, 0, k=1, destinations=1, decode=lambda ids: letters[ids[0]]
    )
    assert table.trigram(table.triples[0]) == "[d] … [h] → [f]"
    assert json.loads(json.dumps(table.to_dict()))["triples"][0]["text"] == ["d", "h", "f"]
    assert "`[d] … [h] → [f]`" in table.to_markdown()


def dense_ranking(w, k, destinations, sources):
    """The module's ranking from the dense circuits."""
    OV, QK = ov_circuit(w, 0, 0).dense(), qk_circuit(w, 0, 0).dense()
    d_vocab = OV.shape[0]
    if sources is None:
        scanned = np.arange(d_vocab)
    else:
        norms = np.linalg.norm(OV, axis=0)
        scanned = np.sort(np.argsort(-norms, kind="stable")[:sources])
    sub = OV[:, scanned]
    best = np.argsort(-sub.ravel(), kind="stable")[:k]  # ties: row-major, by out then source
    triples = []
    for flat in best:
        out, column = divmod(int(flat), len(scanned))
        source = int(scanned[column])
        for dest in np.argsort(-QK[:, source], kind="stable")[:destinations]:
            triples.append((source, int(dest), out, QK[dest, source], sub[out, column]))
    return triples


@settings(max_examples=60, deadline=None)
@given(
    st.integers(2, 30),
    st.integers(1, 4),
    st.integers(1, 8),
    st.integers(1, 4),
    st.one_of(st.none(), st.integers(1, 30)),
    st.integers(0, 2**16),
)
def test_the_factored_ranking_equals_the_dense_one(d_vocab, d_head, k, dests, sources, seed):
    w = ta.Weights.random(ta.Architecture((1,)), d_model=6, d_head=d_head, d_vocab=d_vocab,
                          n_ctx=3, seed=seed)  # fmt: skip
    sources = None if sources is None else min(sources, d_vocab)
    k, dests = min(k, d_vocab * (sources or d_vocab)), min(dests, d_vocab)
    table = skip_trigrams(w, 0, 0, k=k, destinations=dests, sources=sources)
    expected = dense_ranking(w, k, dests, sources)
    found = [(t.source, t.destination, t.out, t.qk, t.ov) for t in table.triples]
    assert [x[:3] for x in found] == [x[:3] for x in expected]
    assert np.allclose([x[3:] for x in found], [x[3:] for x in expected], rtol=1e-9, atol=1e-12)


def test_folded_layernorm_models_use_the_folded_circuits():
    arch = ta.Architecture((2,), normalization="LN")
    w = ta.Weights.random(arch, d_model=8, d_head=2, d_vocab=15, n_ctx=3, seed=4)
    table = skip_trigrams(w, 0, 1, k=4)
    OV = ov_circuit(w, 0, 1).dense()
    assert [t.ov for t in table.triples[::3]] == pytest.approx(sorted(OV.ravel())[::-1][:4])


def test_a_large_vocabulary_is_refused_up_front_with_the_sources_that_fit(monkeypatch):
    w = ta.Weights.random(ta.Architecture((1,)), d_model=8, d_head=4, d_vocab=100, n_ctx=3)
    monkeypatch.setattr(module, "MAX_WORK", 4000)  # 100 × 100 × 4 = 40,000 over it
    with pytest.raises(ExpansionLimitError) as caught:
        skip_trigrams(w, 0, 0)
    assert (caught.value.option, caught.value.value) == ("sources", 10)
    assert len(skip_trigrams(w, 0, 0, sources=10, k=2, destinations=1).triples) == 2
    with pytest.raises(ExpansionLimitError, match="scanning 11 source tokens"):
        skip_trigrams(w, 0, 0, sources=11)


def _model():
    return ta.Weights.random(ta.Architecture((1, 2)), d_model=8, d_head=2, d_vocab=10, n_ctx=3)


class Fails:
    d_vocab = 10
    name = "fails"

    def decode(self, tokens):
        raise KeyError(tokens[0])


BAD = [
    (lambda: skip_trigrams(_model(), 2, 0), "layer 2 does not exist: the model has layers 0..1"),
    (lambda: skip_trigrams(_model(), 0, 1), "head 1 does not exist: layer 0 has heads 0..0"),
    (lambda: skip_trigrams(_model(), -1, 0), "layer -1 does not exist"),
    (lambda: skip_trigrams(_model(), 1, 0, k=0), "k is 0: expected a positive integer"),
    (lambda: skip_trigrams(_model(), 1, 0, k=101), "k is 101: at most 100 is supported"),
    (lambda: skip_trigrams(_model(), 1, 0, k=11, sources=1), "k is 11: at most 10"),
    (lambda: skip_trigrams(_model(), 1, 0, destinations=11), "destinations is 11: at most 10"),
    (lambda: skip_trigrams(_model(), 1, 0, sources=0), "sources is 0: expected a positive"),
    (lambda: skip_trigrams(_model(), 1, 0, sources=11), "sources is 11: at most 10"),
    (lambda: skip_trigrams(_model(), 1, 0, sources="all"), "sources"),
    (lambda: skip_trigrams("model", 0, 0), "circuits need ta.Weights"),
    (lambda: skip_trigrams(_model(), 1, 0, decode=3), "decode is 3: expected a dataset"),
    (lambda: skip_trigrams(_model(), 1, 0, decode=Fails()), "decode cannot decode token 0"),
    (lambda: skip_trigrams(_model(), 1, 0, decode=lambda t: t), "gave [0]: expected a str"),
    (
        lambda: skip_trigrams(_model(), 1, 0, decode=dataset("markov", d_vocab=10)),
        "the dataset 'markov' has no text",
    ),
    (
        lambda: skip_trigrams(_model(), 1, 0, decode=dataset("markov", d_vocab=16)),
        "has d_vocab=16, the model 10",
    ),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary=[]), "vocabulary is []: expected a non"),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary="ab"), "vocabulary is 'ab': expected"),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary=[0.5]), "vocabulary is [0.5]: expected"),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary=[[1]]), "vocabulary is [[1]]: expected"),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary=[3, 10]), "vocabulary has token 10: the"),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary=[-1, 3]), "vocabulary has token -1: the"),
    (lambda: skip_trigrams(_model(), 1, 0, vocabulary=[4], k=2), "k is 2: at most 1"),
]


def test_a_vocabulary_restricts_every_token_of_the_table():
    w, allowed = _model(), [1, 4, 5, 8]
    table = skip_trigrams(w, 1, 0, k=5, destinations=2, vocabulary=[8, 5, 4, 1, 4])
    assert table.sources == 4
    assert {x for t in table.triples for x in (t.source, t.destination, t.out)} <= set(allowed)
    ov = ov_circuit(w, 1, 0).dense()[np.ix_(allowed, allowed)]
    best = np.unravel_index(np.argmax(ov), ov.shape)
    top = table.triples[0]
    assert (top.out, top.source) == (allowed[best[0]], allowed[best[1]])
    assert top.ov == pytest.approx(ov.max())


@pytest.mark.parametrize(("call", "fragment"), BAD)
def test_bad_input_is_refused(call, fragment):
    with pytest.raises(TensorAlgebraError) as caught:
        call()
    assert fragment in str(caught.value)


def test_decoder_passes_a_dataset_decode_through():
    data = dataset("synthetic-induction", d_vocab=10)
    with pytest.raises(TensorAlgebraError, match="no text to decode"):
        decoder(data, 10)
    assert decoder(None, 10) is None
    assert decoder(lambda ids: "x" * (ids[0] + 1), 10)(2) == "xxx"
