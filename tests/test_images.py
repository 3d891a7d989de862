"""The one image loader: transparency on white, 16-bit and float by range, sizes Qwen2.5-VL accepts."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dyco_repro.images import (
    MAX_ASPECT_RATIO,
    MIN_SIDE,
    fit_for_model,
    geometry_problem,
    items_needing_fit,
    load_for_model,
    load_image,
)


def saved(tmp_path, image: Image.Image, name: str) -> str:
    path = tmp_path / name
    image.save(path)
    return str(path)


def drawing(mode: str) -> Image.Image:
    """A black 4x4 square on a transparent 16x16 background, in `mode`."""
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[4:8, 4:8, 3] = 255
    return Image.fromarray(rgba, "RGBA").convert(mode) if mode != "RGBA" else Image.fromarray(rgba, "RGBA")


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparency_is_composited_on_white(tmp_path, mode):
    """The issue: a black drawing on a transparent background became an all-black image."""
    path = saved(tmp_path, drawing(mode), "d.png")
    assert np.asarray(Image.open(path).convert("RGB")).max() == 0  # what convert("RGB") does
    image = np.asarray(load_image(path))
    assert image.shape == (16, 16, 3) and (image[0, 0] == 255).all() and (image[5, 5] == 0).all()


def test_palette_with_a_transparent_colour_is_composited_on_white(tmp_path):
    palette = Image.new("P", (16, 16), 0)
    palette.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    palette.paste(1, (4, 4, 8, 8))
    palette.info["transparency"] = 0  # index 0 (black) is transparent
    path = saved(tmp_path, palette, "p.png")
    image = np.asarray(load_image(path))
    assert (image[0, 0] == 255).all() and tuple(image[5, 5]) == (255, 0, 0)


def test_sixteen_bit_grey_is_scaled_by_its_range(tmp_path):
    """The issue: a 16-bit grey PNG became all white."""
    values = np.linspace(256, 65535, 16 * 16).reshape(16, 16).astype(np.uint16)
    values[0, 0] = 0
    path = saved(tmp_path, Image.fromarray(values), "g16.png")
    assert (np.asarray(Image.open(path).convert("RGB"))[1:] == 255).all()  # what convert("RGB") does
    image = np.asarray(load_image(path))[..., 0]
    assert image.min() == 0 and image.max() == 255 and image[8, 8] == round(values[8, 8] / 257)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (np.full((16, 16), 0.5, np.float32), 128),  # the issue: a float TIFF in [0, 1] became all black
        (np.full((16, 16), 1.0, np.float32), 255),
        (np.array([[-5.0, 5.0]] * 16, np.float32).repeat(8, axis=1), None),  # ours: outside [0, 1]: min..max
    ],
)
def test_float_images_are_scaled_by_their_range(tmp_path, values, expected):
    path = saved(tmp_path, Image.fromarray(values), "f.tiff")
    image = np.asarray(load_image(path))[..., 0]
    if expected is None:
        assert image.min() == 0 and image.max() == 255
    else:
        assert (image == expected).all()


def test_rgb_and_cmyk_are_plain_conversions(tmp_path):
    rgb = Image.new("RGB", (16, 16), (10, 20, 30))
    assert load_image(rgb) is rgb
    cmyk = Image.new("CMYK", (16, 16), (0, 255, 255, 0))
    assert load_image(cmyk).getpixel((0, 0)) == cmyk.convert("RGB").getpixel((0, 0))


@pytest.mark.parametrize(
    ("size", "problem"),
    [
        ((14 * 201, 14), "aspect ratio 201:1"),
        ((13, 100), "smaller than one 14-pixel vision patch"),
        ((1, 1), "smaller than one"),
        ((14 * 200, 14), None),
        ((28, 28), None),
    ],
)
def test_geometry_problem(size, problem):
    found = geometry_problem(*size)
    assert (found is None) if problem is None else (problem in found)


@pytest.mark.parametrize("size", [(14 * 201, 14), (5000, 1), (3, 3), (20, 20 * 300)])
def test_fit_pads_to_a_size_the_processor_accepts(size):
    from transformers.models.qwen2_vl.image_processing_qwen2_vl import smart_resize

    image = Image.new("RGB", size, (0, 0, 0))
    fitted, changed = fit_for_model(image)
    assert changed and geometry_problem(*fitted.size) is None
    assert min(fitted.size) >= MIN_SIDE and max(fitted.size) / min(fitted.size) <= MAX_ASPECT_RATIO
    smart_resize(fitted.size[1], fitted.size[0])  # does not raise
    # the content is kept (centred), the padding is white
    left, top = (fitted.size[0] - size[0]) // 2, (fitted.size[1] - size[1]) // 2
    assert fitted.getpixel((left, top)) == (0, 0, 0)
    assert (255, 255, 255) in [fitted.getpixel((0, 0)), fitted.getpixel((fitted.size[0] - 1, fitted.size[1] - 1))]


def test_fine_image_is_untouched(tmp_path):
    path = saved(tmp_path, Image.new("RGB", (40, 30), (1, 2, 3)), "ok.png")
    image, changed = load_for_model(path)
    assert not changed and image.size == (40, 30)


def test_items_needing_fit_counts_items_not_images(tmp_path):
    import pandas as pd

    good = saved(tmp_path, Image.new("RGB", (40, 40)), "good.png")
    strip = saved(tmp_path, Image.new("RGB", (14 * 250, 14)), "strip.png")

    class Dataset:  # a VLMEvalKit image dataset's interface: data frame + build_prompt
        data = pd.DataFrame({"paths": [[good], [strip, strip], [good, strip], [str(tmp_path / "missing.png")]]})

        @staticmethod
        def build_prompt(row):
            return [{"type": "image", "value": p} for p in row["paths"]] + [{"type": "text", "value": "q"}]

    assert items_needing_fit(Dataset()) == 3
