"""The path explorer (docs/explorer.md): its data are the package's enumeration, and the page,
driven in headless Chromium, shows the package's counts.

The data tests run the generator (docs/_ext/explorer.py) and compare it with the package; the
browser test needs Chromium and the built site (scripts/build-docs) and is skipped without them.
"""

import itertools
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

import tensoralgebra as ta

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "docs" / "_ext"))
sys.path.insert(0, str(ROOT / "scripts"))
import explorer  # noqa: E402
import site_check  # noqa: E402

# Presets, a custom shape, every positional kind, LayerNorm and biases, a listing over the limit.
SETTINGS = [
    ((2, 2), "none", False, False),
    ((4, 4, 4), "none", False, False),
    ((1, 3, 2), "standard", False, False),
    ((2, 1, 2), "shortformer", True, False),
    ((2, 2), "standard", True, True),
    ((4, 4, 1), "standard", False, True),
]


def _chain_edges(chain: str, reader: str, channel: str) -> list[tuple[str, str, str]]:
    # What the page does (explorer.js chainEdges): V hops closed by the reader's channel.
    nodes = [*chain.split(">"), reader]
    return [
        (u, v, channel if i == len(nodes) - 2 else "V")
        for i, (u, v) in enumerate(itertools.pairwise(nodes))
    ]


@pytest.mark.parametrize("setting", SETTINGS, ids=[explorer.key(*s) for s in SETTINGS])
def test_every_head_s_terms_are_the_package_s(setting):
    heads = setting[0]
    arch = explorer.architecture(*setting)
    for layer, n in enumerate(heads):
        table = explorer.score_table(heads[:layer], *setting[1:])
        assert table["by_kind"] == ta.count_score_paths_by_kind(arch, layer, 0)
        top = table["max_order"]
        for head in range(n):
            name = f"L{layer}H{head}"
            paths = list(ta.score_paths(arch, layer, head, top))
            got = [t[5].replace(table["head"], name) for t in table["terms"]]
            assert got == [ta.to_latex(p.expr) for p in paths]
            assert [t[0] for t in table["terms"]] == [p.kind for p in paths]
            assert [tuple(t[1:3]) for t in table["terms"]] == [p.order for p in paths]
            edges = [
                _chain_edges(t[6], name, "Q") + _chain_edges(t[7], name, "K")
                for t in table["terms"]
            ]
            assert edges == [list(ta.graph.term_edges(p)) for p in paths]
        by_kind = Counter(t[0] for t in table["terms"])
        if top is None:
            assert dict(by_kind) == {k: v for k, v in table["by_kind"].items() if v}


@pytest.mark.parametrize("setting", SETTINGS, ids=[explorer.key(*s) for s in SETTINGS])
def test_the_graph_and_the_logit_paths_are_the_package_s(setting):
    arch = explorer.architecture(*setting)
    record = explorer.record(*setting)
    G = ta.graph.build(arch)
    assert [n[0] for n in record["graph"]["nodes"]] == list(G.nodes)
    assert [tuple(e) for e in record["graph"]["edges"]] == list(G.edges(keys=True))
    logits = record["logits"]
    assert logits["by_order"] == list(ta.count_logit_paths_by_order(arch))
    paths = list(ta.logit_paths(arch, logits["max_order"]))
    assert [t[2] for t in logits["terms"]] == [ta.to_latex(p.expr) for p in paths]
    assert [_chain_edges(t[3], "unembed", "out") for t in logits["terms"]] == [
        list(ta.graph.term_edges(p)) for p in paths
    ]


def test_a_listing_over_the_limit_holds_the_largest_order_that_fits():
    table = explorer.score_table((4, 4), "standard", True, True)
    arch = explorer.architecture((4, 4, 1), "standard", True, True)
    assert sum(table["by_kind"].values()) > explorer.LIST_LIMIT
    assert table["max_order"] == ta.fitting_score_max_order(arch, 2, explorer.LIST_LIMIT) == 1
    assert len(table["terms"]) == ta.count_score_paths(arch, 2, 0, max_order=1)


def test_the_listed_set_is_bounded():
    settings = list(explorer.settings())
    assert len(settings) == sum(4**n for n in (1, 2, 3)) * 3 * 2 * 2
    assert max(len(h) for h, *_ in settings) == explorer.MAX_LAYERS
    assert max(max(h) for h, *_ in settings) == explorer.MAX_HEADS
    assert explorer.index()["presets"][-1] == [4, 4, 4]


