"""The proof checker: derivations re-derived by their rules, exactly and numerically; broken
steps rejected with messages naming the step, the rule and what it produced; theorems rendered
and compiled; the ``prove`` command."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from tex_support import compiles

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.errors import TensorAlgebraError
from tensoralgebra.expr import (
    MODEL,
    POSITIONS,
    Identity,
    Kron,
    Product,
    Space,
    Sum,
    Transpose,
    symbol,
)
from tensoralgebra.latex.render import escape_text
from tensoralgebra.proof import Equation, ProofError, Theorem, load_proofs, same, tidy
from tensoralgebra.proof.render import collection
from tensoralgebra.proof.runner import find_proofs, table
from tensoralgebra.symbols import W_O, W_OV, W_V, A, Id_positions

PROOFS = Path(__file__).resolve().parents[1] / "proofs"
P, M = Space.of(POSITIONS), Space.of(MODEL)
A_, B_ = symbol("A", P, P), symbol("B", P, P)
W_, V_ = symbol("W", M, M), symbol("V", M, M)
FAST = {"examples": 5}


def failures_of(derivation: ta.Derivation, check: str) -> list[str]:
    return [r.message for r in derivation.check(**FAST).failures() if r.check == check]


def rule_failure(derivation: ta.Derivation) -> str:
    report = derivation.check(**FAST)
    (failure,) = [r for r in report.failures() if r.check == "rule"]
    return f"{failure.subject}: {failure.message}"


# --- mutations: each broken step is rejected, naming the step, the rule and what it gave ---------


def test_swapped_factors_are_rejected():
    start = Product((Kron((A_, W_)), Kron((B_, V_))))
    wrong = ta.Derivation.start("swapped", start).then(Kron((B_ @ A_, W_ @ V_)), "mixed_product")
    assert rule_failure(wrong) == (
        "step 1 (B A ⊗ W V): does not follow: mixed_product produces A B ⊗ W V instead"
    )
    assert failures_of(wrong, "exact") and failures_of(wrong, "numeric")
    assert "entry" in failures_of(wrong, "exact")[0]


def test_dropped_transpose_is_rejected():
    start = Transpose(Kron((A_, W_)))
    wrong = ta.Derivation.start("dropped", start).then(Kron((Transpose(A_), W_)), "transpose_kron")
    assert rule_failure(wrong) == (
        "step 1 (A^T ⊗ W): does not follow: transpose_kron produces A^T ⊗ W^T instead"
    )
    assert failures_of(wrong, "exact") and failures_of(wrong, "numeric")


def test_wrong_head_index_is_rejected():
    start = Product((Kron((Id_positions, W_O((0, 0)))), Kron((A((0, 0)), W_V((0, 0))))))
    wrong = ta.Derivation.start("head", start).then(
        Kron((A((0, 1)), Product((W_O((0, 0)), W_V((0, 0)))))), "mixed_product"
    )
    assert rule_failure(wrong) == (
        "step 1 (A^{L0H1} ⊗ W_O^{L0H0} W_V^{L0H0}): does not follow: mixed_product produces "
        "A^{L0H0} ⊗ W_O^{L0H0} W_V^{L0H0} instead"
    )
    assert failures_of(wrong, "exact") and failures_of(wrong, "numeric")


def test_missing_term_is_rejected():
    logits = ta.logits(ta.Architecture(heads=(2,)))
    full = ta.terms(ta.expand(logits))
    wrong = ta.Derivation.start("missing", logits).then(
        Sum(full[:2]), "distribute_product", "mixed_product", "eliminate_identity"
    )
    message = rule_failure(wrong)
    assert message.startswith(
        "step 1 (Id ⊗ W_U W_E + A^{L0H0} ⊗ W_U W_OV^{L0H0} W_E): does not follow: "
        "distribute_product, mixed_product, eliminate_identity produces Id ⊗ W_U W_E + "
    )
    assert message.endswith("A^{L0H1} ⊗ W_U W_OV^{L0H1} W_E instead")
    assert failures_of(wrong, "exact") and failures_of(wrong, "numeric")


def test_true_step_with_the_wrong_rule_is_rejected_by_the_rule_check_only():
    start = Product((Kron((A_, W_)), Kron((B_, V_))))
    wrong = ta.Derivation.start("wrong rule", start).then(
        Kron((A_ @ B_, W_ @ V_)), "transpose_kron"
    )
    report = wrong.check(**FAST)
    assert [r.check for r in report.failures()] == ["rule"]
    assert (
        "transpose_kron does not apply to the previous expression" in report.failures()[0].message
    )


def test_a_wrong_citation_is_rejected():
    mixed = Equation(
        "mixed-product rule",
        Product((Kron((A_, W_)), Kron((B_, V_)))),
        Kron((A_ @ B_, W_ @ V_)),
    )
    start = Product((Kron((B_, V_)), Kron((A_, W_))))
    right = ta.Derivation.start("cite", start).then(
        Kron((B_ @ A_, V_ @ W_)), cites=mixed.at(A=B_, W=V_, B=A_, V=W_)
    )
    assert right.check(**FAST).ok
    wrong = ta.Derivation.start("cite", start).then(Kron((B_ @ A_, V_ @ W_)), cites=mixed)
    assert "mixed-product rule does not apply" in rule_failure(wrong)


def test_a_later_step_is_named_by_its_number():
    start = Transpose(Product((Kron((A_, W_)), Kron((B_, V_)))))
    d = (
        ta.Derivation.start("two", start)
        .then(Product((Transpose(Kron((B_, V_))), Transpose(Kron((A_, W_))))), "transpose_product")
        .then(
            Product((Kron((Transpose(B_), V_)), Kron((Transpose(A_), Transpose(W_))))),
            "transpose_kron",
        )
    )
    assert rule_failure(d).startswith("step 2 ((B^T ⊗ V)·(A^T ⊗ W^T)): does not follow")


def test_definitions_unfold_and_a_wrong_use_fails():
    h = ta.HeadVar("h")
    definition = Equation("definition of W_OV", W_OV(h), Product((W_O(h), W_V(h))), "definition")
    start = Kron((A((0, 0)), Product((W_O((0, 0)), W_V((0, 0))))))
    right = ta.Derivation.start("d", start).then(Kron((A((0, 0)), W_OV((0, 0)))), cites=definition)
    assert right.check(**FAST).ok
    # W_V^T W_O^T is (W_O W_V)^T, not W_OV: every check catches the reversed product.
    reversed_ = Kron((A((0, 0)), Product((W_V((0, 0)).T, W_O((0, 0)).T))))
    wrong = ta.Derivation.start("d", reversed_).then(
        Kron((A((0, 0)), W_OV((0, 0)))), cites=definition
    )
    assert sorted(r.check for r in wrong.check(**FAST).failures()) == ["exact", "numeric", "rule"]


def test_unknown_rules_and_citations_are_refused_when_built():
    d = ta.Derivation.start("x", A_)
    with pytest.raises(TensorAlgebraError, match="step 1 names the rule 'distribute', which"):
        d.then(A_, "distribute")
    with pytest.raises(TensorAlgebraError, match="step 1 cites 'a lemma'"):
        d.then(A_, cites="a lemma")


def test_raise_for_failures_lists_every_failure():
    wrong = ta.Derivation.start("swapped", Product((Kron((A_, W_)), Kron((B_, V_))))).then(
        Kron((B_ @ A_, W_ @ V_)), "mixed_product"
    )
    with pytest.raises(ProofError, match=r"swapped: 3 of 3 checks failed:\n  step 1"):
        wrong.check(**FAST).raise_for_failures()


# --- what passes ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "derivation",
    [
        ta.derive_logits(ta.Architecture(heads=(2, 1))),
        ta.derive_logits(ta.Architecture.schematic(n_layers=2, positional="standard")),
        ta.derive_scores(ta.Architecture(heads=(1, 1)), layer=1, head=0),
    ],
    ids=["logits", "positional", "scores"],
)
def test_the_packages_derivations_check(derivation):
    report = derivation.check(**FAST)
    assert report.ok, report.failures()
    assert report.total == 3 * (len(derivation.steps) - 1)


def test_a_step_may_read_right_to_left():
    start = Kron((A_, W_))
    d = ta.Derivation.start("back", start).then(
        Product((Kron((A_, Identity(M))), Kron((Id_positions, W_)))), "mixed_product"
    )
    assert d.check(**FAST).ok


def test_tidy_forgets_nesting_order_and_bound_names_only():
    a, b, c = (symbol(n, M, M) for n in "abc")
    assert same(Sum((a, Sum((c, b)))), Sum((b, a, c)))
    assert not same(a @ b, b @ a)
    h, g = ta.HeadVar("h"), ta.HeadVar("g")
    s = ta.HeadSet((0,))
    from tensoralgebra.expr import IndexedSum

    assert tidy(IndexedSum(h, s, A(h))) == tidy(IndexedSum(g, s, A(g)))


def test_a_theorem_whose_derivation_misses_its_statement_fails():
    t = Theorem("x", "x", "x", equation=Equation("x", A_ @ B_, B_ @ A_))
    t.prove(t.start(A_ @ B_).then(A_ @ B_))
    report = t.check(**FAST)
    assert [r.check for r in report.failures()] == ["statement"]


def test_a_failing_fact_is_reported_with_its_line():
    t = Theorem("x", "x", "x")

    @t.fact("numeric")
    def wrong():
        """Two is three"""
        assert 2 == 3, "two is not three"

    (failure,) = t.check().failures()
    assert failure.subject == "fact wrong (Two is three)"
    assert failure.message.startswith("AssertionError at line ")
    assert failure.message.endswith(": two is not three")


# --- the proofs folder, rendered -----------------------------------------------------------------

THEOREMS = load_proofs()


def test_every_identity_of_the_issue_has_a_proof():
    stems = [name for name, _ in THEOREMS]
    assert len(stems) >= 16 and stems == sorted(stems)
    for word in (
        "kronecker_action",
        "mixed_product",
        "transpose",
        "attention_head",
        "zero_layer",
        "one_layer",
        "two_layer",
        "induction",
        "term_count",
        "second_layer_scores",
        "any_depth",
        "linearity",
        "positional",
        "composition",
        "eigenvalues",
        "biases",
    ):
        assert any(word in s for s in stems), word


@pytest.mark.parametrize(("name", "theorem"), THEOREMS, ids=[n for n, _ in THEOREMS])
def test_markdown_states_the_theorem_and_its_steps(name, theorem):
    text = theorem.to_markdown()
    assert text.startswith(f"### {theorem.title}\n\n{theorem.statement}\n\n$$\n{theorem.latex}\n$$")
    for d in theorem.derivations:
        for step in d.steps[1:]:
            assert f"\\text{{({escape_text(step.justification)})}}" in text
    for fact in theorem.facts:
        assert f"- {fact.text} (" in text


@pytest.mark.tex
def test_every_proof_compiles(tmp_path):
    log = compiles(collection([t for _, t in THEOREMS], "Proofs"), tmp_path / "proofs.pdf")
    assert "Output written" in log


@pytest.mark.tex
def test_one_proof_compiles_alone(tmp_path):
    _, theorem = THEOREMS[2]
    compiles(theorem.to_document(), tmp_path / "one.pdf")


# --- the prove command ---------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _keep_the_sessions_hypothesis_profile():
    """The prove command loads its own Hypothesis profile (a process that is the command);
    run in-process here, the session's profile is restored after each test."""
    from hypothesis import settings

    previous = settings.default
    yield
    settings.register_profile("test-session-restored", parent=previous)
    settings.load_profile("test-session-restored")


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_prove_prints_a_table():
    status, out, _ = run("prove", "mixed_product", "3", "--examples", "3")
    lines = out.splitlines()
    assert status == 0
    assert lines[0].split() == ["proof", "steps", "checks", "time"]
    assert [line.split()[0] for line in lines[1:3]] == [
        "02_mixed_product",
        "03_kronecker_transpose",
    ]
    assert lines[-1].startswith("2 proofs: ") and "checks passed in" in lines[-1]


