"""What the commands print and write: lines and JSON on standard output, the paper's notation
spelled in ASCII where the output cannot encode it, output files refused up front when they
cannot be written, and counts of any size.

>>> ascii_spelling("Σ_{h∈H₁₂} A^{h} ⊗ W_Eᵀ·W → x ≤ 2")
'sum_{h in H_12} A^{h} (x) W_E^T*W -> x <= 2'
>>> brief(97), brief(97**96), brief(3**9000)
('97', '≈ 5.37e+190', '≈ 1.23e+4294 (4295 digits)')
"""

from __future__ import annotations

import codecs
import contextlib
import json
import math
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from tensoralgebra.counting import count_digits as digits
from tensoralgebra.errors import TensorAlgebraError

# --- the notation in ASCII ------------------------------------------------------------------

#: How each symbol of the paper's notation is spelled where the output cannot encode it.
ASCII = {
    "⊗": "(x)",
    "Σ": "sum",
    "Π": "prod",
    "∈": " in ",
    "·": "*",
    "→": "->",
    "ᵀ": "^T",
    "≤": "<=",
    "≥": ">=",
    "≈": "~",
    "×": "x",
    "—": "--",
    "…": "...",
}
_SUBSCRIPTS = "₀₁₂₃₄₅₆₇₈₉"
_SUBSCRIPT_RUN = re.compile(f"[{_SUBSCRIPTS}]+")
_ERRORS = "tensoralgebra-ascii"


def ascii_spelling(text: str) -> str:
    """``text`` with the notation spelled in ASCII (:data:`ASCII`; ``H₁₂`` → ``H_12``); any
    other non-ASCII character as a ``\\uXXXX`` escape."""
    text = _SUBSCRIPT_RUN.sub(lambda m: "_" + m.group().translate(_DIGITS), text)
    text = "".join(ASCII.get(c, c) for c in text)
    return text.encode("ascii", "backslashreplace").decode("ascii")


_DIGITS = str.maketrans(_SUBSCRIPTS, "0123456789")


def _spell(error: UnicodeError) -> tuple[str, int]:
    return ascii_spelling(error.object[error.start : error.end]), error.end


codecs.register_error(_ERRORS, _spell)


def _encodes(stream, text: str = "⊗Σ∈·→ᵀ≤≈₁") -> bool:
    try:
        text.encode(getattr(stream, "encoding", None) or "utf-8")
    except (UnicodeError, LookupError):
        return False
    return True


@contextlib.contextmanager
def notation_for_the_terminal() -> Iterator[None]:
    """While it lasts, standard output and error spell the notation in ASCII if their encoding
    cannot encode it (instead of failing with UnicodeEncodeError mid-listing)."""
    changed = []
    for stream in (sys.stdout, sys.stderr):
        if not _encodes(stream) and hasattr(stream, "reconfigure"):
            changed.append((stream, stream.errors))
            stream.reconfigure(errors=_ERRORS)
    try:
        yield
    finally:
        for stream, errors in changed:
            stream.reconfigure(errors=errors)


# --- standard output ------------------------------------------------------------------------


def emit(lines: Iterable[str]) -> None:
    """Print each line."""
    for line in lines:
        print(line)


def emit_json(text: str) -> None:
    """Print JSON text; where the output cannot encode a character, it is written as a JSON
    ``\\uXXXX`` escape, so that the data stays exact."""
    if not _encodes(sys.stdout, text):
        text = text.encode("ascii", "backslashreplace").decode("ascii")
        text = re.sub(r"\\x([0-9a-f]{2})", r"\\u00\1", text)
    print(text)


def json_lines(head: dict, key: str, items: Iterable[dict]) -> str:
    """A JSON object: the fields of ``head``, then ``key`` holding ``items``, one item per line
    (long listings stay readable and greppable)."""
    with exact_digits():
        fields = [
            f"  {json.dumps(k)}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items()
        ]
        rows = [f"    {json.dumps(item, ensure_ascii=False)}" for item in items]
    listing = f"  {json.dumps(key)}: [\n" + ",\n".join(rows) + "\n  ]" if rows else f'  "{key}": []'
    return "\n".join(["{", ",\n".join([*fields, listing]), "}"])


# --- output files ---------------------------------------------------------------------------


