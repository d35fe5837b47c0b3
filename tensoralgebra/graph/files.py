"""Where the graph is written: the target checked before any work, and the system's errors named.

>>> try:
...     target("missing/folder/x.dot", (".dot",), "a graph")
... except TensorAlgebraError as error:
...     print(str(error).replace(": ", ":\\n"))
cannot write a graph to 'missing/folder/x.dot':
the folder 'missing/folder' does not exist
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from tensoralgebra.errors import TensorAlgebraError


def target(path: object, formats: tuple[str, ...], what: str) -> Path:
    """``path`` as a :class:`~pathlib.Path`, checked: an extension among ``formats``, an
    existing folder, not a folder itself."""
    if not isinstance(path, (str, os.PathLike)) or isinstance(path, bytes):
        raise TensorAlgebraError(f"cannot write {what} to {path!r}: expected a file path")
    path = Path(path)
    if path.suffix.lower() not in formats:
        raise TensorAlgebraError(
            f"cannot write {what} to {str(path)!r}: the extension must be one of "
            f"{', '.join(formats)}"
        )
    if path.is_dir():
        raise TensorAlgebraError(f"cannot write {what} to {str(path)!r}: it is a folder")
    folder = path.parent
    if not folder.is_dir():
        raise TensorAlgebraError(
            f"cannot write {what} to {str(path)!r}: the folder {str(folder)!r} does not exist"
        )
    return path


@contextlib.contextmanager
def writing(path: Path, what: str) -> Iterator[None]:
    """Turn the system's refusal to write ``path`` (permissions, a full disk) into a clear
    error."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise TensorAlgebraError(f"cannot write {what} to {str(path)!r}: {reason}") from None
