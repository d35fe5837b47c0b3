"""A corpus of source files read from the machine: by default the Python standard library's own
``*.py`` files, found through ``sysconfig``; no network needed.

Files are walked in sorted order, skipping test directories (``test``, ``tests``, ``idle_test``,
``test_*``), ``site-packages``, ``dist-packages`` and ``__pycache__``, empty files and files over
``max_file_bytes``; files are taken until the next would bring the total over
``max_total_bytes``. A file is held out when the SHA-256 of its relative path, read as a number
in [0, 1), is below ``held_out_fraction`` (when no file is, the one with the smallest hash), so
the split depends on the file's name alone: stable across machines and as files come and go.
The corpus's SHA-256 covers every file's relative path and contents, in order.

Loaded corpora are cached per process: a second load of the same root and settings, its files
unchanged (names, sizes, modification times), only walks the directory.

>>> import pathlib, tempfile
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> for name in ("a.py", "b.py", "c.py"):
...     _ = (root / name).write_text(f"# {name}\\nprint({name!r})\\n")
>>> corpus = load_corpus(root)
>>> corpus.paths, corpus.held_out
(('a.py', 'b.py', 'c.py'), (False, True, False))
"""

from __future__ import annotations

import functools
import hashlib
import os
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.training.data.base import batch_shape
from tensoralgebra.validation import fraction, positive_integer

__all__ = ["Corpus", "DocumentStream", "load_corpus", "stdlib_root"]

#: Directory names never walked into: tests, installed packages, bytecode.
SKIPPED_DIRECTORIES = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "__pycache__"}
)
#: Defaults: a file over 256 KiB is data more than code; 16 MiB loads in well under 2 s.
MAX_FILE_BYTES = 256 * 1024
MAX_TOTAL_BYTES = 16 * 1024 * 1024


def stdlib_root() -> Path:
    """The directory of the running Python's standard library (``sysconfig``'s ``stdlib``)."""
    return Path(sysconfig.get_paths()["stdlib"])


@dataclass(frozen=True, eq=False)
class Corpus:
    """The files of a corpus: ``paths`` (relative, POSIX, sorted), ``contents`` (bytes),
    ``held_out`` (bool per file), the ``sha256`` of all of them, and what was skipped."""

    root: Path
    paths: tuple[str, ...]
    contents: tuple[bytes, ...]
    held_out: tuple[bool, ...]
    sha256: str
    skipped_too_large: int
    skipped_over_total: int
    settings: dict

    @property
    def n_bytes(self) -> int:
        """The corpus's size in bytes."""
        return sum(map(len, self.contents))

    def split(self, held_out: bool) -> tuple[list[str], list[bytes]]:
        """(paths, contents) of the held-out files (``held_out=True``) or the training files."""
        keep = [i for i, h in enumerate(self.held_out) if h == held_out]
        return [self.paths[i] for i in keep], [self.contents[i] for i in keep]


def load_corpus(
    root: object = None,
    max_file_bytes: object = MAX_FILE_BYTES,
    max_total_bytes: object = MAX_TOTAL_BYTES,
    held_out_fraction: object = 0.05,
) -> Corpus:
    """The corpus under ``root`` (``None``: :func:`stdlib_root`), cached per process."""
    if root is not None and not isinstance(root, (str, os.PathLike)):
        raise TensorAlgebraError(f"root is {root!r}: expected a directory's path")
    directory = Path(stdlib_root() if root is None else root).expanduser().resolve()
    if not directory.is_dir():
        raise TensorAlgebraError(f"root {str(root)!r} is not a directory")
    # The listing (names, sizes, modification times) is part of the cache's key, so a file
    # added, removed or changed since the last load is seen.
    listing = tuple(
        (f.relative_to(directory).as_posix(), stat.st_size, stat.st_mtime_ns)
        for f in source_files(directory)
        for stat in [f.stat()]
    )
    return _load(
        directory,
        listing,
        positive_integer(max_file_bytes, "max_file_bytes"),
        positive_integer(max_total_bytes, "max_total_bytes"),
        fraction(held_out_fraction, "held_out_fraction", open_low=True, open_high=True),
    )


def source_files(directory: Path) -> list[Path]:
    """The ``*.py`` files under ``directory`` outside skipped directories, sorted by their
    relative path."""
    found = []
    for folder, subfolders, names in os.walk(directory):
        # Pruning in place keeps os.walk out of site-packages and the test suites.
        subfolders[:] = [
            d for d in subfolders if d not in SKIPPED_DIRECTORIES and not d.startswith("test_")
        ]
        found += [Path(folder, n) for n in names if n.endswith(".py")]
    return sorted(found, key=lambda p: p.relative_to(directory).as_posix())


