"""docs/conventions.md keeps the numbered sections that code and docs cite as "§N", and every
such citation in the repository points to a section that exists."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "conventions.md"
SECTIONS = [
    "1. Conventions",
    "2. Paths",
    "3. Logit expansion",
    "4. Attention-score expansion",
    "5. Checking against a forward pass",
    "6. Quantities built on the expansion",
    "7. Real architectures",
]
#: "conventions.md §3", "conventions.md §3, §4", "conventions.md §3 and §4".
CITATION = re.compile(r"conventions\.md,? (§\d+(?:(?:, | and | or |, and )§\d+)*)")


def test_the_page_has_its_numbered_sections_in_order():
    headings = re.findall(r"^## (.+)$", PAGE.read_text(), flags=re.MULTILINE)
    assert headings == SECTIONS


def cited_sections() -> list[tuple[str, int]]:
    """(file, section number) for every "conventions.md §N" in the package, docs, proofs,
    tests and README."""
    files = [ROOT / "README.md"]
    for folder in ("tensoralgebra", "docs", "proofs", "tests"):
        files += sorted((ROOT / folder).rglob("*.py")) + sorted((ROOT / folder).rglob("*.md"))
    found = []
    for path in (f for f in files if f != Path(__file__).resolve()):
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            for number in re.findall(r"§(\d+)", match.group(1)):
                found.append((str(path.relative_to(ROOT)), int(number)))
    return found


def test_every_citation_names_an_existing_section():
    wrong = [(name, n) for name, n in cited_sections() if not 1 <= n <= len(SECTIONS)]
    assert not wrong, f"citations of docs/conventions.md sections that do not exist: {wrong}"


def test_citations_are_found():
    sample = 'see docs/conventions.md §3 and §4; "docs/conventions.md §N"'
    assert [m.group(1) for m in CITATION.finditer(sample)] == ["§3 and §4"]
