"""Strict model files: every check of docs/format.md 3.4, with its error class and message."""

import json
import time
import tracemalloc
import zlib
from pathlib import Path

import numpy as np
import pytest

import conntra
from conntra import FloatDense, FloatModel, InputQuant, TernaryDense, TernaryModel, modelfile
from conntra.errors import (
    ConntraError,
    CorruptModelError,
    DTypeError,
    InputError,
    MetadataError,
    ModelNotFoundError,
    ModelReadError,
    NotAModelError,
    OutputPathError,
    ShapeError,
    TruncatedModelError,
)

DATA = Path(__file__).resolve().parent / "data"


def small_model(**kw):
    return TernaryModel.random([6, 5, 3], InputQuant.pixels(6), seed=2, bias_range=9, **kw)


def meta_of(model) -> dict:
    return modelfile.read_header(modelfile.to_bytes(model))[2]


def with_text(data: bytes, text: str, payload: bytes | None = None) -> bytes:
    """Re-emits a file with raw metadata text (and payload) and a valid CRC."""
    m, _, _ = modelfile.read_header(data)
    meta_bytes = text.encode("utf-8", "surrogatepass")
    payload = data[32 + m :] if payload is None else payload
    header = modelfile.HEADER.pack(
        modelfile.MAGIC, 1, 32, len(meta_bytes), len(payload), zlib.crc32(meta_bytes + payload), 0
    )
    return header + meta_bytes + payload


def with_meta(data: bytes, meta: dict, payload: bytes | None = None) -> bytes:
    return with_text(data, json.dumps(meta), payload)


def corrupt(data: bytes, match: str):
    with pytest.raises(CorruptModelError, match=match):
        modelfile.from_bytes(data)


# ---- version-1 compatibility -----------------------------------------------------


@pytest.mark.parametrize("kind", ["ternary", "float"])
def test_committed_version_1_files_load_and_keep_their_bytes(kind):
    expected = json.loads((DATA / "v1_expected.json").read_text())[kind]
    data = (DATA / expected["file"]).read_bytes()
    model = conntra.load(DATA / expected["file"])
    assert modelfile.to_bytes(model) == data
    if kind == "ternary":
        x = np.array(expected["x"], dtype=np.uint8)
        assert model.logits(x).tolist() == expected["logits"]
        assert model.logits(x, backend="numpy").tolist() == expected["logits"]
    else:
        got = model.logits(np.array(expected["x"]))
        assert got.dtype == np.float32
        assert got.tolist() == np.array(expected["logits"], dtype=np.float32).tolist()


# ---- integer fields --------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("shift", 3.9, "3.9"),
        ("shift", "3", '"3"'),
        ("shift", True, "true"),
        ("shift", 3.0, "3.0"),
        ("n_out", 8.7, "8.7"),
        ("bias_offset", None, "null"),
        ("weight_bytes", [4], "an array"),
    ],
)
def test_integer_fields_must_be_json_integers(key, value, shown):
    data = modelfile.to_bytes(small_model())
    meta = meta_of(small_model())
    meta["layers"][0][key] = value
    corrupt(with_meta(data, meta), rf"layers\[0\]\.{key} must be an integer, got {shown}")


def test_input_integers_must_be_json_integers():
    data = modelfile.to_bytes(small_model())
    for key, value in (("n_features", 6.0), ("shift", True)):
        meta = meta_of(small_model())
        meta["input"][key] = value
        corrupt(with_meta(data, meta), rf"input\.{key} must be an integer")


# ---- encodings and unknown keys ------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("weight_encoding", "float32le", r"weight_encoding must be 't3', got \"float32le\""),
        ("weight_encoding", "garbage", r"weight_encoding must be 't3'"),
        ("bias_encoding", "float32le", r"bias_encoding must be 'int32le'"),
        ("weight_encoding", None, r"layers\[0\] is missing \['weight_encoding'\]"),
        ("bias_encoding", None, r"layers\[0\] is missing \['bias_encoding'\]"),
        ("extra", 1, r"layers\[0\] has unknown keys \['extra'\]"),
    ],
)
def test_encodings_match_the_layer_kind(key, value, message):
    data = modelfile.to_bytes(small_model())
    meta = meta_of(small_model())
    if value is None:
        del meta["layers"][0][key]
    else:
        meta["layers"][0][key] = value
    corrupt(with_meta(data, meta), message)


