"""Where a derivation's rendering and checking come from: the rooms above this one.

A :class:`~tensoralgebra.derivation.Derivation` is a plain chain of steps, but it has methods
that need LaTeX (``to_latex``, ``to_pdf``, ``_repr_latex_``, ...) and the proof checker
(``check``). Those rooms sit *above* this one: :mod:`tensoralgebra.latex` imports derivations to
render them, :mod:`tensoralgebra.proof` imports both. So this room never imports them; it only
knows, as data, which module provides each capability. A provider registers its functions with
:func:`provide` when it is imported, and a method called before that imports the provider by
name (the way a plotting library finds its backend). The import graph stays one-directional
(derivation → latex → proof), with no import cycle even at run time, and a notebook that
imports only ``tensoralgebra.derivation`` still gets a derivation that renders itself.

>>> use("fragment").__module__
'tensoralgebra.latex.render'
>>> use("check").__name__
'check_derivation'
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

#: Which module provides each capability (it calls :func:`provide` when imported).
PROVIDERS = {
    "fragment": "tensoralgebra.latex.render",
    "document": "tensoralgebra.latex.render",
    "markdown": "tensoralgebra.latex.render",
    "math_block": "tensoralgebra.latex.render",
    "pdf": "tensoralgebra.latex.render",
    "check": "tensoralgebra.proof.checker",
}
_REGISTERED: dict[str, Callable] = {}


def provide(capability: str, function: Callable) -> None:
    """Register ``function`` as the provider of ``capability`` (one of :data:`PROVIDERS`)."""
    if capability not in PROVIDERS:
        raise KeyError(f"unknown capability {capability!r}: expected one of {sorted(PROVIDERS)}")
    _REGISTERED[capability] = function


def use(capability: str) -> Callable:
    """The function registered for ``capability``, importing its provider first if needed."""
    if capability not in _REGISTERED:
        importlib.import_module(PROVIDERS[capability])
    return _REGISTERED[capability]
