"""Weights files: safetensors round trips, every refusal (pickles never opened, truncated, foreign
and tampered files), fields added to Weights saved without new code, and ``verify --model``."""

from __future__ import annotations

import json
import pickle
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import safetensors
import safetensors.numpy
import torch
from hypothesis import given
from hypothesis import strategies as st

import tensoralgebra as ta
from tensoralgebra.cli import main
from tensoralgebra.errors import ExpansionLimitError
from tensoralgebra.io import WeightsFileError, load_weights, save_weights, tensor_name
from tensoralgebra.io.header import MAX_HEADER
from tensoralgebra.numeric.weights import WeightsError
from tensoralgebra.strategies import weights as weights_strategy


def _random(heads=(2, 0, 1), positional="standard", dtype="float64", **sizes):
    sizes = {"d_model": 6, "d_head": 3, "d_vocab": 7, "n_ctx": 4, **sizes}
    return ta.Weights.random(ta.Architecture(heads, positional), **sizes, dtype=dtype)


def _arrays(weights) -> dict[str, np.ndarray]:
    out = {"W_E": weights.W_E, "W_U": weights.W_U}
    if weights.W_pos is not None:
        out["W_pos"] = weights.W_pos
    for name in ("W_Q", "W_K", "W_V", "W_O"):
        out.update({tensor_name(name, i): a for i, a in enumerate(getattr(weights, name))})
    return out


# --- round trips -----------------------------------------------------------------------------


@given(
    w=weights_strategy(max_layers=3, max_heads=2, dtypes=("float32", "float64")),
    seed=st.integers(0, 2**32 - 1),
)
def test_a_saved_model_loads_equal_and_computes_the_same_logits(w, seed):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "model.safetensors"
        save_weights(w, path)
        loaded = load_weights(path)
        size = path.stat().st_size
    assert loaded.architecture == w.architecture and loaded.dtype == w.dtype
    assert loaded.n_ctx == w.n_ctx
    original = _arrays(w)
    assert _arrays(loaded).keys() == original.keys()
    for name, array in _arrays(loaded).items():
        assert array.dtype == original[name].dtype and np.array_equal(array, original[name])
    # the file is the arrays and a header of bounded size: nothing else
    assert size <= sum(a.nbytes for a in original.values()) + 8 + 4096
    tokens = np.random.default_rng(seed).integers(0, w.d_vocab, size=(2, w.n_ctx))
    with torch.no_grad():
        expected = ta.AttentionOnlyTransformer(w)(tokens)
        got = ta.AttentionOnlyTransformer(loaded)(tokens)
    assert torch.equal(got, expected)


