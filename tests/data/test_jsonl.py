"""ThinkLite-VL JSONL loader: TRL-ready rows, whole-file validation with FILE:LINE messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from dyco_repro.data import FORMAT_INSTRUCTION, DataError, LoadedData, load_jsonl
from dyco_repro.data.jsonl import SKIP_HINT
from dyco_repro.tiny import write_dataset


@pytest.fixture(scope="module")
def synth(tmp_path_factory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("synth") / "set", n=12, seed=5)


def source_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def human(value: str) -> dict:
    return {"from": "human", "value": value}


def gpt(value: str) -> dict:
    return {"from": "gpt", "value": value}


@pytest.fixture
def pngs(tmp_path) -> dict[str, tuple[int, int]]:
    """Three distinguishable images of different sizes and modes in tmp_path/img/."""
    (tmp_path / "img").mkdir()
    specs = {"a.png": ((20, 28), "RGB"), "b.png": ((30, 16), "L"), "c.png": ((16, 16), "RGBA")}
    for name, (size, mode) in specs.items():
        Image.new(mode, size).save(tmp_path / "img" / name)
    return {name: size for name, (size, _) in specs.items()}


def write_lines(path: Path, lines: list) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def good(i: int, image: str = "img/a.png") -> dict:
    return {"id": f"r{i}", "image": image, "conversations": [human(f"<image>\nQ{i}?"), gpt(str(i))]}


# --- the synthetic set ------------------------------------------------------------------------------------------


def test_synthetic_set_loads_as_trl_rows(synth):
    loaded = load_jsonl(synth / "train.jsonl")
    assert isinstance(loaded, LoadedData) and loaded.skipped == 0 and loaded.errors == []
    ds = loaded.dataset
    assert set(ds.column_names) == {"id", "prompt", "images", "solution"}
    assert len(ds) == 12
    src = source_rows(synth / "train.jsonl")
    for row, raw in zip(ds, src, strict=True):
        assert row["id"] == raw["id"]
        assert row["solution"] == raw["conversations"][1]["value"]
        [image] = row["images"]
        assert isinstance(image, Image.Image) and image.mode == "RGB" and image.size == (112, 112)
        [message] = row["prompt"]
        assert message["role"] == "user"
        kinds = [part["type"] for part in message["content"]]
        assert kinds == ["image", "text"]
        text = message["content"][1]["text"]
        question = raw["conversations"][0]["value"].removeprefix("<image>\n")
        assert text.startswith(question.strip()) and text.endswith(FORMAT_INSTRUCTION)
        assert "<image>" not in text


def test_prompt_is_what_trl_fills_with_images(synth):
    """TRL's prepare_multimodal_messages puts the `images` column into the bare image parts, in order."""
    from trl.data_utils import is_conversational, prepare_multimodal_messages

    row = load_jsonl(synth / "train.jsonl").dataset[0]
    assert is_conversational(row)
    filled = prepare_multimodal_messages(row["prompt"], images=row["images"])
    image_part = filled[0]["content"][0]
    assert image_part["type"] == "image" and image_part["image"] is row["images"][0]


def test_image_root_and_limit(synth, tmp_path):
    moved = tmp_path / "elsewhere.jsonl"
    moved.write_text((synth / "train.jsonl").read_text())
    with pytest.raises(DataError, match="image not found"):
        load_jsonl(moved)
    loaded = load_jsonl(moved, image_root=synth, limit=5)
    assert len(loaded.dataset) == 5
    assert loaded.dataset["id"] == [r["id"] for r in source_rows(synth / "train.jsonl")[:5]]


# --- multi-image rows and placeholders --------------------------------------------------------------------------


def test_multi_image_rows_keep_placeholder_order(tmp_path, pngs):
    rows = [
        {"id": "m", "image": ["img/b.png", "img/a.png", "img/c.png"],
         "conversations": [human("First <image> then <image>\nand <image> which?"), gpt("B")]},
        {"image": "img/c.png", "conversations": [human("No placeholder here"), gpt("yes")]},
        {"image": ["img/a.png", "img/b.png"], "conversations": [human("<image><image>Compare."), gpt("no")]},
    ]  # fmt: skip
    ds = load_jsonl(write_lines(tmp_path / "multi.jsonl", rows)).dataset
    assert [[im.size for im in r["images"]] for r in ds] == [
        [pngs["b.png"], pngs["a.png"], pngs["c.png"]],
        [pngs["c.png"]],
        [pngs["a.png"], pngs["b.png"]],
    ]
    assert all(im.mode == "RGB" for r in ds for im in r["images"])
    parts = [[(p["type"], p["text"]) for p in r["prompt"][0]["content"]] for r in ds]
    assert parts[0] == [
        ("text", "First"), ("image", None), ("text", "then"), ("image", None),
        ("text", "and"), ("image", None), ("text", f"which?\n{FORMAT_INSTRUCTION}"),
    ]  # fmt: skip
    assert parts[1] == [("image", None), ("text", f"No placeholder here\n{FORMAT_INSTRUCTION}")]
    assert parts[2] == [("image", None), ("image", None), ("text", f"Compare.\n{FORMAT_INSTRUCTION}")]
    assert ds["id"] == ["m", "multi-2", "multi-3"]