def path_hash(path: str) -> float:
    """The SHA-256 of a relative path as a number in [0, 1): what decides the split."""
    return int.from_bytes(hashlib.sha256(path.encode()).digest()[:8], "big") / 2**64


@functools.lru_cache(maxsize=8)
def _load(
    directory: Path, listing: tuple, max_file_bytes: int, max_total_bytes: int, held_out: float
) -> Corpus:
    paths, contents, too_large, over_total, total = [], [], 0, 0, 0
    for path, size, _ in listing:
        if size == 0:
            continue
        if size > max_file_bytes:
            too_large += 1
        elif over_total or total + size > max_total_bytes:
            over_total += 1
        else:
            paths.append(path)
            contents.append((directory / path).read_bytes())
            total += len(contents[-1])
    if len(paths) < 2:
        raise TensorAlgebraError(
            f"the corpus under {str(directory)!r} has {len(paths)} usable *.py file(s) (empty "
            f"files, test directories, site-packages and files over max_file_bytes="
            f"{max_file_bytes} skipped): at least 2 are needed, one to train on, one held out"
        )
    hashes = [path_hash(p) for p in paths]
    mask = [h < held_out for h in hashes]
    if not any(mask):
        mask[int(np.argmin(hashes))] = True
    if all(mask):
        mask[int(np.argmax(hashes))] = False
    digest = hashlib.sha256()
    for path, content in zip(paths, contents):
        digest.update(path.encode() + b"\0" + len(content).to_bytes(8, "big") + content)
    settings = {
        "max_file_bytes": max_file_bytes,
        "max_total_bytes": max_total_bytes,
        "held_out_fraction": held_out,
    }
    return Corpus(
        directory, tuple(paths), tuple(contents), tuple(mask), digest.hexdigest(), too_large,
        over_total, settings,
    )  # fmt: skip


class DocumentStream:
    """Documents of tokens, concatenated: ``tokens`` [n_tokens], ``starts`` and ``lengths``
    [n_documents], ``paths`` [n_documents]. ``kind`` ("training" or "held-out") names them in
    messages."""

    def __init__(self, documents: list[np.ndarray], paths: list[str], kind: str):
        self.paths = paths
        self.kind = kind
        self.lengths = np.array([len(d) for d in documents], dtype=np.int64)
        self.starts = np.concatenate([[0], np.cumsum(self.lengths)[:-1]]).astype(np.int64)
        self.tokens = np.concatenate(documents)

    def documents(self) -> list[np.ndarray]:
        """Each document's tokens (views into :attr:`tokens`)."""
        return [self.tokens[s : s + n] for s, n in zip(self.starts, self.lengths)]

    def check_fits(self, n_ctx: int) -> None:
        """Refuse an ``n_ctx`` longer than every document."""
        longest = int(np.argmax(self.lengths))
        if n_ctx > self.lengths[longest]:
            raise TensorAlgebraError(
                f"n_ctx {n_ctx} is longer than every {self.kind} file of the corpus: the "
                f"longest, {self.paths[longest]!r}, has {self.lengths[longest]} tokens; "
                f"expected n_ctx <= {self.lengths[longest]}"
            )

    def windows(self, rng: np.random.Generator, batch_size: int, n_ctx: int) -> np.ndarray:
        """``batch_size`` windows [batch_size, n_ctx] of ``n_ctx`` consecutive tokens of one
        document, uniform over all such windows of all documents (int64)."""
        batch_size, n_ctx = batch_shape(batch_size, n_ctx)
        self.check_fits(n_ctx)
        counts = np.maximum(self.lengths - n_ctx + 1, 0)
        ends = np.cumsum(counts)
        index = rng.integers(0, ends[-1], size=batch_size)
        document = np.searchsorted(ends, index, side="right")
        start = self.starts[document] + index - (ends[document] - counts[document])
        return self.tokens[start[:, None] + np.arange(n_ctx)].astype(np.int64)

    def tiling(self, n_ctx: int, n_sequences: int) -> np.ndarray:
        """Non-overlapping windows [n, n_ctx] tiling each document from its start; when there
        are more than ``n_sequences``, ``n_sequences`` of them evenly spaced over the corpus."""
        n_sequences, n_ctx = batch_shape(n_sequences, n_ctx, rows="n_sequences")
        self.check_fits(n_ctx)
        per_document = self.lengths // n_ctx
        document = np.repeat(np.arange(len(self.lengths)), per_document)
        first = np.cumsum(per_document) - per_document
        k = np.arange(len(document)) - first[document]
        start = self.starts[document] + k * n_ctx
        if len(start) > n_sequences:
            start = start[np.linspace(0, len(start) - 1, n_sequences).round().astype(np.int64)]
        return self.tokens[start[:, None] + np.arange(n_ctx)].astype(np.int64)
