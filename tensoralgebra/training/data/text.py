"""Text datasets over a :mod:`~tensoralgebra.training.data.corpus`: the standard library's source,
byte-level (``stdlib``) or character-level (``stdlib-chars``).

A training sequence is a window of ``n_ctx`` consecutive tokens *within one file*, uniform over
all such windows of all training files: no separator token is needed, and no window mixes two
files (``n_ctx`` longer than every file is refused). The held-out set tiles the held-out files
with non-overlapping windows from each file's start, evenly subsampled when there are more than
asked for. The character vocabulary is the characters occurring at least ``min_count`` times in
the training files, by code point, after token 0, which stands for every other character
(decoded as U+FFFD). Files are read as UTF-8 (invalid bytes become U+FFFD).

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("a.py", "b.py", "c.py"):
...     _ = (root / name).write_text("x = 1  # é\\n" * 20)
>>> data = TextBytes(root=root)
>>> data.d_vocab, data.decode(data.encode("é = 2"))
(256, 'é = 2')
>>> data.batch_for(seed=0, step=0, batch_size=2, n_ctx=8).shape
(2, 8)
>>> chars = TextChars(root=root, min_count=2)
>>> chars.vocabulary, chars.d_vocab
('\\n #1=xé', 8)
>>> chars.decode(chars.encode("x = 2"))
'x = \\ufffd'
"""

from __future__ import annotations

import functools
import platform

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.data.base import TokenData
from tensoralgebra.training.data.corpus import (
    MAX_FILE_BYTES,
    MAX_TOTAL_BYTES,
    Corpus,
    DocumentStream,
    load_corpus,
)
from tensoralgebra.validation import positive_integer

__all__ = ["TextBytes", "TextChars", "TextData"]

#: The largest code point (Unicode's last), for the character lookup table.
MAX_CODE_POINT = 0x10FFFF
UNKNOWN = "\ufffd"


