"""Files of weights: :class:`~tensoralgebra.Weights` saved to and loaded from safetensors files.

safetensors holds tensors and string metadata, and nothing that runs when it is read; pickles
(``torch.save``'s format) are refused without being opened. See docs/files.md. TransformerLens
models and state dicts are read, and written, by :mod:`tensoralgebra.io.transformer_lens`
(docs/importing.md).

>>> import tempfile, tensoralgebra as ta
>>> from tensoralgebra.io import load_weights, save_weights
>>> w = ta.Weights.random(ta.Architecture(heads=(2,)), d_model=4, d_head=2, d_vocab=6, n_ctx=3)
>>> with tempfile.TemporaryDirectory() as folder:
...     save_weights(w, f"{folder}/model.safetensors")
...     print(load_weights(f"{folder}/model.safetensors"))
Weights(Architecture(heads=(2,)), d_model=4, d_head=2, d_vocab=6, n_ctx=3, dtype=float64)
"""

from tensoralgebra.io.errors import WeightsFileError
from tensoralgebra.io.metadata import CONVENTIONS, FORMAT, FORMAT_VERSION, tensor_name
from tensoralgebra.io.safetensors_files import SUFFIX, load_weights, save_weights
from tensoralgebra.io.transformer_lens import (
    from_state_dict,
    from_transformer_lens,
    to_config,
    to_state_dict,
)
from tensoralgebra.io.transformer_lens_config import TransformerLensError

__all__ = [
    "CONVENTIONS",
    "FORMAT",
    "FORMAT_VERSION",
    "SUFFIX",
    "TransformerLensError",
    "WeightsFileError",
    "from_state_dict",
    "from_transformer_lens",
    "load_weights",
    "save_weights",
    "tensor_name",
    "to_config",
    "to_state_dict",
]