def test_prove_fails_on_a_broken_proof(tmp_path):
    (tmp_path / "01_broken.py").write_text(
        "from tensoralgebra.expr import MODEL, Space, symbol\n"
        "from tensoralgebra.proof import Theorem\n"
        "a, b = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in 'ab')\n"
        "THEOREM = Theorem('Commutativity', 'wrong', 'a b = b a')\n"
        "THEOREM.prove(THEOREM.start(a @ b).then(b @ a, 'flatten_product'))\n"
    )
    (tmp_path / "02_empty.py").write_text("x = 1\n")
    status, out, _ = run("prove", "--dir", str(tmp_path), "--examples", "2")
    assert status == 1
    rows = {line.split()[0]: line.split()[1:3] for line in out.splitlines()[1:3]}
    assert rows == {"01_broken": ["1", "0/3"], "02_empty": ["0", "0/1"]}
    assert "01_broken: step 1 (b a): [rule] does not follow: flatten_product does not apply" in out
    assert "02_empty: file 02_empty.py: [import] TensorAlgebraError: 02_empty.py defines" in out


GOOD = (
    "from tensoralgebra.expr import MODEL, Space, symbol\n"
    "from tensoralgebra.proof import Theorem\n"
    "a, b = (symbol(n, Space.of(MODEL), Space.of(MODEL)) for n in 'ab')\n"
    "THEOREM = Theorem('Identity', 'a b = a b', 'a b = a b')\n"
    "THEOREM.prove(THEOREM.start(a @ b).then(a @ b, 'flatten_product'))\n"
)
# Proof files that must fail, naming the file: (source, fragment of the failure line).
BROKEN = [
    ("import sys\nsys.exit(0)\n", "[import] TensorAlgebraError: 01_bad.py exited (SystemExit: 0)"),
    ("raise SystemExit('stop')\n", "01_bad.py exited (SystemExit: 'stop')"),
    ("raise RuntimeError('boom')\n", "file 01_bad.py: [import] RuntimeError: boom"),
    ("x = 1\n", "01_bad.py defines no THEOREM (a tensoralgebra.proof.Theorem), found NoneType"),
    ("THEOREM = 3\n", "01_bad.py defines no THEOREM (a tensoralgebra.proof.Theorem), found int"),
    (
        "from tensoralgebra.proof import Theorem\nTHEOREM = Theorem('Empty', 's', 'x')\n",
        "theorem 'Empty': [checks] no checks: the theorem has no derivation step",
    ),
    (
        "import sys\nfrom tensoralgebra.proof import Theorem\nTHEOREM = Theorem('Exit', 's', 'x')\n"
        "THEOREM.fact('package')(lambda: sys.exit(0))\n",
        "[package] SystemExit at line",
    ),
]