class TextData(TokenData):
    """A tokenised corpus: ``train_stream`` and ``held_out_stream`` (each a
    :class:`~tensoralgebra.training.data.corpus.DocumentStream`); subclasses give
    :meth:`decode`."""

    level: str

    def __init__(self, root, max_file_bytes, max_total_bytes, held_out_fraction):
        self.corpus: Corpus = load_corpus(root, max_file_bytes, max_total_bytes, held_out_fraction)
        self.source = "<stdlib>" if root is None else str(root)

    def batch(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> np.ndarray:
        """Windows [batch_size, n_ctx] of training files (see the module's docstring)."""
        return self.train_stream.windows(rng, batch_size, n_ctx)

    def held_out(self, n_ctx: int, n_sequences: int) -> np.ndarray:
        """Windows [n ≤ n_sequences, n_ctx] tiling the held-out files."""
        return self.held_out_stream.tiling(n_ctx, n_sequences)

    def training_documents(self) -> list[np.ndarray]:
        """The training files' tokens, one array [n_i] per file (what bigrams are counted on)."""
        return self.train_stream.documents()

    def _checked(self, tokens) -> np.ndarray:
        array = np.asarray(tokens)
        if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
            raise TensorAlgebraError(
                f"tokens of shape {array.shape} and dtype {array.dtype}: expected a 1-D array "
                "of integers"
            )
        if array.size and (array.min() < 0 or array.max() >= self.d_vocab):
            raise TensorAlgebraError(
                f"tokens range over {array.min()}..{array.max()}: expected 0..{self.d_vocab - 1}"
            )
        return array

    def definition(self) -> dict:
        corpus = self.corpus
        train_paths, _ = corpus.split(False)
        held_paths, _ = corpus.split(True)
        return {
            "source": self.source,
            "python": platform.python_version() if self.source == "<stdlib>" else None,
            "level": self.level,
            "files": len(corpus.paths),
            "bytes": corpus.n_bytes,
            "sha256": corpus.sha256,
            "train_files": len(train_paths),
            "train_tokens": int(self.train_stream.lengths.sum()),
            "held_out_files": held_paths,
            "held_out_tokens": int(self.held_out_stream.lengths.sum()),
            "skipped_files_too_large": corpus.skipped_too_large,
            "skipped_files_over_total": corpus.skipped_over_total,
            **corpus.settings,
            "sequences": "windows of n_ctx tokens within one file",
        }


class TextBytes(TextData):
    """The corpus as UTF-8 bytes: ``d_vocab`` 256, token = byte value."""

    name = "stdlib"
    d_vocab = 256
    level = "bytes"

    def __init__(
        self,
        root=None,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
        held_out_fraction: float = 0.05,
    ):
        super().__init__(root, max_file_bytes, max_total_bytes, held_out_fraction)
        self.train_stream, self.held_out_stream = _byte_streams(self.corpus)

    def encode(self, text: str) -> np.ndarray:
        """``text``'s UTF-8 bytes as tokens [n] (int64)."""
        return np.frombuffer(text.encode(), dtype=np.uint8).astype(np.int64)

    def decode(self, tokens) -> str:
        """Tokens [n] as text (UTF-8; a window cut inside a character shows U+FFFD)."""
        return self._checked(tokens).astype(np.uint8).tobytes().decode(errors="replace")


class TextChars(TextData):
    """The corpus as characters: the :attr:`vocabulary` (characters occurring at least
    ``min_count`` times in the training files, by code point) at tokens ``1..``, token 0 for
    any other character; ``d_vocab = len(vocabulary) + 1``."""

    name = "stdlib-chars"
    level = "chars"

    def __init__(
        self,
        root=None,
        max_file_bytes: int = MAX_FILE_BYTES,
        max_total_bytes: int = MAX_TOTAL_BYTES,
        held_out_fraction: float = 0.05,
        min_count: int = 100,
    ):
        super().__init__(root, max_file_bytes, max_total_bytes, held_out_fraction)
        self.min_count = positive_integer(min_count, "min_count")
        self.vocabulary, self._table, self.train_stream, self.held_out_stream = _character_streams(
            self.corpus, self.min_count
        )
        self.d_vocab = len(self.vocabulary) + 1

    def encode(self, text: str) -> np.ndarray:
        """``text``'s characters as tokens [n] (int64; 0 for a character not in the
        vocabulary)."""
        return self._table[_code_points(text.encode())].astype(np.int64)

    def decode(self, tokens) -> str:
        """Tokens [n] as text; token 0 as U+FFFD."""
        return "".join((UNKNOWN + self.vocabulary)[t] for t in self._checked(tokens))

    def definition(self) -> dict:
        return {**super().definition(), "min_count": self.min_count, "vocabulary": self.vocabulary}


def _code_points(content: bytes) -> np.ndarray:
    """The code points [n] of ``content`` read as UTF-8 (invalid bytes as U+FFFD)."""
    text = content.decode(errors="replace")
    return np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)


def _streams(corpus: Corpus, documents: list, encode) -> tuple[DocumentStream, DocumentStream]:
    """The training and held-out streams of ``documents`` (one per file of ``corpus``), each
    tokenised by ``encode``."""
    streams = []
    for held_out, kind in ((False, "training"), (True, "held-out")):
        keep = [i for i, h in enumerate(corpus.held_out) if h == held_out]
        encoded = [encode(documents[i]) for i in keep]
        streams.append(DocumentStream(encoded, [corpus.paths[i] for i in keep], kind))
    return streams[0], streams[1]


@functools.lru_cache(maxsize=8)
def _byte_streams(corpus: Corpus) -> tuple[DocumentStream, DocumentStream]:
    return _streams(corpus, corpus.contents, lambda b: np.frombuffer(b, dtype=np.uint8))


@functools.lru_cache(maxsize=8)
def _character_streams(corpus: Corpus, min_count: int):
    """(vocabulary, table [MAX_CODE_POINT + 1] code point -> token, training stream, held-out
    stream) of ``corpus`` read as characters; cached like the corpus."""
    code_points = [_code_points(c) for c in corpus.contents]
    train = [c for c, h in zip(code_points, corpus.held_out) if not h]
    kept = np.flatnonzero(np.bincount(np.concatenate(train)) >= min_count)
    # Every code point not kept maps to token 0 through the table's zeros.
    table = np.zeros(MAX_CODE_POINT + 1, dtype=np.int32)
    table[kept] = np.arange(1, len(kept) + 1)
    dtype = np.uint8 if len(kept) < 256 else np.int32
    train_stream, held_out_stream = _streams(corpus, code_points, lambda c: table[c].astype(dtype))
    return "".join(map(chr, kept)), table, train_stream, held_out_stream
