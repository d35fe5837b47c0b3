"""Which terms ``verify`` checks one by one: all of them up to a budget, beyond it a stratified
sample drawn from a seed, chosen up front (before any value is computed).

A logit term is a path; its stratum is its source and order (the order says its kind: direct,
through one head, virtual). A score term is a pair of a query side and a key side; its stratum is
both sides' sources and orders (the orders say its kind: none, Q-, K- or QK-composition). A
sample holds at least one term of every stratum and, for every head on a path, a term whose path
(or query side, or key side) goes through it; the rest of the budget is spread over the strata in
proportion to their sizes. A budget smaller than the strata and heads need is exceeded (every
stratum and head gets its term); the report gives the exact count.

>>> import tensoralgebra as ta
>>> arch = ta.Architecture(heads=(2, 2))
>>> paths = side_paths(arch, 2, None)
>>> len(paths), pick_paths(paths, 9, 0) is None
(9, True)
>>> sorted(pick_paths(paths, 4, 0)) == sorted(set(pick_paths(paths, 4, 0)))  # drawn from the seed
True
>>> describe(4096, 390625, 0)
'a stratified sample of 4,096 of 390,625 (seed 0): every order, kind, head and source'
>>> describe(3125, 3125, 0)
'all 3,125'
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator

import numpy as np

from tensoralgebra.paths import UNEMBEDDING_BIAS, LogitPath, bias_source
from tensoralgebra.scores import KEY_BIAS, QUERY_BIAS


def side_paths(arch, before: int, top: int | None) -> list[LogitPath]:
    """Every path through layers before ``before`` of order ≤ ``top``, from every source with a
    stream (the constant sources of the layers before ``before`` too): what
    :func:`~tensoralgebra.numeric.stacks.path_streams` walks, as a list (no values)."""
    top = before if top is None else top
    norm = arch.normalization
    roots = [(LogitPath((), s, norm), 0) for s in arch.sources]
    roots += [(LogitPath((), bias_source(k), norm), k + 1) for k in range(before) if arch.biases]
    out: list[LogitPath] = []
    for root, first in roots:
        out.extend(_extend(arch, root, first, before, top))
    return out


def _extend(arch, path, first, before, top) -> Iterator[LogitPath]:
    yield path
    if len(path.heads) >= top:
        return
    for layer in range(first, before):
        for head in range(arch.heads[layer]):
            longer = LogitPath((*path.heads, (layer, head)), path.source, path.normalization)
            yield from _extend(arch, longer, layer + 1, before, top)


def logit_sides(arch, top: int | None) -> list[LogitPath]:
    """The logit terms of order ≤ ``top``: the stream paths, then the unembedding's constant."""
    paths = side_paths(arch, arch.n_layers, top)
    return paths + ([LogitPath((), UNEMBEDDING_BIAS, arch.normalization)] if arch.biases else [])


def score_sides(arch, layer: int, side: str, top: int | None) -> list[LogitPath]:
    """The query (``side="query"``) or key sides of a layer-``layer`` head's score terms: the
    stream paths, then shortformer positions and the head's own constant."""
    paths = side_paths(arch, layer, top)
    norm = arch.normalization
    if not arch.is_idealised and arch.positional == "shortformer":
        paths.append(LogitPath((), "position", norm))
    if arch.biases:
        paths.append(LogitPath((), QUERY_BIAS if side == "query" else KEY_BIAS, norm))
    return paths


def describe(checked: int, count: int, seed: int) -> str:
    """How the terms were checked one by one, for the report."""
    if checked == count:
        return f"all {count:,}"
    return (
        f"a stratified sample of {checked:,} of {count:,} (seed {seed}): every order, kind, "
        "head and source"
    )


def _strata(paths) -> tuple[dict, dict]:
    """``({(source, order): [index]}, {(layer, head): [index]})``."""
    strata, heads = defaultdict(list), defaultdict(list)
    for i, path in enumerate(paths):
        strata[(path.source, len(path.heads))].append(i)
        for head in path.heads:
            heads[head].append(i)
    return strata, heads