def test_float_layer_encodings_and_kinds():
    fm = FloatModel([FloatDense(np.ones((2, 3)), np.zeros(2))], InputQuant.pixels(3))
    data = modelfile.to_bytes(fm)
    meta = modelfile.read_header(data)[2]
    meta["layers"][0]["weight_encoding"] = "t3"
    corrupt(with_meta(data, meta), r"weight_encoding must be 'float32le', got \"t3\"")
    meta = modelfile.read_header(data)[2]
    meta["layers"][0]["kind"] = "ternary"
    corrupt(with_meta(data, meta), r"layers\[0\]\.kind must be 'float32', got \"ternary\"")
    meta = modelfile.read_header(data)[2]
    meta["layers"][0]["shift"] = -1
    corrupt(with_meta(data, meta), r"layers\[0\] has unknown keys \['shift'\]")


def test_unknown_and_missing_top_level_keys():
    data = modelfile.to_bytes(small_model())
    meta = meta_of(small_model())
    meta["comment"] = "x"
    corrupt(with_meta(data, meta), r"has unknown keys \['comment'\]")
    del meta["comment"], meta["metadata"]
    corrupt(with_meta(data, meta), r"is missing \['metadata'\]")
    meta = meta_of(small_model())
    meta["input"]["scale"] = [1.0]
    corrupt(with_meta(data, meta), r"input has unknown keys \['scale'\]")
    corrupt(with_text(data, "[]"), "the metadata document must be an object, got an array")


def test_null_metadata_from_version_1_writers_loads_as_empty():
    data = modelfile.to_bytes(small_model())
    meta = meta_of(small_model())
    meta["metadata"] = None
    assert modelfile.from_bytes(with_meta(data, meta)).metadata == {}
    assert TernaryModel(small_model().layers, InputQuant.pixels(6), None).metadata == {}


# ---- layer count -----------------------------------------------------------------


def deep_model(n_layers: int):
    layers = [
        TernaryDense(np.ones((2, 2), np.int8), np.zeros(2, np.int32), 1)
        for _ in range(n_layers - 1)
    ]
    return layers + [TernaryDense(np.ones((2, 2), np.int8), np.zeros(2, np.int32), -1)]


def test_64_layers_load_and_run_65_do_not():
    model = TernaryModel(deep_model(64), InputQuant.pixels(2))
    data = modelfile.to_bytes(model)
    loaded = modelfile.from_bytes(data)
    x = np.array([[255, 3]], np.uint8)
    assert loaded.logits(x).tolist() == loaded.logits(x, backend="numpy").tolist()
    with pytest.raises(ShapeError, match="a model has at most 64 layers, got 65"):
        TernaryModel(deep_model(65), InputQuant.pixels(2))
    meta = modelfile.read_header(data)[2]
    layer = dict(meta["layers"][0], bias_offset=0, weight_offset=8)
    layers = [dict(layer, bias_offset=9 * i, weight_offset=9 * i + 8) for i in range(65)]
    layers[-1]["shift"] = -1
    payload = (np.zeros(2, "<i4").tobytes() + bytes([80])) * 65  # 80: four +1 weights in T3
    corrupt(
        with_meta(data, dict(meta, layers=layers), payload),
        r"layers must be an array of 1\.\.64 layers, got 65",
    )
    corrupt(with_meta(data, dict(meta, layers=[])), r"layers must be an array of 1\.\.64 layers")


# ---- input shift -------------------------------------------------------------------


def test_input_shift_is_1_to_7():
    for shift in (0, 8):
        with pytest.raises(InputError, match=f"input shift must be 1..7, got {shift}"):
            InputQuant.pixels(3, shift)
    with pytest.raises(DTypeError, match="input shift must be an integer, got 1.5"):
        InputQuant.pixels(3, 1.5)
    assert InputQuant.pixels(3, 7).quantize([[100, 200, 255]]).tolist() == [[0, 1, 1]]
    data = modelfile.to_bytes(small_model())
    meta = meta_of(small_model())
    meta["input"]["shift"] = 0
    corrupt(with_meta(data, meta), r"input\.shift must be 1\.\.7, got 0")