needs_site = pytest.mark.skipif(
    site_check.find_chromium() is None or not (site_check.SITE / "explorer.html").is_file(),
    reason="needs chromium and the built site (scripts/build-docs)",
)

# Choose through the page's controls as a reader would, then read the counts it shows.
CHOOSE = """(async () => {
  const set = (id, value) => { const e = document.getElementById(id);
    if (e.type === "checkbox") e.checked = value; else e.value = value;
    e.dispatchEvent(new Event(e.tagName === "INPUT" && e.type === "text" ? "input" : "change")); };
  %s
  await window.explorer.ready;
  const cells = (sel, attr) => Object.fromEntries([...document.querySelectorAll(sel)]
    .map(td => [td.getAttribute(attr), td.textContent.replace(/,/g, "")]));
  return {kinds: cells("[data-count]", "data-count"),
          orders: cells("[data-order-count]", "data-order-count"),
          terms: document.querySelectorAll("#ex-terms li").length,
          message: document.getElementById("ex-message").textContent};
})()"""
# (the steps, the architecture, layer, head; listed: the page lists terms)
CHOICES = [
    (
        "set('ex-preset', '4,4,4'); await window.explorer.ready; set('ex-head', '2,3');",
        ((4, 4, 4), None, False, False),
        2,
        3,
        True,
    ),
    (
        "set('ex-preset', '1,1'); await window.explorer.ready; set('ex-positional', 'standard');"
        "await window.explorer.ready; set('ex-biases', true); await window.explorer.ready;"
        "set('ex-head', '1,0');",
        ((1, 1), "standard", False, True),
        1,
        0,
        True,
    ),
    (
        "set('ex-positional', 'shortformer'); await window.explorer.ready; set('ex-biases', true);"
        "await window.explorer.ready; set('ex-preset', 'custom');"
        "document.getElementById('ex-heads').value = '6,0,12,5,3';"
        "document.getElementById('ex-apply').click(); await window.explorer.ready;"
        "set('ex-head', '3,4');",
        ((6, 0, 12, 5, 3), "shortformer", False, True),
        3,
        4,
        False,
    ),
]


@needs_site
@pytest.mark.parametrize(("steps", "setting", "layer", "head", "listed"), CHOICES)
def test_the_page_shows_the_package_s_counts(steps, setting, layer, head, listed):
    heads, positional, ln, biases = setting
    arch = ta.Architecture(heads, positional, "LN" if ln else None, biases)
    with site_check.Browser(site_check.find_chromium()) as browser:
        browser.load((site_check.SITE / "explorer.html").as_uri())
        browser.evaluate(site_check.MATHJAX_DONE)
        shown = browser.evaluate(CHOOSE % steps)
        problems = site_check.page_problems(browser.evaluate(site_check.INSPECT))
        assert problems + site_check.console_errors(browser.events) == []
    kinds = ta.count_score_paths_by_kind(arch, layer, head)
    assert shown["kinds"] == {
        **{k: str(v) for k, v in kinds.items()},
        "all": str(sum(kinds.values())),
    }
    orders = ta.count_logit_paths_by_order(arch)
    assert shown["orders"] == {
        **{str(k): str(n) for k, n in enumerate(orders)},
        "all": str(sum(orders)),
    }
    assert shown["terms"] == (min(explorer.PAGE_SIZE, sum(kinds.values())) if listed else 0)
    assert ("closed form" in shown["message"]) == (not listed)


@needs_site
@pytest.mark.parametrize(
    ("heads", "message"),
    [
        ("2,a", '"a" is not a head count from 0 to 64'),
        ("2,65", '"65" is not a head count from 0 to 64'),
        (",".join(["1"] * 13), "give 1 to 12 head counts"),
        ("", "give 1 to 12 head counts"),
    ],
)
def test_the_page_refuses_custom_heads_it_cannot_count(heads, message):
    steps = (
        f"set('ex-preset', 'custom'); document.getElementById('ex-heads').value = {heads!r};"
        "document.getElementById('ex-apply').click();"
    )
    with site_check.Browser(site_check.find_chromium()) as browser:
        browser.load((site_check.SITE / "explorer.html").as_uri())
        browser.evaluate(site_check.MATHJAX_DONE)
        shown = browser.evaluate(CHOOSE % steps)
        assert site_check.console_errors(browser.events) == []
    assert message in shown["message"]
    assert re.search(r"^heads per layer", shown["message"])