# --- bad input --------------------------------------------------------------------------------------------------


def two_images(i: int) -> dict:
    return {"image": ["img/a.png", "img/b.png"], "conversations": [human("<image> Which is larger?"), gpt("A")]}


BAD_LINE_3 = {
    "malformed JSON": ('{"image": "img/a.png", "conversations": [', "malformed JSON"),
    "not an object": ("[1, 2]", "expected a JSON object"),
    "missing conversations": ({"id": "x", "image": "img/a.png"}, 'missing key "conversations"'),
    "missing image key": ({"conversations": [human("<image>q"), gpt("1")]}, 'missing key "image"'),
    "ill-typed image": ({"image": 7, "conversations": [human("<image>q"), gpt("1")]}, '"image" must be'),
    "ill-typed turns": ({"image": "img/a.png", "conversations": [{"from": "human"}]}, '"conversations" must be'),
    "no human turn": ({"image": "img/a.png", "conversations": [gpt("1")]}, "no human turn"),
    "no gpt turn": ({"image": "img/a.png", "conversations": [human("<image>q")]}, "no gpt turn"),
    "placeholder mismatch": (two_images(3), "1 <image> placeholders in the human turn but 2 images"),
    "too many placeholders": (
        {"image": "img/a.png", "conversations": [human("<image><image>q"), gpt("1")]},
        "2 <image> placeholders in the human turn but 1 images",
    ),
    "missing image file": (good(3, image="img/nope.png"), "image not found"),
    "unreadable image": (good(3, image="img/broken.png"), "unreadable image"),
    # the issue: sizes Qwen2.5-VL's processor refuses
    "aspect ratio over 200:1": (good(3, image="img/strip.png"), "aspect ratio 201:1 over the processor's 200:1"),
    "smaller than one patch": (good(3, image="img/dot.png"), "smaller than one 14-pixel vision patch"),
    "tall strip (ours)": (good(3, image="img/tall.png"), "aspect ratio 250:1"),
    # the issue: dropped turns and duplicate ids
    "dropped turns": (
        {"image": "img/a.png", "conversations": [human("<image>q"), gpt("1"), human("and?"), gpt("2")]},
        "2 conversation turn(s) (human, gpt) besides the human question and the gpt answer would be dropped",
    ),
    "dropped system turn (ours)": (
        {"image": "img/a.png", "conversations": [{"from": "system", "value": "be brief"}, human("<image>q"), gpt("1")]},
        "1 conversation turn(s) (system)",
    ),
    "duplicate id": (good(1), "duplicate id 'r1' (first on line 1); give each row its own id"),
}


@pytest.fixture
def bad_file(tmp_path, pngs, request):
    (tmp_path / "img" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    Image.new("RGB", (14 * 201, 14)).save(tmp_path / "img" / "strip.png")
    Image.new("RGB", (20, 20 * 250)).save(tmp_path / "img" / "tall.png")
    Image.new("RGB", (13, 40)).save(tmp_path / "img" / "dot.png")
    bad, _ = BAD_LINE_3[request.param]
    return write_lines(tmp_path / "train.jsonl", [good(1), good(2), bad, good(4), good(5)]), request.param


@pytest.mark.parametrize("bad_file", list(BAD_LINE_3), indirect=True)
def test_bad_row_raises_with_file_and_line(bad_file):
    path, case = bad_file
    with pytest.raises(DataError) as info:
        load_jsonl(path)
    message = str(info.value)
    assert message.startswith(f"{path}:3: ")
    assert BAD_LINE_3[case][1] in message
    assert "; " in message.removeprefix(f"{path}:3: ")  # what is wrong; how to fix
    assert message.endswith(SKIP_HINT) and "more bad rows" not in message
    assert "\n" not in message
    assert info.value.errors == [message.removesuffix(f"; {SKIP_HINT}")]


@pytest.mark.parametrize("bad_file", list(BAD_LINE_3), indirect=True)
def test_bad_row_is_skipped_and_counted(bad_file):
    path, case = bad_file
    loaded = load_jsonl(path, on_error="skip")
    assert loaded.skipped == 1
    assert len(loaded.errors) == 1 and loaded.errors[0].startswith(f"{path}:3: ")
    assert BAD_LINE_3[case][1] in loaded.errors[0]
    assert loaded.dataset["id"] == ["r1", "r2", "r4", "r5"]


def test_aspect_limit_is_the_one_qwen_processor_enforces():
    """Our check refuses exactly what transformers' smart_resize (Qwen2.5-VL) raises on."""
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    from dyco_repro.images import geometry_problem

    smart_resize(14, 14 * 200)
    assert geometry_problem(14 * 200, 14) is None
    with pytest.raises(ValueError, match="aspect ratio"):
        smart_resize(14, 14 * 201)
    assert "aspect ratio" in geometry_problem(14 * 201, 14)


def test_bom_loses_no_row(tmp_path, pngs):
    """The issue: a UTF-8 byte-order mark made line 1 malformed JSON."""
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + "".join(json.dumps(good(i)) + "\n" for i in (1, 2, 3)).encode())
    assert load_jsonl(path).dataset["id"] == ["r1", "r2", "r3"]
    path.write_bytes(b"\xef\xbb\xbf\n" + (json.dumps(good(1)) + "\n").encode())  # ours: BOM on a blank line
    assert load_jsonl(path).dataset["id"] == ["r1"]