# ---- JSON ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("NaN", "NaN is not a JSON number"),
        ("Infinity", "Infinity is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e999", "the number 1e999 overflows a double"),
        ("1" * 65, "a number of 65 characters"),
        ("9" * 5000, "a number of 5000 characters"),
        ("[" * 100000 + "]" * 100000, "JSON nested deeper than 20 levels"),
        ('{"a":' * 30 + "1" + "}" * 30, "JSON nested deeper than 20 levels"),
    ],
)
def test_json_limits(fragment, message):
    data = modelfile.to_bytes(small_model())
    text = json.dumps(meta_of(small_model())).replace('"metadata": {}', '"metadata": {"x": 0}')
    text = text.replace('"x": 0', f'"x": {fragment}')
    assert fragment in text
    corrupt(with_text(data, text), f"unreadable metadata: {message}")


def test_brackets_inside_strings_do_not_count_as_nesting():
    model = small_model(metadata={"note": "[[[[" * 100 + '"\\'})
    assert modelfile.from_bytes(modelfile.to_bytes(model)).metadata == model.metadata


def test_duplicate_keys():
    data = modelfile.to_bytes(small_model())
    text = json.dumps(meta_of(small_model()))
    corrupt(
        with_text(data, text.replace('"model": "ternary"', '"model": "ternary", "model": "x"')),
        "unreadable metadata: duplicate key 'model'",
    )


def test_invalid_utf8_and_bad_json():
    data = modelfile.to_bytes(small_model())
    corrupt(with_text(data, "{"), "unreadable metadata: Expecting property name")
    m = modelfile.read_header(data)[0]
    raw = b'{"\xff": 1}'
    header = modelfile.HEADER.pack(
        modelfile.MAGIC, 1, 32, len(raw), len(data) - 32 - m, zlib.crc32(raw + data[32 + m :]), 0
    )
    corrupt(header + raw + data[32 + m :], "unreadable metadata: 'utf-8' codec")


# ---- amplification -----------------------------------------------------------------


def test_shared_sections_are_rejected_before_decoding():
    big = TernaryModel.random([1024, 1024, 2], InputQuant.pixels(1024), seed=1)
    data = modelfile.to_bytes(big)
    meta = modelfile.read_header(data)[2]
    hidden = meta["layers"][0]
    layers = [dict(hidden) for _ in range(63)] + [meta["layers"][1]]
    start = time.perf_counter()
    corrupt(
        with_meta(data, dict(meta, layers=layers)),
        r"layers\[1\]\.bias_offset is 0, expected 213812",
    )
    assert time.perf_counter() - start < 1.0


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda L: L[0].update(bias_offset=4), r"layers\[0\]\.bias_offset is 4, expected 0"),
        (
            lambda L: L[1].update(weight_offset=L[0]["bias_offset"]),
            r"layers\[1\]\.weight_offset is 0, expected",
        ),
        (lambda L: L[1].update(n_in=4), r"layers\[1\]\.n_in is 4 but layers\[0\] has 5 outputs"),
        (lambda L: L[0].update(n_in=7), r"layers\[0\]\.n_in is 7 but the input has 6 features"),
        (lambda L: L[0].update(n_in=2**20 + 1), r"layers\[0\]\.n_in must be 1\.\.1048576"),
        (lambda L: L[1].update(shift=2), r"layers\[1\]\.shift must be -1\.\.-1, got 2"),
        (lambda L: L[0].update(shift=-1), r"layers\[0\]\.shift must be 0\.\.24, got -1"),
    ],
)
def test_layer_records(edit, message):
    data = modelfile.to_bytes(small_model())
    meta = meta_of(small_model())
    edit(meta["layers"])
    corrupt(with_meta(data, meta), message)


def test_sections_cover_the_payload_exactly():
    data = modelfile.to_bytes(small_model())
    m, p, meta = modelfile.read_header(data)
    corrupt(
        with_meta(data, meta, data[32 + m :] + b"\0"),
        f"the layers cover {p} of the {p + 1} payload bytes",
    )
    corrupt(
        with_meta(data, meta, data[32 + m : -1]),
        rf"the weight section of layers\[1\] ends at {p}, past the {p - 1}-byte payload",
    )