def test_the_file_names_its_tensors_and_states_its_metadata(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(_random(heads=(2, 1)), path)
    with safetensors.safe_open(path, "np") as file:
        names, meta = set(file.keys()), file.metadata()
    assert names == {"W_E", "W_U", "W_pos"} | {
        f"blocks.{layer}.{m}" for layer in (0, 1) for m in ("W_Q", "W_K", "W_V", "W_O")
    }
    assert meta["format"] == "tensoralgebra.Weights" and meta["format_version"] == "1"
    assert meta["conventions"] == "column vectors: W_E is [d_model, d_vocab]"
    assert json.loads(meta["architecture"]) == ta.Architecture((2, 1), "standard").to_dict()
    assert (meta["dtype"], meta["n_ctx"], meta["tensoralgebra_version"]) == (
        "float64",
        "4",
        ta.__version__,
    )
    assert json.loads(meta["values"]) == {"n_ctx": 4, "eps": 1e-5, "positional": "standard"}


def test_saving_again_replaces_the_file_and_leaves_nothing_beside_it(tmp_path):
    path = tmp_path / "model.safetensors"
    save_weights(_random(heads=(1,)), path)
    save_weights(_random(heads=(3, 3)), path)
    assert load_weights(path).architecture.heads == (3, 3)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


# --- fields added to Weights are saved and loaded without new code ---------------------------


@dataclass(frozen=True, eq=False)
class _Extended(ta.Weights):
    """Weights with one field more of every kind a future parameter might have."""

    extra_vector: np.ndarray | None = None
    extra_layers: tuple | None = None
    extra_scale: float = 0.5

    def __post_init__(self):
        super().__post_init__()
        if self.extra_vector is not None:
            object.__setattr__(self, "extra_vector", np.asarray(self.extra_vector))
        if self.extra_layers is not None:
            object.__setattr__(self, "extra_layers", tuple(map(np.asarray, self.extra_layers)))
        if self.extra_layers is not None and len(self.extra_layers) != len(self.W_O):
            raise WeightsError(f"extra_layers has {len(self.extra_layers)} layers")


def _extended(w, **extra) -> _Extended:
    fields = {k: getattr(w, k) for k in ("W_E", "W_U", "W_Q", "W_K", "W_V", "W_O", "W_pos")}
    return _Extended(**fields, n_ctx=w.n_ctx, **extra)


def test_every_field_of_a_subclass_round_trips(tmp_path):
    w = _random(heads=(2, 1))
    rng = np.random.default_rng(0)
    layers = (rng.standard_normal(6), rng.standard_normal(6))
    extended = _extended(
        w, extra_vector=rng.standard_normal(7), extra_layers=layers, extra_scale=2.0
    )
    path = tmp_path / "extended.safetensors"
    save_weights(extended, path)
    loaded = load_weights(path, _Extended)
    assert type(loaded) is _Extended and loaded.extra_scale == 2.0
    assert np.array_equal(loaded.extra_vector, extended.extra_vector)
    assert all(np.array_equal(a, b) for a, b in zip(loaded.extra_layers, layers))
    with safetensors.safe_open(path, "np") as file:
        keys = set(file.keys())
    assert {"extra_vector", "blocks.0.extra_layers", "blocks.1.extra_layers"} <= keys
    # an optional field left out is saved as absent, and loads as its default
    save_weights(_extended(w), path)
    assert load_weights(path, _Extended).extra_vector is None


def test_a_file_without_the_new_fields_loads_with_their_defaults(tmp_path):
    path = tmp_path / "plain.safetensors"
    save_weights(_random(), path)
    loaded = load_weights(path, _Extended)
    assert (loaded.extra_vector, loaded.extra_layers, loaded.extra_scale) == (None, None, 0.5)


def test_fields_the_class_lacks_are_refused(tmp_path):
    path = tmp_path / "extended.safetensors"
    save_weights(_extended(_random(), extra_vector=np.zeros(7)), path)
    fields = r"\['extra_layers', 'extra_scale', 'extra_vector'\]"
    with pytest.raises(WeightsFileError, match=rf"has fields {fields} that Weights"):
        load_weights(path)


@pytest.mark.parametrize("normalization", [None, "LN", "LNPre"])
@pytest.mark.parametrize("positional", [None, "standard", "shortformer"])
def test_models_with_biases_and_layernorm_round_trip(tmp_path, normalization, positional):
    arch = ta.Architecture((2, 1), positional=positional, normalization=normalization, biases=True)
    w = ta.Weights.random(arch, d_model=6, d_head=3, d_vocab=7, n_ctx=5, seed=3)
    path = tmp_path / "real.safetensors"
    w.save(path)
    loaded = ta.Weights.load(path)
    assert loaded.architecture == arch and loaded.eps == w.eps
    tokens = [[1, 2, 3, 4, 5]]
    got = ta.AttentionOnlyTransformer(loaded)(tokens)
    assert np.array_equal(got.numpy(), ta.AttentionOnlyTransformer(w)(tokens).numpy())


# --- refusals --------------------------------------------------------------------------------


def _saved(folder: Path, name: str = "model.safetensors", **kwargs) -> Path:
    path = folder / name
    save_weights(_random(**kwargs), path)
    return path


def _tampered(folder: Path, tensors=None, meta=None) -> Path:
    """A saved model rewritten with ``tensors(dict)`` and ``meta(dict)`` applied to its parts."""
    path = _saved(folder)
    arrays = safetensors.numpy.load_file(path)
    with safetensors.safe_open(path, "np") as file:
        metadata = file.metadata()
    for change, part in ((tensors, arrays), (meta, metadata)):
        if change is not None:
            change(part)
    safetensors.numpy.save_file(arrays, path, metadata=metadata)
    return path


def _bytes(folder: Path, data: bytes, name: str = "model.safetensors") -> Path:
    path = folder / name
    path.write_bytes(data)
    return path


def _edit(folder: Path, edit) -> Path:
    path = _saved(folder)
    return _bytes(folder, edit(path.read_bytes()))


def _torch_zip(folder: Path) -> Path:
    torch.save({"W_E": torch.zeros(2, 3)}, folder / "model.pt")
    return folder / "model.pt"


def _torch_legacy(folder: Path) -> Path:
    path = folder / "model.pth"
    torch.save({"W_E": torch.zeros(2)}, path, _use_new_zipfile_serialization=False)
    return path


def _plain_zip(folder: Path) -> Path:
    with zipfile.ZipFile(folder / "model.zip", "w") as archive:
        archive.writestr("W_E.npy", b"...")
    return folder / "model.zip"


def _header(folder: Path, header: bytes, data: bytes = b"") -> Path:
    return _bytes(folder, len(header).to_bytes(8, "little") + header + data)


def _set(key, value):
    return lambda part: part.__setitem__(key, value)


def _drop(key):
    return lambda part: part.pop(key)


_PICKLE = "pickles run code when they are loaded"
_CONVERT = "torch.load(path, weights_only=True)"

# (make the file in a folder, error type, fragment of the message)
BAD_FILES = [
    (
        _torch_zip,
        WeightsFileError,
        f"a torch checkpoint (a zip archive holding a pickle, data.pkl): {_PICKLE}",
    ),
    (_torch_zip, WeightsFileError, _CONVERT),
    (_torch_legacy, WeightsFileError, f"a pickle (protocol 2): {_PICKLE}"),
    (
        lambda f: _bytes(f, pickle.dumps({"a": 1}, protocol=0), "model.pkl"),
        WeightsFileError,
        "a pickle (protocol 0 or 1)",
    ),
    (
        lambda f: _bytes(f, pickle.dumps([1.0], protocol=4), "model.bin"),
        WeightsFileError,
        "a pickle (protocol 4)",
    ),
    (
        lambda f: _bytes(f, pickle.dumps([1.0], protocol=5), "x.safetensors"),
        WeightsFileError,
        _PICKLE,
    ),
    (_plain_zip, WeightsFileError, "is a zip archive, not a safetensors file"),
    (lambda f: _bytes(f, b""), WeightsFileError, "is truncated: it has 0 bytes"),
    (lambda f: _bytes(f, b"\x10\x00\x00"), WeightsFileError, "is truncated: it has 3 bytes"),
    (
        lambda f: _edit(f, lambda b: b[:100]),
        WeightsFileError,
        "is truncated: it declares a header of",
    ),
    (
        lambda f: _edit(f, lambda b: b[:-1]),
        WeightsFileError,
        "bytes of tensor data, the file holds",
    ),
    (
        lambda f: _bytes(f, b"hello, world: not a model"),
        WeightsFileError,
        "is not a safetensors file: a safetensors file starts with an 8-byte header length",
    ),
    (lambda f: _header(f, b"{not json}"), WeightsFileError, "has a header that is not valid JSON"),
    (lambda f: _header(f, b"{\xff}"), WeightsFileError, "has a header that is not valid JSON"),
    (
        lambda f: _bytes(f, (MAX_HEADER + 1).to_bytes(8, "little") + b"{}"),
        WeightsFileError,
        "over the 104,857,600 allowed",
    ),
    (
        lambda f: _header(f, b'{"W_E": {"dtype": "F64"}}'),
        WeightsFileError,
        "'W_E' lacks its dtype, shape or data_offsets",
    ),
    (
        lambda f: _header(f, b'{"W_E": {"dtype": "F64", "shape": [-1], "data_offsets": [0, 0]}}'),
        WeightsFileError,
        "expected lists of non-negative integers",
    ),
    (
        lambda f: _header(
            f, b'{"W_E": {"dtype": "F64", "shape": [2], "data_offsets": [0, 8]}}', bytes(8)
        ),
        WeightsFileError,
        "needs 16 bytes, but its data_offsets [0, 8] span 8",
    ),
    (
        lambda f: _header(f, b'{"__metadata__": {"format": 1}}'),
        WeightsFileError,
        "__metadata__ that is not an object of strings",
    ),
    (
        lambda f: _tampered(f, tensors=_set("W_E", np.zeros((6, 7), np.float16))),
        WeightsFileError,
        "'W_E' has dtype 'F16': expected F32 or F64",
    ),
    (
        lambda f: _tampered(f, tensors=_set("W_E", np.zeros((6, 7), np.int64))),
        WeightsFileError,
        "'W_E' has dtype 'I64'",
    ),
    # someone else's model, or ours with the metadata changed
    (
        lambda f: _tampered(f, meta=lambda m: m.clear()),
        WeightsFileError,
        "without tensoralgebra's metadata: it has no __metadata__",
    ),
    (
        lambda f: _tampered(f, meta=lambda m: (m.clear(), m.update(format="pt"))),
        WeightsFileError,
        "it has __metadata__ format 'pt', expected format 'tensoralgebra.Weights'",
    ),
    (
        lambda f: _tampered(f, meta=_drop("format")),
        WeightsFileError,
        "__metadata__ without format (it has 'architecture'",
    ),
    (
        lambda f: _tampered(f, meta=lambda m: m.clear()),
        WeightsFileError,
        "its tensors are 'W_E', 'W_U', 'W_pos', 'blocks.0.W_K', ... (15 in all)",
    ),
    (
        lambda f: _tampered(f, meta=_set("format_version", "2")),
        WeightsFileError,
        "has format version '2': this version of tensoralgebra reads version '1' only",
    ),
    (
        lambda f: _tampered(f, meta=_drop("format_version")),
        WeightsFileError,
        "has format version None",
    ),
    (
        lambda f: _tampered(f, meta=_set("conventions", "row vectors: W_E is [d_vocab, d_model]")),
        WeightsFileError,
        "states conventions 'row vectors",
    ),
    (lambda f: _tampered(f, meta=_drop("fields")), WeightsFileError, "lacks the metadata fields"),
    (
        lambda f: _tampered(f, meta=_set("architecture", "[1, 2")),
        WeightsFileError,
        "has metadata architecture = '[1, 2': expected a JSON dict",
    ),
    (
        lambda f: _tampered(f, meta=_set("n_ctx", "true")),
        WeightsFileError,
        "has metadata n_ctx = 'true': expected a JSON int",
    ),
    (
        lambda f: _tampered(f, meta=_set("fields", '{"W_E": "blob"}')),
        WeightsFileError,
        "has fields of unknown kinds {'W_E': 'blob'}",
    ),
    (
        lambda f: _tampered(f, meta=_set("fields", '{"W_E": "tensor"}')),
        WeightsFileError,
        "lacks the fields ['W_U', 'W_Q', 'W_K', 'W_V', 'W_O'] of Weights",
    ),
    (
        lambda f: _tampered(f, meta=_set("values", "{}")),
        WeightsFileError,
        "lacks the fields ['n_ctx'",
    ),
    (
        lambda f: _tampered(f, meta=_set("architecture", '{"n_layers": 1000000}')),
        WeightsFileError,
        "states 1,000,000 layers but holds only 15 tensors",
    ),
    (
        lambda f: _tampered(f, meta=_set("architecture", '{"n_layers": -1}')),
        WeightsFileError,
        "has n_layers -1 in its architecture metadata",
    ),
    # tensors missing, more, of the wrong shape or value, or not what the metadata says
    (
        lambda f: _tampered(f, tensors=_drop("blocks.1.W_V")),
        WeightsFileError,
        "lacks the tensors 'blocks.1.W_V'",
    ),
    (
        lambda f: _tampered(f, tensors=_set("blocks.3.W_Q", np.zeros(1))),
        WeightsFileError,
        "holds unexpected tensors 'blocks.3.W_Q'",
    ),
    (
        lambda f: _tampered(f, tensors=_set("W_U", np.zeros((7, 5)))),
        WeightsFileError,
        "refused: W_U has shape (7, 5), expected (7, 6)",
    ),
    (
        lambda f: _tampered(f, tensors=_set("W_U", np.zeros((6, 7)))),
        WeightsFileError,
        "W_U has shape (6, 7), expected (7, 6)",
    ),
    (
        lambda f: _tampered(f, tensors=_set("blocks.0.W_O", np.zeros((2, 6, 2)))),
        WeightsFileError,
        "W_O[0] has shape (2, 6, 2)",
    ),
    (
        lambda f: _tampered(f, tensors=_set("W_E", np.full((6, 7), np.nan))),
        WeightsFileError,
        "W_E[0, 0] is nan: weights must be finite",
    ),
    (
        lambda f: _tampered(f, tensors=_set("W_E", np.zeros((6, 7), np.float32))),
        WeightsFileError,
        "W_U has dtype float64, but W_E has float32: all weights share one dtype",
    ),
    (
        lambda f: _tampered(f, meta=_set("architecture", '{"n_layers": 3, "heads": [2, 1, 1]}')),
        WeightsFileError,
        "states architecture {'n_layers': 3, 'heads': [2, 1, 1]}, but its tensors make",
    ),
    (
        lambda f: _tampered(f, meta=_set("dtype", "float32")),
        WeightsFileError,
        "states dtype 'float32', but its tensors make 'float64'",
    ),
    (
        lambda f: _tampered(f, meta=_set("n_ctx", "9")),
        WeightsFileError,
        "states n_ctx 9, but its tensors make 4",
    ),
    # paths
    (lambda f: f, WeightsFileError, "is a folder: expected a .safetensors file"),
    (lambda f: f / "absent.safetensors", WeightsFileError, "absent.safetensors: no such file"),
]


@pytest.mark.parametrize(("make", "error", "fragment"), BAD_FILES)
def test_bad_files_are_refused_naming_the_file(tmp_path, make, error, fragment):
    path = make(tmp_path)
    with pytest.raises(error) as raised:
        load_weights(path)
    assert fragment in str(raised.value)
    assert str(raised.value).startswith(f"{path}: ")


def test_tensors_over_the_memory_budget_are_refused_before_they_are_read(tmp_path, monkeypatch):
    path = _saved(tmp_path)

    def never(*args, **kwargs):
        raise AssertionError("tensors read")

    monkeypatch.setattr(safetensors.numpy, "load_file", never)
    with pytest.raises(
        ExpansionLimitError, match="would take 2,592 bytes, over the memory budget of 2,000 bytes"
    ):
        load_weights(path, max_bytes=2000)
    # a header declaring a petabyte is refused from the header alone
    header = json.dumps(
        {"W_E": {"dtype": "F64", "shape": [2**25, 2**25], "data_offsets": [0, 2**53]}}
    )
    huge = _header(tmp_path, header.encode())
    with pytest.raises(ExpansionLimitError, match="would take 9,007,199,254,740,992 bytes"):
        load_weights(huge)


BAD_CALLS = [
    (
        lambda f: save_weights(_random(), f / "model.pt"),
        WeightsFileError,
        "model.pt: expected a path ending in .safetensors, got '.pt'",
    ),
    (
        lambda f: save_weights(_random(), f / "model"),
        WeightsFileError,
        "expected a path ending in .safetensors, got ''",
    ),
    (
        lambda f: (f / "d.safetensors").mkdir() or save_weights(_random(), f / "d.safetensors"),
        WeightsFileError,
        "d.safetensors: is a folder",
    ),
    (
        lambda f: save_weights(_random(), f / "no" / "m.safetensors"),
        WeightsFileError,
        "does not exist",
    ),
    (
        lambda f: save_weights({"W_E": 1}, f / "m.safetensors"),
        WeightsError,
        "save_weights needs Weights, got dict",
    ),
    (lambda f: save_weights(_random(), 3), WeightsFileError, "3: expected a path, got int"),
    (lambda f: load_weights(None), WeightsFileError, "None: expected a path, got NoneType"),
    (
        lambda f: load_weights(f / "m.safetensors", dict),
        WeightsError,
        "cls must be Weights or a subclass",
    ),
    (lambda f: load_weights(_saved(f), max_bytes=0), WeightsError, "max_bytes is 0"),
]


@pytest.mark.parametrize(("call", "error", "fragment"), BAD_CALLS)
def test_bad_calls_are_refused(tmp_path, call, error, fragment):
    with pytest.raises(error) as raised:
        call(tmp_path)
    assert fragment in str(raised.value)


def test_a_save_that_fails_leaves_no_file(tmp_path, monkeypatch):
    def full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.numpy, "save_file", full)
    with pytest.raises(WeightsFileError, match="cannot be written: No space left on device"):
        save_weights(_random(), tmp_path / "model.safetensors")
    assert list(tmp_path.iterdir()) == []