@pytest.mark.parametrize(("source", "fragment"), BROKEN, ids=range(len(BROKEN)))
def test_a_broken_proof_file_fails_and_the_others_still_run(tmp_path, source, fragment):
    (tmp_path / "01_bad.py").write_text(source)
    (tmp_path / "02_good.py").write_text(GOOD)
    status, out, err = run("prove", "--dir", str(tmp_path), "--examples", "2")
    assert status == 1 and err == ""
    assert fragment in out
    lines = out.splitlines()
    assert lines[1].startswith("01_bad") and lines[1].endswith("FAILED")
    assert lines[2].startswith("02_good") and not lines[2].endswith("FAILED")
    assert lines[3].startswith("2 proofs: 1 failed")


def test_a_theorem_without_checks_fails():
    report = ta.Theorem("Nothing", "nothing", "x").check()
    assert (report.ok, report.passed, report.total) == (False, 0, 1)
    assert "no checks" in report.failures()[0].message


def test_prove_leaves_no_example_database(tmp_path, monkeypatch):
    (tmp_path / "proofs").mkdir()
    (tmp_path / "proofs" / "01_fact.py").write_text(
        "from hypothesis import given, strategies as st\n"
        "from tensoralgebra.proof import Theorem\n"
        "THEOREM = Theorem('A fact', 's', 'x')\n"
        "@THEOREM.fact('numeric')\n"
        "@given(st.integers())\n"
        "def commutes(n):\n"
        "    assert n + 1 == 1 + n\n"
    )
    monkeypatch.chdir(tmp_path)
    status, out, _ = run("prove", "--dir", "proofs")
    assert status == 0, out
    assert not (tmp_path / ".hypothesis").exists()