# ---- metadata ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"x": float("nan")}, r"metadata\['x'\] is nan, which JSON cannot represent"),
        ({"x": [1, float("inf")]}, r"metadata\['x'\]\[1\] is inf"),
        ({"x": "\ud800"}, r"metadata\['x'\] holds a lone surrogate"),
        ({"\udfff": 1}, r"a key of metadata holds a lone surrogate"),
        ({1: "a"}, r"metadata has the key 1; keys must be strings"),
        ({"x": {2: 3}}, r"metadata\['x'\] has the key 2"),
        ({"x": np.int64(3)}, r"metadata\['x'\] has type int64, which is not plain JSON data"),
        ({"x": b"bytes"}, r"has type bytes"),
        ({"x": 10**70}, r"metadata\['x'\] is an integer of more than 64 digits"),
    ],
)
def test_metadata_checked_by_the_constructor_and_on_save(metadata, message):
    with pytest.raises(MetadataError, match=message):
        small_model(metadata=metadata)
    model = small_model()
    model.metadata.update(metadata)
    with pytest.raises(MetadataError, match=message):
        modelfile.to_bytes(model)
    assert issubclass(MetadataError, InputError) and issubclass(MetadataError, ValueError)


def test_metadata_depth_and_type():
    deep: dict = {}
    inner = deep
    for _ in range(15):
        inner["a"] = {}
        inner = inner["a"]
    small_model(metadata=deep)  # metadata itself plus 15 levels: 16 in all
    inner["a"] = {}
    with pytest.raises(MetadataError, match="nests deeper than 16 levels"):
        small_model(metadata=deep)
    with pytest.raises(MetadataError, match="metadata must be a dict with string keys, got list"):
        TernaryModel(small_model().layers, InputQuant.pixels(6), [("a", 1)])


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        ("[[1, 2]]", "metadata must be a dict with string keys, got list"),
        ('{"x": "\\ud800"}', r"metadata\['x'\] holds a lone surrogate"),
        ('{"\\udc00": 1}', "a key of metadata holds a lone surrogate"),
        ('"text"', "metadata must be a dict with string keys, got str"),
        ('{"a": ' * 17 + "1" + "}" * 17, "nests deeper than 16 levels"),
    ],
)
def test_metadata_checked_on_load(fragment, message):
    data = modelfile.to_bytes(small_model())
    text = json.dumps(meta_of(small_model())).replace('"metadata": {}', f'"metadata": {fragment}')
    corrupt(with_text(data, text), message)


def test_plain_metadata_round_trips():
    md = {"a": [1, 2.5, None, True, {"b": "é\u2028"}], "n": -3, "t": (1, 2)}
    model = small_model(metadata=md)
    loaded = modelfile.from_bytes(modelfile.to_bytes(model))
    assert loaded.metadata == {"a": [1, 2.5, None, True, {"b": "é\u2028"}], "n": -3, "t": [1, 2]}
    assert modelfile.to_bytes(loaded) == modelfile.to_bytes(model)


# ---- short files ---------------------------------------------------------------------


def test_files_under_32_bytes_get_one_error_class_each():
    data = modelfile.to_bytes(small_model())
    for n in range(32):
        expected = NotAModelError if n == 0 else TruncatedModelError
        with pytest.raises(expected) as info:
            modelfile.from_bytes(data[:n])
        assert type(info.value) is expected
    bad_version = bytearray(data[:31])
    bad_version[8] = 9  # the version is not examined until there are 32 bytes
    with pytest.raises(TruncatedModelError, match="31 bytes, the header alone is 32"):
        modelfile.from_bytes(bytes(bad_version))
    for short in (b"CONNTRB", b"X", b"CONNTRA\0" + b"\0" * 20 + b"zz", b"CONNTRA\1"):
        if short.startswith(b"CONNTRA\0"):
            with pytest.raises(TruncatedModelError):
                modelfile.from_bytes(short)
        else:
            with pytest.raises(NotAModelError, match="no CONNTRA magic"):
                modelfile.from_bytes(short)


# ---- files and paths ---------------------------------------------------------------