def test_bom_in_the_middle_is_still_an_error(tmp_path, pngs):
    path = tmp_path / "bom.jsonl"
    path.write_bytes((json.dumps(good(1)) + "\n").encode() + b"\xef\xbb\xbf" + (json.dumps(good(2)) + "\n").encode())
    with pytest.raises(DataError, match=rf"^{path}:2: malformed JSON"):
        load_jsonl(path)


def test_images_decode_as_the_model_should_see_them(tmp_path):
    """The issue: transparency on white (not black), 16-bit and float scaled by range (not white / black)."""
    import numpy as np

    (tmp_path / "img").mkdir()
    drawing = np.zeros((16, 16, 4), np.uint8)
    drawing[4:8, 4:8, 3] = 255  # a black square on a transparent background
    Image.fromarray(drawing, "RGBA").save(tmp_path / "img" / "a.png")
    Image.fromarray(np.full((16, 16), 32896, np.uint16)).save(tmp_path / "img" / "b.png")  # 16-bit grey, half
    path = write_lines(tmp_path / "t.jsonl", [good(1), good(2, image="img/b.png")])
    ds = load_jsonl(path).dataset
    first = np.asarray(ds[0]["images"][0])
    assert first.shape == (16, 16, 3) and (first[0, 0] == 255).all() and (first[5, 5] == 0).all()
    assert (np.asarray(ds[1]["images"][0]) == 128).all()
    # derived datasets (TRL, SFT map/select/shuffle) decode the same way
    derived = ds.map(lambda r: r).shuffle(seed=0).select([0, 1])
    assert {int(np.asarray(r["images"][0])[0, 0, 0]) for r in derived} == {255, 128}


def test_every_bad_row_is_reported_and_counted(tmp_path, pngs):
    lines = [good(1), "{oops", "", good(4), two_images(5), good(6, image="img/nope.png"), good(7)]
    path = write_lines(tmp_path / "mixed.jsonl", lines)
    with pytest.raises(DataError, match=rf"^{path}:2: malformed JSON.*\(and 2 more bad rows\); {SKIP_HINT}$") as info:
        load_jsonl(path)
    assert [e.split(": ")[0] for e in info.value.errors] == [f"{path}:2", f"{path}:5", f"{path}:6"]

    loaded = load_jsonl(path, on_error="skip")
    assert loaded.skipped == 3 and loaded.errors == info.value.errors
    assert loaded.dataset["id"] == ["r1", "r4", "r7"]
    assert loaded.dataset["solution"] == ["1", "4", "7"]


def test_empty_file_and_no_valid_rows(tmp_path, pngs):
    for content in ("", "\n  \n"):
        path = tmp_path / "empty.jsonl"
        path.write_text(content)
        for on_error in ("raise", "skip"):
            with pytest.raises(DataError, match=rf"^{path}: no rows"):
                load_jsonl(path, on_error=on_error)
    path = write_lines(tmp_path / "allbad.jsonl", ["{", good(2, image="img/nope.png")])
    with pytest.raises(DataError, match=rf"^{path}: no valid rows \(2 bad, first: {path}:1: malformed JSON"):
        load_jsonl(path, on_error="skip")


def test_missing_file_names_path_and_override(tmp_path):
    path = tmp_path / "nowhere" / "train.jsonl"
    with pytest.raises(DataError, match=r"not found; set data\.path=") as info:
        load_jsonl(path)
    assert str(info.value).startswith(f"{path}: ")
    with pytest.raises(DataError, match="is a directory"):
        load_jsonl(tmp_path)


@pytest.mark.parametrize(
    ("on_error", "limit", "message"),
    [
        ("ignore", None, "data.on_error=ignore: not a choice; use data.on_error=raise or data.on_error=skip"),
        ("raise", 0, "data.limit=0: not a positive whole number of rows"),
        ("raise", -3, "data.limit=-3"),
        ("raise", "abc", "data.limit=abc"),
        ("skip", 2.5, "data.limit=2.5"),  # ours
        ("raise", True, "data.limit=True"),  # ours
    ],
)
def test_bad_settings_are_one_line(synth, on_error, limit, message):
    from dyco_repro.data import check_settings

    for call in (
        lambda: check_settings(on_error, limit),
        lambda: load_jsonl(synth / "train.jsonl", on_error=on_error, limit=limit),
    ):
        with pytest.raises(DataError) as info:
            call()
        assert str(info.value).startswith(message) and "\n" not in str(info.value)
    check_settings("skip", 5)


def test_bad_arguments(synth):
    with pytest.raises(DataError, match="image root not found"):
        load_jsonl(synth / "train.jsonl", image_root=synth / "missing")
