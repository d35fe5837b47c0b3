"""Training attention-only transformers on data that needs no network.

``tensoralgebra.training.data`` holds the token datasets (synthetic tasks with a known ground
truth, and text read from the machine's own files) behind one interface,
:class:`~tensoralgebra.training.data.base.TokenData`.
"""