def test_load_missing_file_and_directory(tmp_path):
    missing = tmp_path / "none.ctm"
    with pytest.raises(ModelNotFoundError, match=r"no such model file: '.*none\.ctm'") as info:
        conntra.load(missing)
    assert isinstance(info.value, FileNotFoundError) and info.value.filename == str(missing)
    with pytest.raises(ModelReadError, match="a directory, not a model file") as info:
        conntra.load(tmp_path)
    assert isinstance(info.value, OSError) and isinstance(info.value, ConntraError)
    with pytest.raises(DTypeError, match="a model path must be a str or os.PathLike"):
        conntra.load(None)


def test_save_into_an_unwritable_place(tmp_path):
    # below a regular file: no folder can be made there, not even by root
    (tmp_path / "file").write_bytes(b"x")
    with pytest.raises(OutputPathError, match=r"cannot write .*file/sub/m\.ctm") as info:
        small_model().save(tmp_path / "file" / "sub" / "m.ctm")
    assert isinstance(info.value, OSError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_save_onto_a_directory_names_the_path(tmp_path):
    (tmp_path / "d.ctm").mkdir()
    with pytest.raises(OutputPathError, match=r"cannot write .*d\.ctm: .*is a directory"):
        conntra.save(small_model(), tmp_path / "d.ctm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.ctm"]


def test_save_rejects_what_is_not_a_model(tmp_path):
    with pytest.raises(InputError, match="only a TernaryModel or FloatModel can be saved"):
        conntra.save("model", tmp_path / "m.ctm")


# ---- ragged and mistyped arguments ---------------------------------------------------


def test_ragged_lists_are_shape_errors():
    with pytest.raises(ShapeError, match="weights must be a rectangular array"):
        TernaryDense([[1, 0], [1]], [0, 0], -1)
    with pytest.raises(ShapeError, match="bias must be a rectangular array"):
        FloatDense([[1.0]], [[1.0], []])
    model = small_model()
    with pytest.raises(ShapeError, match="inputs must be a rectangular array"):
        model.logits([[1, 2, 3, 4, 5, 6], [1]])
    with pytest.raises(ShapeError, match="quantized inputs must be a rectangular array"):
        model.logits_quantized([[1, 2], [3]])
    with pytest.raises(ShapeError, match="y must be a rectangular array"):
        model.error_rate(np.zeros((2, 6)), [[0], []])
    with pytest.raises(InputError, match="layers must be a list of TernaryDense or .*, got int"):
        TernaryModel(3, InputQuant.pixels(6))
    with pytest.raises(InputError, match="input_quant must be an InputQuant, got dict"):
        TernaryModel(model.layers, {"kind": "shift"})


def test_layer_shift_must_be_an_integer():
    for shift in (3.9, "3", True):
        with pytest.raises(DTypeError, match=f"shift must be an integer, got {shift!r}"):
            TernaryDense(np.ones((1, 1), np.int8), np.zeros(1, np.int32), shift)
    assert TernaryDense(np.ones((1, 1), np.int8), np.zeros(1, np.int32), np.int64(3)).shift == 3


def test_quantize_memory_stays_near_the_input_size():
    x = np.random.default_rng(0).integers(0, 256, size=(4000, 784), dtype=np.uint8)
    quant = InputQuant.pixels(784, 1)
    expected = (x.astype(np.int64) >> 1).astype(np.int8)
    tracemalloc.start()
    try:
        got = quant.quantize(x)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, expected) and got.dtype == np.int8
    assert peak < 2 * x.nbytes
    xf = x[:1000].astype(np.float64) * 0.37 - 5
    affine = InputQuant.fit_affine(xf)
    ref = np.clip(
        np.floor((xf - np.array(affine.offset)) * np.array(affine.scale) + 0.5), 0, 127
    ).astype(np.int8)
    tracemalloc.start()
    try:
        got = affine.quantize(xf)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert np.array_equal(got, ref)
    assert peak < got.nbytes + 4 * 8 * (1 << 16)  # the output plus a few float64 chunks


@pytest.mark.parametrize("dtype", [np.int16, np.int64, np.uint16, np.float32, np.float64])
def test_pixel_quantization_of_other_dtypes(dtype):
    x = np.array([[0, 1, 2, 127, 128, 255]] * 3, dtype=dtype)
    for shift in range(1, 8):
        got = InputQuant.pixels(6, shift).quantize(x)
        assert got.dtype == np.int8
        assert got.tolist() == [[v >> shift for v in (0, 1, 2, 127, 128, 255)]] * 3
