"""What :func:`~tensoralgebra.numeric.path_search.top_paths` found: the paths, their exact
contributions, the certificate for the rest and the exact total, as a table or a dict.

>>> from tensoralgebra.paths import LogitPath
>>> top = TopPaths(paths=(LogitPath(()),), contributions=(2.0,), certificate=0.5, total=2.25,
...                exact=True, expansions=3, evaluated=4, frontier=1, position=2,
...                target="the logit of token 7", k=1, max_expansions=10)
>>> print(top.table())
the top 1 logit path for the logit of token 7 at position 2
rank  path    contribution
   1  direct  2
explained: 2 of the exact total 2.25
the other paths: at most 0.5 in total (|contribution| summed; the certificate)
exact: the top 1 are certain (3 expansions, 4 paths evaluated)
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass

import numpy as np

from tensoralgebra.paths import LogitPath

#: Default most expansions of ``top_paths``: GPT-2-small shapes (seq 64) answer within seconds
#: and 1 GiB. (Here, not beside the search, so that the command line reads it without torch.)
MAX_EXPANSIONS = 2048


def describe_target(target: object, g: np.ndarray) -> str:
    """Words for the target: ``the logit of token 3``, ``logit 3 − logit 7``, ``a direction``."""
    nonzero = np.flatnonzero(g)
    if len(nonzero) == 1 and g[nonzero[0]] == 1.0 and not hasattr(target, "shape"):
        return f"the logit of token {nonzero[0]}"
    if isinstance(target, tuple | list) and len(target) == 2 and len(nonzero) == 2:
        t1, t2 = int(np.flatnonzero(g == 1.0)[0]), int(np.flatnonzero(g == -1.0)[0])
        return f"logit {t1} − logit {t2}"
    return f"a direction in logit space (norm {np.linalg.norm(g):.4g})"


@dataclass(frozen=True)
class TopPaths:
    """The result of a search.

    ``paths`` and ``contributions``: the top paths, largest ``|contribution|`` first (ties in
    the order of :func:`~tensoralgebra.logit_paths`), each contribution exact (up to rounding).
    ``certificate``: an upper bound on the sum of ``|contribution|`` over every path not
    returned. ``total``: the target applied to the forward pass's logits, the sum over all
    paths. ``exact``: no path left out can reach the k-th contribution. ``expansions``: path
    streams computed (beyond the direct paths); ``evaluated``: paths whose contribution is
    known; ``frontier``: prefixes left unexpanded.
    """

    paths: tuple[LogitPath, ...]
    contributions: tuple[float, ...]
    certificate: float
    total: float
    exact: bool
    expansions: int
    evaluated: int
    frontier: int
    position: int
    target: str
    k: int
    max_expansions: int

    @property
    def explained(self) -> float:
        """The sum of the returned contributions."""
        return float(sum(self.contributions))

    def table(self) -> str:
        """The paths and contributions, then the total, the certificate and the verdict."""
        n = len(self.paths)
        names = [str(p) for p in self.paths]
        width = max([len("path"), *map(len, names)])
        lines = [
            f"the top {n} logit path{'s' if n != 1 else ''} for {self.target} "
            f"at position {self.position}",
            f"rank  {'path':<{width}}  contribution",
        ]
        for rank, (name, c) in enumerate(zip(names, self.contributions), 1):
            lines.append(f"{rank:>4}  {name:<{width}}  {c:.6g}")
        lines += _footer(self, n, "paths", "the exact total")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        """Plain data: paths as strings, numbers as floats."""
        return {
            "target": self.target,
            "position": self.position,
            "k": self.k,
            "paths": [str(p) for p in self.paths],
            "contributions": list(self.contributions),
            "explained": self.explained,
            "total": self.total,
            "certificate": self.certificate,
            "exact": self.exact,
            "expansions": self.expansions,
            "evaluated": self.evaluated,
            "frontier": self.frontier,
        }


@dataclass(frozen=True)
class TopScorePaths:
    """The result of :func:`~tensoralgebra.numeric.score_search.top_score_paths`.

    ``paths`` (:class:`~tensoralgebra.ScorePath` s) and ``contributions``: the top terms of
    head ``(layer, head)``'s unscaled pre-softmax score at ``(query, key)``, largest ``|value|``
    first, each exact (up to rounding). ``certificate``: an upper bound on the sum of ``|value|``
    over every term not returned. ``total``: the score of the forward pass, the sum of all terms.
    ``exact``, ``expansions`` (pairs split), ``evaluated`` (terms whose value is known),
    ``frontier`` (pairs left): as for :class:`TopPaths`.

    >>> from tensoralgebra.expr.indices import Head
    >>> from tensoralgebra.paths import LogitPath
    >>> from tensoralgebra.scores import ScorePath
    >>> term = ScorePath(LogitPath(((0, 1),)), LogitPath(()), Head(1, 0))
    >>> top = TopScorePaths(paths=(term,), contributions=(-1.5,), certificate=0.25, total=-1.5,
    ...     exact=True, expansions=2, evaluated=9, frontier=0, layer=1, head=0, query=3, key=1,
    ...     k=1, max_expansions=10)
    >>> print(top.table())
    the top 1 score term of L1H0 at query 3, key 1 (unscaled, before the softmax)
    rank  kind  query path  key path  contribution
       1  Q     L0H1        direct    -1.5
    explained: -1.5 of the exact score -1.5
    the other terms: at most 0.25 in total (|contribution| summed; the certificate)
    exact: the top 1 are certain (2 expansions, 9 terms evaluated)
    """

    paths: tuple
    contributions: tuple[float, ...]
    certificate: float
    total: float
    exact: bool
    expansions: int
    evaluated: int
    frontier: int
    layer: int
    head: int
    query: int
    key: int
    k: int
    max_expansions: int

    @property
    def explained(self) -> float:
        """The sum of the returned contributions."""
        return float(sum(self.contributions))

    def table(self) -> str:
        """The terms (kind, query path, key path, value), the score, the certificate, the
        verdict."""
        n = len(self.paths)
        rows = [(p.kind, str(p.query), str(p.key)) for p in self.paths]
        widths = [max([len(t), *(len(r[c]) for r in rows)]) for c, t in enumerate(HEADERS)]
        lines = [
            f"the top {n} score term{'s' if n != 1 else ''} of L{self.layer}H{self.head} at "
            f"query {self.query}, key {self.key} (unscaled, before the softmax)",
            "rank  " + "  ".join(f"{t:<{w}}" for t, w in zip(HEADERS, widths)) + "  contribution",
        ]
        for rank, (row, c) in enumerate(zip(rows, self.contributions), 1):
            cells = "  ".join(f"{t:<{w}}" for t, w in zip(row, widths))
            lines.append(f"{rank:>4}  {cells}  {c:.6g}")
        lines += _footer(self, n, "terms", "the exact score")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()

    def to_dict(self) -> dict:
        """Plain data: sides as strings, numbers as floats."""
        return {
            "layer": self.layer,
            "head": self.head,
            "query": self.query,
            "key": self.key,
            "k": self.k,
            "terms": [
                {"kind": p.kind, "query": str(p.query), "key": str(p.key)} for p in self.paths
            ],
            "contributions": list(self.contributions),
            "explained": self.explained,
            "total": self.total,
            "certificate": self.certificate,
            "exact": self.exact,
            "expansions": self.expansions,
            "evaluated": self.evaluated,
            "frontier": self.frontier,
        }


#: The columns of a score term's table besides rank and value.
HEADERS = ("kind", "query path", "key path")


def _footer(result, n: int, things: str, whole: str) -> list[str]:
    """The lines under a table of ``n`` top ``things`` (paths or terms): what they explain of
    ``whole``, the certificate, and whether the top ``n`` are certain."""
    thing = things[:-1]
    done = f"({result.expansions} expansions, {result.evaluated} {things} evaluated)"
    verdict = (
        f"exact: the top {n} are certain {done}"
        if result.exact
        else f"best effort: a {thing} left out might still rank in the top {result.k} {done}; "
        f"raise max_expansions (now {result.max_expansions}) to search further"
    )
    return [
        f"explained: {result.explained:.6g} of {whole} {result.total:.6g}",
        f"the other {things}: at most {result.certificate:.6g} in total "
        "(|contribution| summed; the certificate)",
        verdict,
    ]


def keep_best(best: list[float], value: float, k: int) -> None:
    """Keep ``best`` (a min-heap) the ``k`` largest values seen, ``value`` included."""
    if len(best) < k:
        heapq.heappush(best, value)
    elif value > best[0]:
        heapq.heapreplace(best, value)


def ranked(found, key, k: int, largest, sums, margin: float) -> tuple[list, float, bool]:
    """``(top, certificate, exact)`` of a search: the ``k`` ``(item, contribution)`` of
    ``found`` largest in ``|contribution|`` (ties by ``key(item)``); the certificate, the sum of
    the frontier's bounds ``sums`` plus the evaluated items left out, widened by ``margin``; and
    whether the top ``k`` are certain: no frontier left, or the largest single term it may still
    hold (``largest``) is below the ``k``-th contribution."""
    order = sorted(found, key=lambda f: (-abs(f[1]), key(f[0])))
    top, rest = order[:k], order[k:]
    largest = list(largest)
    left = max(largest, default=0.0)
    exact = not largest or (len(top) == k and left < abs(top[-1][1]))
    return top, sum(sums) + margin * sum(abs(c) for _, c in rest), exact


def search_fields(search, key, k: int, sums) -> dict:
    """The fields a search's result shares (:class:`TopPaths`, :class:`TopScorePaths`), from
    ``search.found``, its frontier (entries ordered by minus their largest-term bound first),
    ``search.expansions`` and ``search.margin``; ``sums``: the frontier's sum bounds."""
    largest = (-entry[0] for entry in search.frontier)
    top, certificate, exact = ranked(search.found, key, k, largest, sums, search.margin)
    return {
        "paths": tuple(p for p, _ in top),
        "contributions": tuple(c for _, c in top),
        "certificate": certificate,
        "exact": exact,
        "expansions": search.expansions,
        "evaluated": len(search.found),
        "frontier": len(search.frontier),
        "k": k,
    }