def test_prove_profile_restores_the_settings_it_found():
    from hypothesis import settings

    from tensoralgebra.proof.runner import prove_profile

    before = settings.default
    with prove_profile():
        assert settings.default.database is None and settings.default.deadline is None
    after = settings.default
    assert (after.max_examples, after.derandomize, after.database) == (
        before.max_examples,
        before.derandomize,
        before.database,
    )


def test_prove_reports_bad_names_and_folders(tmp_path):
    status, _, err = run("prove", "no_such_proof")
    assert status == 2 and "no proof named 'no_such_proof'" in err and "01_kronecker_action" in err
    status, _, err = run("prove", "--dir", str(tmp_path / "nowhere"))
    assert status == 2 and f"no proofs folder at {tmp_path / 'nowhere'}" in err
    status, _, err = run("prove", "--dir", str(tmp_path))
    assert status == 2 and "no file matches" in err


def test_find_proofs_by_stem_name_and_number():
    assert find_proofs(["02_mixed_product"]) == find_proofs(["mixed_product"]) == find_proofs(["2"])
    assert [p.stem for p in find_proofs(["3", "02"])] == [
        "02_mixed_product",
        "03_kronecker_transpose",
    ]


def test_table_marks_failed_proofs():
    passed = ta.proof.ProofReport("a", 2, (ta.proof.CheckResult("s", "rule", True),), 0.5)
    failed = ta.proof.ProofReport("b", 1, (ta.proof.CheckResult("s", "rule", False, "no"),), 0.25)
    lines = table([("01_a", passed), ("02_b", failed)]).splitlines()
    assert lines[2].endswith("FAILED") and not lines[1].endswith("FAILED")
    assert lines[-1] == "2 proofs: 1 failed, 1/2 checks passed in 0.75 s"


def test_the_docs_page_states_every_proof():
    page = (Path(__file__).resolve().parents[1] / "docs" / "proofs.md").read_text()
    readme = (PROOFS / "README.md").read_text()
    for name, theorem in THEOREMS:
        assert f"### [{name}](../proofs/{name}.py): {theorem.title}" in page, name
        assert f"{theorem.statement}\n\n$$\n{theorem.latex}\n$$" in page, name
        assert f"| `{name}.py` |" in readme, name
