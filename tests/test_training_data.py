"""The dataset registry: every dataset by name, deterministic batches and held-out sets,
fingerprints that follow the definition, and bad input refused (a table)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tensoralgebra.errors import ExpansionLimitError, TensorAlgebraError
from tensoralgebra.training.data import DATASETS, TokenData, bigram_table, dataset, options

#: Small, quick settings of every dataset (the text datasets read the real standard library).
SMALL = {
    "synthetic-induction": {"d_vocab": 20},
    "markov": {"d_vocab": 20},
    "skip-trigrams": {"d_vocab": 20, "n_b": 2, "a_per_b": 2, "plants": 2},
    "synthetic-mixture": {"d_vocab": 20},
    "stdlib": {},
    "stdlib-chars": {},
}


def test_every_registered_dataset_has_small_settings_here():
    assert set(SMALL) == set(DATASETS)
    assert all(DATASETS[name].name == name for name in DATASETS)


@pytest.mark.parametrize("name", sorted(SMALL))
def test_batches_are_a_function_of_seed_and_step(name):
    data = dataset(name, **SMALL[name])
    first = data.batch_for(seed=5, step=7, batch_size=4, n_ctx=32)
    again = dataset(name, **SMALL[name]).batch_for(seed=5, step=7, batch_size=4, n_ctx=32)
    other = data.batch_for(seed=5, step=8, batch_size=4, n_ctx=32)
    assert first.shape == (4, 32) and first.dtype == np.int64
    assert (first == again).all() and not (first == other).all()
    assert first.min() >= 0 and first.max() < data.d_vocab


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_held_out_set_is_the_same_on_every_call(name):
    data = dataset(name, **SMALL[name])
    held = data.held_out(n_ctx=32, n_sequences=8)
    assert held.shape == (8, 32) and held.dtype == np.int64
    assert (held == data.held_out(32, 8)).all()
    assert (held == dataset(name, **SMALL[name]).held_out(32, 8)).all()
    assert held.min() >= 0 and held.max() < data.d_vocab


@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_metadata_records_the_definition(name):
    data = dataset(name, **SMALL[name])
    meta = data.metadata()
    assert meta["data"] == name and meta["data_fingerprint"] == data.fingerprint()
    assert json.loads(meta["data_definition"]) == json.loads(json.dumps(data.definition()))
    assert isinstance(data, TokenData)


def test_options_list_every_keyword_with_its_default():
    assert options("markov") == {"d_vocab": 64, "concentration": 0.3, "seed": 0}
    assert set(options("stdlib-chars")) == {
        "root",
        "max_file_bytes",
        "max_total_bytes",
        "held_out_fraction",
        "min_count",
    }


CHANGES = [
    ("synthetic-induction", {"d_vocab": 21}),
    ("synthetic-induction", {"min_period": 5}),
    ("synthetic-induction", {"max_period": 9}),
    ("synthetic-induction", {"repeat_fraction": 0.5}),
    ("synthetic-induction", {"seed": 1}),
    ("markov", {"d_vocab": 21}),
    ("markov", {"concentration": 0.31}),
    ("markov", {"seed": 1}),
    ("skip-trigrams", {"fire_rate": 0.9}),
    ("skip-trigrams", {"plants": 1}),
    ("skip-trigrams", {"seed": 1}),
    ("skip-trigrams", {"a_per_b": 3}),
    ("synthetic-mixture", {"induction_fraction": 0.25}),
    ("synthetic-mixture", {"concentration": 1.0}),
    ("synthetic-mixture", {"seed": 1}),
    ("stdlib", {"held_out_fraction": 0.1}),
    ("stdlib", {"max_file_bytes": 100_000}),
    ("stdlib", {"max_total_bytes": 1_000_000}),
    ("stdlib-chars", {"min_count": 5}),
]


@pytest.mark.parametrize(("name", "change"), CHANGES, ids=lambda v: str(v))
def test_a_changed_parameter_changes_the_fingerprint(name, change):
    base = dataset(name, **SMALL[name])
    changed = dataset(name, **{**SMALL[name], **change})
    assert base.fingerprint() == dataset(name, **SMALL[name]).fingerprint()
    assert changed.fingerprint() != base.fingerprint()


def test_the_stdlib_fingerprints_of_bytes_and_characters_differ():
    assert dataset("stdlib").fingerprint() != dataset("stdlib-chars").fingerprint()


@pytest.fixture(scope="module")
def roots(tmp_path_factory):
    """Directories for refusals: empty, one file, only tests and site-packages, a plain file."""
    base = tmp_path_factory.mktemp("roots")
    for name in ("empty", "one", "skipped"):
        (base / name).mkdir()
    (base / "one" / "a.py").write_text("x = 1\n" * 10)
    for folder in ("test", "site-packages", "test_things"):
        (base / "skipped" / folder).mkdir()
        (base / "skipped" / folder / "m.py").write_text("y = 2\n")
    (base / "skipped" / "empty.py").write_text("")
    (base / "skipped" / "notes.txt").write_text("not python\n")
    (base / "file.py").write_text("z = 3\n")
    small = base / "small"
    small.mkdir()
    for i in range(4):
        (small / f"m{i}.py").write_text(f"v{i} = {i}\n" * (10 + 50 * i))
    return base


INDUCTION = dict(d_vocab=20)
BAD = [
    # names and options
    (lambda r: dataset("nope"), TensorAlgebraError, "no dataset is named 'nope': the datasets"),
    (lambda r: dataset(3), TensorAlgebraError, "synthetic-induction, markov, skip-trigrams"),
    (lambda r: dataset("markov", vocab=3), TensorAlgebraError, "has no option 'vocab'"),
    (lambda r: dataset("stdlib", d_vocab=3, x=1), TensorAlgebraError, "options 'd_vocab', 'x'"),
    # vocabularies
    (lambda r: dataset("markov", d_vocab=0), TensorAlgebraError, "d_vocab 0 is out of range"),
    (lambda r: dataset("markov", d_vocab=5000), TensorAlgebraError, "expected 2..2048 tokens"),
    (lambda r: dataset("synthetic-induction", d_vocab=True), TensorAlgebraError, "not a bool"),
    (lambda r: dataset("synthetic-induction", d_vocab=1), TensorAlgebraError, "d_vocab 1 is out"),
    (lambda r: dataset("skip-trigrams", d_vocab=2.0), TensorAlgebraError, "expected an integer"),
    (lambda r: dataset("synthetic-mixture", d_vocab=0), TensorAlgebraError, "d_vocab 0 is out"),
    # generator parameters
    (lambda r: dataset("markov", concentration=0), TensorAlgebraError, "concentration is 0"),
    (lambda r: dataset("markov", concentration=np.nan), TensorAlgebraError, "positive, finite"),
    (lambda r: dataset("markov", seed=-1), TensorAlgebraError, "seed -1 is out of range"),
    (lambda r: dataset("synthetic-induction", min_period=0), TensorAlgebraError, "min_period is"),
    (
        lambda r: dataset("synthetic-induction", min_period=8, max_period=4),
        TensorAlgebraError,
        "max_period 4 is out of range: expected at least min_period (8)",
    ),
    (
        lambda r: dataset("synthetic-induction", repeat_fraction=1.5),
        TensorAlgebraError,
        "repeat_fraction is 1.5: expected a number in [0, 1]",
    ),
    (lambda r: dataset("skip-trigrams", plants=5), TensorAlgebraError, "expected 1..n_b (4)"),
    (lambda r: dataset("skip-trigrams", fire_rate=-0.1), TensorAlgebraError, "fire_rate is -0.1"),
    (
        lambda r: dataset("skip-trigrams", d_vocab=10, n_b=3, a_per_b=2, plants=2),
        TensorAlgebraError,
        "d_vocab 10 is too small for 3 B tokens with 2 A tokens each: expected d_vocab >= 11",
    ),
    (
        lambda r: dataset("synthetic-mixture", induction_fraction="half"),
        TensorAlgebraError,
        "induction_fraction is 'half': expected a number",
    ),
    # corpora
    (lambda r: dataset("stdlib", root=r / "none"), TensorAlgebraError, "is not a directory"),
    (lambda r: dataset("stdlib", root=r / "file.py"), TensorAlgebraError, "is not a directory"),
    (lambda r: dataset("stdlib", root=3), TensorAlgebraError, "root is 3: expected a directory"),
    (lambda r: dataset("stdlib", root=r / "empty"), TensorAlgebraError, "has 0 usable *.py"),
    (lambda r: dataset("stdlib", root=r / "skipped"), TensorAlgebraError, "has 0 usable *.py"),
    (lambda r: dataset("stdlib-chars", root=r / "one"), TensorAlgebraError, "at least 2 are"),
    (
        lambda r: dataset("stdlib", root=r / "small", max_file_bytes=10),
        TensorAlgebraError,
        "has 0 usable *.py file(s) (empty files, test directories, site-packages and files over "
        "max_file_bytes=10 skipped)",
    ),
    (lambda r: dataset("stdlib", held_out_fraction=0), TensorAlgebraError, "in (0, 1)"),
    (lambda r: dataset("stdlib", held_out_fraction=1.0), TensorAlgebraError, "in (0, 1)"),
    (lambda r: dataset("stdlib", max_total_bytes=0), TensorAlgebraError, "max_total_bytes is 0"),
    (lambda r: dataset("stdlib-chars", min_count=0), TensorAlgebraError, "min_count is 0"),
    # batches and held-out sets
    (
        lambda r: dataset("markov").batch_for(0, 0, batch_size=0, n_ctx=8),
        TensorAlgebraError,
        "batch_size is 0: expected a positive integer",
    ),
    (
        lambda r: dataset("markov").batch_for(0, 0, batch_size=2, n_ctx=1.5),
        TensorAlgebraError,
        "n_ctx is 1.5: expected an integer",
    ),
    (
        lambda r: dataset("markov").batch_for(0, 0, batch_size=2, n_ctx=2**17),
        TensorAlgebraError,
        "n_ctx is 131072: at most 65,536 is supported",
    ),
    (
        lambda r: dataset("synthetic-induction").batch_for(0, 0, 2**20, 256),
        ExpansionLimitError,
        "over the limit of 16777216 tokens; batch_size=65536 fits",
    ),
    (
        lambda r: dataset("markov").held_out(n_ctx=8, n_sequences=0),
        TensorAlgebraError,
        "n_sequences is 0",
    ),
    (
        lambda r: dataset("markov").batch_for(seed=-2, step=0, batch_size=1, n_ctx=4),
        TensorAlgebraError,
        "seed -2 is out of range",
    ),
    (
        lambda r: dataset("markov").batch_for(seed=0, step=-1, batch_size=1, n_ctx=4),
        TensorAlgebraError,
        "step -1 is out of range",
    ),
    (
        lambda r: dataset("synthetic-induction", min_period=4).batch_for(0, 0, 2, 6),
        TensorAlgebraError,
        "n_ctx 6 is too short for periods up to 4 to repeat once: expected n_ctx >= 8",
    ),
    (
        lambda r: dataset("synthetic-induction", max_period=10).batch_for(0, 0, 2, 16),
        TensorAlgebraError,
        "n_ctx 16 is too short for periods up to 10 to repeat once: expected n_ctx >= 20",
    ),
    (
        lambda r: dataset("skip-trigrams").batch_for(0, 0, 2, 11),
        TensorAlgebraError,
        "n_ctx 11 is too short for 4 planted skip-trigrams: expected n_ctx >= 12",
    ),
    (
        lambda r: dataset("stdlib", root=r / "small").batch_for(0, 0, 2, 2000),
        TensorAlgebraError,
        "n_ctx 2000 is longer than every training file of the corpus: the longest, 'm2.py', "
        "has 770 tokens; expected n_ctx <= 770",
    ),
    (
        lambda r: dataset("stdlib", root=r / "small").held_out(n_ctx=1200, n_sequences=4),
        TensorAlgebraError,
        "n_ctx 1200 is longer than every held-out file of the corpus: the longest, 'm3.py', has "
        "1120 tokens",
    ),
    (
        lambda r: dataset("stdlib", max_file_bytes=20_000).batch_for(0, 0, 1, 30_000),
        TensorAlgebraError,
        "longer than every training file",
    ),
    # decoding
    (lambda r: dataset("markov").decode([1, 2]), TensorAlgebraError, "no text to decode"),
    (lambda r: dataset("stdlib").decode([65, 256]), TensorAlgebraError, "expected 0..255"),
    (lambda r: dataset("stdlib").decode([[65]]), TensorAlgebraError, "expected a 1-D array"),
    (lambda r: dataset("stdlib-chars").decode([0.5]), TensorAlgebraError, "of integers"),
    # bigram tables
    (
        lambda r: bigram_table(dataset("synthetic-induction")),
        TensorAlgebraError,
        "the dataset 'synthetic-induction' has no bigram table of its own",
    ),
    (lambda r: bigram_table(np.array([[0, 1]])), TensorAlgebraError, "needs d_vocab"),
    (lambda r: bigram_table(np.array([0, 7]), 4), TensorAlgebraError, "range over 0..7"),
    (lambda r: bigram_table(np.array([1]), 4), TensorAlgebraError, "needs 2 tokens a row"),
    (lambda r: bigram_table(np.array([0.0, 1.0]), 4), TensorAlgebraError, "dtype float64"),
    (lambda r: bigram_table(np.zeros((1, 1, 2), int), 4), TensorAlgebraError, "shape (1, 1, 2)"),
    (lambda r: bigram_table([np.zeros((2, 2), int)], 4), TensorAlgebraError, "a document of"),
    (lambda r: bigram_table(np.array([0, 1]), 4, alpha=0), TensorAlgebraError, "alpha is 0"),
    (lambda r: bigram_table(np.array([0, 1]), 0), TensorAlgebraError, "d_vocab 0 is out"),
    (lambda r: bigram_table(np.array([0, 1]), 10**5), TensorAlgebraError, "expected 1..4096"),
    (lambda r: bigram_table(dataset("markov"), 3), TensorAlgebraError, "differs from the"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD, ids=[b[2][:40] for b in BAD])
def test_bad_input_is_refused(roots, call, error, fragment):
    with pytest.raises(error) as caught:
        call(roots)
    assert fragment in str(caught.value)