def pick_paths(paths: list, budget: int, seed: int) -> list[int] | None:
    """Sorted indices of the paths to check, or ``None`` for all (``len(paths) ≤ budget``)."""
    n = len(paths)
    if n <= budget:
        return None
    rng = np.random.default_rng(seed)
    strata, heads = _strata(paths)
    chosen = {int(rng.choice(m)) for m in strata.values()}
    chosen |= {int(rng.choice(m)) for m in heads.values()}
    room = max(0, budget - len(chosen))  # the strata and heads may need more than the budget
    for members in strata.values():
        quota = room * len(members) // n
        free = np.setdiff1d(members, list(chosen))
        chosen.update(int(i) for i in rng.permutation(free)[:quota])
    if len(chosen) < budget:  # rounding left some room: fill it from every path
        free = np.setdiff1d(np.arange(n), list(chosen))
        chosen.update(int(i) for i in rng.permutation(free)[: budget - len(chosen)])
    return sorted(chosen)


def pick_pairs(q_paths: list, k_paths: list, budget: int, seed: int) -> np.ndarray | None:
    """Sorted codes ``i * len(k_paths) + j`` of the (query side ``i``, key side ``j``) pairs to
    check, [m] int64, or ``None`` for all (``len(q_paths) * len(k_paths) ≤ budget``)."""
    nq, nk = len(q_paths), len(k_paths)
    if nq * nk <= budget:
        return None
    rng = np.random.default_rng(seed)
    (q_strata, q_heads), (k_strata, k_heads) = _strata(q_paths), _strata(k_paths)
    chosen = Chosen(nq * nk)
    for qs in q_strata.values():
        for ks in k_strata.values():
            chosen.add(int(rng.choice(qs)) * nk + int(rng.choice(ks)))
    for members in q_heads.values():
        chosen.add(int(rng.choice(members)) * nk + int(rng.integers(nk)))
    for members in k_heads.values():
        chosen.add(int(rng.integers(nq)) * nk + int(rng.choice(members)))
    room = max(0, budget - len(chosen))
    for qs in q_strata.values():
        for ks in k_strata.values():
            quota = room * len(qs) * len(ks) // (nq * nk)
            _fill(chosen, np.asarray(qs), np.asarray(ks), nk, quota, rng)
    _fill(chosen, np.arange(nq), np.arange(nk), nk, budget - len(chosen), rng)
    return chosen.codes()


class Chosen:
    """A set of pair codes in ``0..n-1``: a mask of ``n`` bytes when ``n`` is at most
    :data:`MASKED` (a Python set of half a million codes takes 40 MB), else a set. Either gives
    the same draws: only membership and the count are asked.

    >>> c = Chosen(10)
    >>> c.add(3); c.update(np.array([3, 7, 7])); len(c), c.codes().tolist()
    (2, [3, 7])
    """

    def __init__(self, n: int):
        self.mask = np.zeros(n, dtype=bool) if n <= MASKED else None
        self.set: set[int] = set()
        self.count = 0

    def __len__(self) -> int:
        return self.count if self.mask is not None else len(self.set)

    def __contains__(self, code: int) -> bool:
        return bool(self.mask[code]) if self.mask is not None else code in self.set

    def add(self, code: int) -> None:
        self.update(np.array([code], dtype=np.int64))

    def update(self, codes: np.ndarray) -> None:
        if self.mask is None:
            self.set.update(int(c) for c in codes)
            return
        new = np.unique(codes)
        new = new[~self.mask[new]]
        self.mask[new] = True
        self.count += len(new)

    def codes(self) -> np.ndarray:
        """The codes, sorted, [m] int64."""
        if self.mask is not None:
            return np.flatnonzero(self.mask).astype(np.int64)
        return np.array(sorted(self.set), dtype=np.int64)


#: The most pairs :class:`Chosen` keeps as a mask (32 MiB).
MASKED = 2**25


def _fill(chosen: Chosen, qs: np.ndarray, ks: np.ndarray, nk: int, quota: int, rng) -> None:
    """Add ``quota`` more distinct pairs of ``qs × ks`` to ``chosen`` (as many as there are)."""
    target = len(chosen) + min(quota, len(qs) * len(ks))
    tries = 0
    while len(chosen) < target and tries < 64:
        need = target - len(chosen)
        chosen.update(rng.choice(qs, need) * nk + rng.choice(ks, need))
        tries += 1
    if len(chosen) < target:  # a nearly exhausted stratum: take what is left in order
        for i in qs:
            for j in ks:
                if len(chosen) >= target:
                    return
                code = int(i) * nk + int(j)
                if code not in chosen:
                    chosen.add(code)