# --- verify --model --------------------------------------------------------------------------


def _run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_verify_checks_a_saved_model_as_it_checks_the_same_random_one(capsys, tmp_path, dtype):
    # verify's default sizes; the file's weights are those --heads and --seed 3 would build
    arch, sizes = ta.Architecture((2, 1), "standard"), {"d_model": 32, "d_head": 8}
    w = ta.Weights.random(arch, **sizes, d_vocab=50, n_ctx=16, seed=3, dtype=dtype)
    path = tmp_path / "model.safetensors"
    save_weights(w, path)
    code, out, err = _run(capsys, "verify", "--model", str(path), "--seed", "3")
    assert (code, err) == (0, "") and out.splitlines()[-1] == "all 6 checks ok"
    saved = _run(capsys, "verify", "--model", str(path), "--seed", "3", "--format", "json")
    random = _run(
        capsys, "verify", "--heads", "2,1", "--positional", "standard", "--seed", "3",
        "--dtype", dtype, "--format", "json",
    )  # fmt: skip
    assert saved[0] == 0 and json.loads(saved[1]) == json.loads(random[1])


def _model_file(folder: Path) -> str:
    return str(_saved(folder))


# (argv with {model} for a good file and {folder} for the test's folder, message fragment)
BAD_COMMANDS = [
    (["verify"], "verify needs a model: --heads SPEC (a random one) or --model FILE.safetensors"),
    (["verify", "--model", "{model}", "--heads", "2"], "--heads not allowed with --model"),
    (["verify", "--model", "{model}", "--layers", "2"], "--layers not allowed with --model"),
    (["verify", "--model", "{model}", "--positional", "none"], "--positional not allowed"),
    (["verify", "--model", "{model}", "--d-model", "0"], "--d-model not allowed with --model"),
    (
        ["verify", "--model", "{model}", "--n-ctx", "3", "--dtype", "float32"],
        "--n-ctx, --dtype not allowed with --model (the file gives the architecture",
    ),
    (["verify", "--model", "{model}", "--init", "gpt2"], "--init not allowed with --model"),
    (["verify", "--heads", "2", "--init", "xavier"], "invalid choice: 'xavier'"),
    (["verify", "--model", "{model}", "--seed", "-1"], "--seed -1 is out of range"),
    (["verify", "--model", "{model}", "--max-order", "4"], "--max-order 4 is out of range"),
    (["verify", "--model", "{folder}/absent.safetensors"], "absent.safetensors: no such file"),
    (["verify", "--model", "{folder}"], "is a folder: expected a .safetensors file"),
    (["verify", "--model", "{folder}/model.pt"], "is a torch checkpoint"),
    (["verify", "--model", "{folder}/trunc.safetensors"], "is truncated"),
]


@pytest.mark.parametrize(("argv", "fragment"), BAD_COMMANDS)
def test_verify_refuses_a_bad_model_in_one_line(capsys, tmp_path, argv, fragment):
    model = _model_file(tmp_path)
    _torch_zip(tmp_path)
    _bytes(tmp_path, Path(model).read_bytes()[:-3], "trunc.safetensors")
    argv = [a.format(model=model, folder=tmp_path) for a in argv]
    code, out, err = _run(capsys, *argv)
    assert (code, out) == (2, "")
    assert err.startswith("tensoralgebra verify: error: ") and err.count("\n") == 1
    assert fragment in err
