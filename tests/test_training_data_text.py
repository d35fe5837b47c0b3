"""Text datasets: the standard library's source read from this machine, split by a hash of
each file's path, windows within files, decoding, and the bigram table of the training files."""

from __future__ import annotations

import numpy as np
import pytest

from tensoralgebra.training.data import TextBytes, TextChars, bigram_table, dataset
from tensoralgebra.training.data.corpus import load_corpus, path_hash, stdlib_root


@pytest.fixture(scope="session")
def stdlib():
    """The byte-level standard library corpus, loaded once (later loads are cached anyway)."""
    return dataset("stdlib")


@pytest.fixture(scope="session")
def stdlib_chars():
    return dataset("stdlib-chars")


@pytest.fixture
def small_root(tmp_path):
    """Twenty files of distinct contents, a test directory and site-packages to skip."""
    for i in range(20):
        folder = tmp_path / ("pkg" if i % 2 else "")
        folder.mkdir(exist_ok=True)
        (folder / f"mod{i:02d}.py").write_text(f"# file {i:02d}\n" + f"name_{i:02d} = {i}\n" * 30)
    for skipped in ("tests", "site-packages", "__pycache__"):
        (tmp_path / skipped).mkdir()
        (tmp_path / skipped / "hidden.py").write_text("hidden = True\n")
    return tmp_path


def test_the_stdlib_corpus_is_this_pythons_source_without_tests(stdlib):
    corpus = stdlib.corpus
    assert corpus.root == stdlib_root().resolve()
    assert len(corpus.paths) > 100 and corpus.paths == tuple(sorted(corpus.paths))
    assert "os.py" in corpus.paths and "json/decoder.py" in corpus.paths
    parts = {part for path in corpus.paths for part in path.split("/")[:-1]}
    assert not parts & {"test", "tests", "idle_test", "site-packages", "__pycache__"}
    assert all(0 < len(c) <= 256 * 1024 for c in corpus.contents)
    definition = stdlib.definition()
    assert definition["files"] == len(corpus.paths) and definition["bytes"] == corpus.n_bytes
    assert definition["train_tokens"] + definition["held_out_tokens"] == corpus.n_bytes
    assert len(definition["sha256"]) == 64 and definition["source"] == "<stdlib>"


def test_the_split_is_disjoint_and_decided_by_each_paths_hash(stdlib):
    corpus = stdlib.corpus
    train, _ = corpus.split(False)
    held, _ = corpus.split(True)
    assert not set(train) & set(held) and set(train) | set(held) == set(corpus.paths)
    assert held == [p for p in corpus.paths if path_hash(p) < 0.05]
    assert 0.02 < len(held) / len(corpus.paths) < 0.1
    assert stdlib.definition()["held_out_files"] == held


def test_the_split_of_a_file_does_not_change_as_other_files_come_and_go(small_root):
    before = load_corpus(small_root, held_out_fraction=0.3)
    (small_root / "zz_new.py").write_text("new = 1\n")
    (small_root / "mod00.py").unlink()
    after = load_corpus(small_root, held_out_fraction=0.3)
    assert "zz_new.py" in after.paths and "mod00.py" not in after.paths
    was = dict(zip(before.paths, before.held_out))
    assert all(was[p] == h for p, h in zip(after.paths, after.held_out) if p in was)
    assert after.sha256 != before.sha256
    assert not any(p.startswith(("tests/", "site-packages/")) for p in after.paths)


def test_a_caps_total_takes_files_in_order_until_the_next_would_pass_it(small_root):
    full = load_corpus(small_root)
    size = len(full.contents[0])
    capped = load_corpus(small_root, max_total_bytes=5 * size + 1)
    assert capped.paths == full.paths[:5] and capped.skipped_over_total == len(full.paths) - 5


def test_training_windows_lie_within_one_training_file(small_root):
    data = TextBytes(root=small_root, held_out_fraction=0.3)
    _, train_contents = data.corpus.split(False)
    _, held_contents = data.corpus.split(True)
    batch = data.batch_for(seed=0, step=0, batch_size=64, n_ctx=40)
    for row in batch:
        text = data.decode(row)
        assert any(text in c.decode() for c in train_contents)
        assert not any(text in c.decode() for c in held_contents)
    starts = {data.decode(row)[:9] for row in data.batch_for(0, 1, 512, 40)}
    assert any(s.startswith("# file") for s in starts)  # a file's first window is drawn too


def test_held_out_windows_tile_the_held_out_files(small_root):
    data = TextBytes(root=small_root, held_out_fraction=0.3)
    _, held_contents = data.corpus.split(True)
    held = data.held_out(n_ctx=50, n_sequences=10_000)
    tiles = [c[k : k + 50] for c in held_contents for k in range(0, len(c) - 49, 50)]
    assert [bytes(row.astype(np.uint8)) for row in held] == tiles
    few = data.held_out(n_ctx=50, n_sequences=3)
    assert len(few) == 3 and (few[0] == held[0]).all() and (few[-1] == held[-1]).all()


def test_bytes_decode_to_the_source_text(stdlib):
    text = "def f(x):\n    return x  # é, ü\n"
    assert stdlib.decode(stdlib.encode(text)) == text
    assert stdlib.encode("é").tolist() == [0xC3, 0xA9]
    first = next(c for c in stdlib.corpus.split(True)[1] if len(c) >= 64)
    assert stdlib.decode(stdlib.held_out(64, 1)[0]) == first[:64].decode(errors="replace")


def test_characters_are_the_frequent_ones_plus_an_unknown_token(stdlib_chars):
    data = stdlib_chars
    assert data.d_vocab == len(data.vocabulary) + 1
    assert set("abcXYZ019 \n()[]{}:=#'\"_") <= set(data.vocabulary)
    assert list(data.vocabulary) == sorted(data.vocabulary)
    text = "for i in range(10):\n    print(i)\n"
    assert data.decode(data.encode(text)) == text
    assert data.encode("\u2603").tolist() == [0]  # a snowman is not among them
    assert data.decode([0]) == "\ufffd"


def test_the_character_vocabulary_counts_training_files_only(small_root):
    (small_root / "only.py").write_text("# " + "\u00e9" * 500 + "\n")
    chars = TextChars(root=small_root, held_out_fraction=0.3, min_count=5)
    held = chars.corpus.held_out[chars.corpus.paths.index("only.py")]
    assert ("\u00e9" in chars.vocabulary) == (not held)
    assert chars.definition()["vocabulary"] == chars.vocabulary


def test_the_bigram_table_is_counted_within_training_files(stdlib):
    table = bigram_table(stdlib, alpha=0.1)
    definition = stdlib.definition()
    pairs = definition["train_tokens"] - definition["train_files"]
    assert table.counts.sum() == pairs and table.alpha == 0.1
    assert np.allclose(np.exp(table.log_probs).sum(axis=1), 1)
    newline, space = ord("\n"), ord(" ")
    assert table.log_probs[newline].argmax() == space  # indentation follows a new line
    # The table predicts held-out text far better than a uniform guess over 256 bytes.
    assert table.loss(stdlib.held_out(128, 256)) < 0.5 * np.log(256)


def test_the_character_bigram_table_has_the_character_vocabulary(stdlib_chars):
    table = bigram_table(stdlib_chars)
    assert table.log_probs.shape == (stdlib_chars.d_vocab, stdlib_chars.d_vocab)
    assert table.source == "stdlib-chars (training files)"