def check_output(path: str, option: str, suffixes: Sequence[str] = ()) -> Path:
    """``path`` as a :class:`Path`, refused before any work if it cannot be an output file: a
    folder, in a folder that does not exist, or (with ``suffixes``) of another type."""
    out = Path(path)
    if out.is_dir():
        raise TensorAlgebraError(f"{option} {path!r} is a folder: name a file in it")
    if not out.parent.is_dir():
        raise TensorAlgebraError(
            f"{option} {path!r}: the folder {str(out.parent)!r} does not exist"
        )
    if suffixes and out.suffix.lower() not in suffixes:
        expected = suffixes[0] if len(suffixes) == 1 else f"one of {', '.join(suffixes)}"
        raise TensorAlgebraError(f"{option} {path!r}: the extension must be {expected}")
    return out


@contextlib.contextmanager
def writing(path: str | Path, option: str) -> Iterator[None]:
    """Turn a failure to write ``path`` (full disk, no permission) into one line naming it."""
    try:
        yield
    except OSError as error:
        reason = error.strerror or str(error)
        raise TensorAlgebraError(f"{option} {str(path)!r}: cannot write: {reason}") from None


def write_text(path: str, text: str, option: str, suffixes: Sequence[str] = ()) -> Path:
    """Write ``text`` (UTF-8) to the output file ``path`` given by ``option``."""
    out = check_output(path, option, suffixes)
    with writing(out, option):
        out.write_text(text, encoding="utf-8")
    return out


# --- counts of any size ---------------------------------------------------------------------

#: Counts up to this many digits print exactly; longer ones in scientific form (``--exact``
#: prints every digit).
SHORT_DIGITS = 300


@contextlib.contextmanager
def exact_digits() -> Iterator[None]:
    """Lift Python's limit on converting long integers to text (4300 digits by default)."""
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        yield
    finally:
        sys.set_int_max_str_digits(limit)


def scientific(n: int, figures: int = 3) -> str:
    """``n >= 0`` rounded to ``figures`` significant digits: ``5.37e+190``.

    Beyond 300 digits only the top 64 bits are read (through a logarithm good to about 1e-10,
    far below the printed precision), so a column of thousands of counts with tens of
    thousands of digits formats at once instead of dividing each by a huge power of ten.
    """
    d = digits(n)
    if d <= figures:
        q = n * 10 ** (figures - d)
    elif d <= 300:
        q, r = divmod(n, 10 ** (d - figures))
        if 2 * r >= 10 ** (d - figures):
            q += 1
    else:
        shift = n.bit_length() - 64
        log10 = math.log10(n >> shift) + shift * math.log10(2)
        q = round(10 ** (log10 - (d - figures)))
    if q == 10**figures:
        q, d = q // 10, d + 1
    mantissa = str(q)
    return f"{mantissa[0]}.{mantissa[1:]}e+{d - 1}"


def brief(n: int) -> str:
    """``n`` exactly if it reads at a glance (up to 9 digits), else rounded; the digit count
    too when it is beyond :data:`SHORT_DIGITS`."""
    d = digits(n)
    if d <= 9:
        return str(n)
    tail = f" ({d} digits)" if d > SHORT_DIGITS else ""
    return f"≈ {scientific(n)}{tail}"


def json_count(n: int, exact: bool = False) -> int | str:
    """A count for JSON: the integer itself up to :data:`SHORT_DIGITS` digits (or with
    ``exact``), else its rounded form as a string, ``"≈ 2.52e+30100 (30101 digits)"``: writing
    thousands of integers of tens of thousands of digits would take minutes."""
    return n if exact or digits(n) <= SHORT_DIGITS else brief(n)


def count_column(numbers: Sequence[int], exact: bool = False) -> list[str]:
    """Counts aligned as a column: exact when they are short (or ``exact``), with their rounded
    form in front when some are long; beyond :data:`SHORT_DIGITS` digits only the rounded form
    and the number of digits.

    >>> count_column([1, 12])
    [' 1', '12']
    >>> for line in count_column([9216, 97**2 * 10**9, 97**96]):
    ...     print(line[:40])
                      9216
     ≈ 9.41e+12  9409000000000
    ≈ 5.37e+190  537138756671996027633836190
    """
    sizes = [digits(n) for n in numbers]
    if max(sizes) <= 9:
        return [str(n).rjust(max(sizes)) for n in numbers]
    rounded = ["" if d <= 9 else brief(n) for n, d in zip(numbers, sizes)]
    with exact_digits():
        texts = [str(n) if exact or d <= SHORT_DIGITS else "" for n, d in zip(numbers, sizes)]
    column = max(map(len, rounded))
    # Long exact values start after the rounded column; short ones end where 9 digits would.
    return [
        f"{r:>{column}}  {t}".rstrip() if r else t.rjust(column + 2 + 9)
        for r, t in zip(rounded, texts)
    ]
