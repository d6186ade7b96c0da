"""Pure-Python mask decoding and PNG writing of the client, checked against the service's
encoder (service/masks.py), pycocotools and Pillow; and the file discovery rules."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest
from mri_client.files import content_type_for, find_inputs
from mri_client.masks import coco_string_to_counts, encode_png, mask_to_png, rle_to_pixels, write_mask
from PIL import Image

RNG = np.random.default_rng(7)
MASKS = {
    "random": RNG.random((37, 53)) > 0.6,
    "first-pixel-tumour": np.pad(np.ones((5, 4), bool), ((0, 11), (0, 9))),
    "empty": np.zeros((16, 16), bool),
    "full": np.ones((8, 12), bool),
    "blob": np.fromfunction(lambda r, c: (r - 40) ** 2 + (c - 70) ** 2 < 300, (96, 128)),
}


@pytest.mark.parametrize("name", sorted(MASKS))
def test_rle_from_the_service_decodes_to_the_same_mask(name):
    from service.masks import rle_counts

    mask = MASKS[name]
    pixels = rle_to_pixels(rle_counts(mask), list(mask.shape))
    np.testing.assert_array_equal(np.frombuffer(bytes(pixels), np.uint8).reshape(mask.shape), mask)


@pytest.mark.parametrize("name", sorted(MASKS))
def test_png_from_rle_matches_pillow(name, tmp_path):
    from service.masks import png_base64, rle_counts

    mask = MASKS[name]
    rle = {"format": "rle", "size": list(mask.shape), "counts": rle_counts(mask)}
    decoded = np.asarray(Image.open(io.BytesIO(mask_to_png(rle))))
    np.testing.assert_array_equal(decoded, mask.astype(np.uint8) * 255)
    png = {"format": "png", "size": list(mask.shape), "data": png_base64(mask)}
    path = write_mask(png, tmp_path / "sub" / "m.png")
    np.testing.assert_array_equal(np.asarray(Image.open(path)), decoded)


def test_coco_compressed_strings():
    from pycocotools import mask as mask_api  # a declared test dependency: missing is a failure

    for mask in MASKS.values():
        encoded = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
        counts = coco_string_to_counts(encoded["counts"].decode("ascii"))
        assert sum(counts) == mask.size
        pixels = rle_to_pixels(encoded["counts"].decode("ascii"), encoded["size"])
        np.testing.assert_array_equal(np.frombuffer(bytes(pixels), np.uint8).reshape(mask.shape), mask)


def test_bad_masks_are_rejected():
    with pytest.raises(ValueError, match="cover"):
        rle_to_pixels([3, 4], [3, 3])
    with pytest.raises(ValueError, match="format"):
        mask_to_png({"format": "bmp", "size": [1, 1]})
    with pytest.raises(ValueError, match="PNG"):
        mask_to_png({"format": "png", "size": [1, 1], "data": base64.b64encode(b"GIF89a").decode()})
    with pytest.raises(ValueError):
        encode_png(b"\x00\x01", 3, 1)


def test_content_types_and_discovery(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / ".git").mkdir()
    dicom = b"\0" * 128 + b"DICM" + b"rest"
    for name, data in {
        "a.PNG": b"x",
        "b.jpeg": b"x",
        "sub/c.TIFF": b"x",
        "sub/IM1": dicom,
        "sub/README": b"text",
        "d.dcm": b"x",
        "e.gif": b"x",
        ".git/f.png": b"x",
        "sub/.g.png": b"x",
    }.items():
        (tmp_path / name).write_bytes(data)
    found = [i.relative.as_posix() for i in find_inputs([tmp_path], recursive=True)]
    assert found == ["a.PNG", "b.jpeg", "d.dcm", "sub/IM1", "sub/c.TIFF"]
    assert [i.relative.as_posix() for i in find_inputs([tmp_path])] == ["a.PNG", "b.jpeg", "d.dcm"]
    assert [i.relative.as_posix() for i in find_inputs([tmp_path / "e.gif"])] == ["e.gif"]  # explicit
    excluded = find_inputs([tmp_path], recursive=True, exclude=["*.jpeg", "sub/*.TIFF"])
    assert [i.relative.as_posix() for i in excluded] == ["a.PNG", "d.dcm", "sub/IM1"]
    assert content_type_for("x.Tif") == "image/tiff"
    assert content_type_for("IM1", dicom) == "application/dicom"
    assert content_type_for("slice", b"\x89PNG\r\n\x1a\n...") == "image/png"
    assert content_type_for("slice", b"\xff\xd8\xff\xe0") == "image/jpeg"
    assert content_type_for("blob", b"??") == "application/octet-stream"


def test_dataset_masks_are_skipped_in_folders_unless_included(tmp_path):
    for name in ("TCGA_X_1_1.tif", "TCGA_X_1_1_mask.tif", "TCGA_X_1_2.jpg", "TCGA_X_1_2_mask.png"):
        (tmp_path / name).write_bytes(b"x")
    assert [i.relative.name for i in find_inputs([tmp_path])] == ["TCGA_X_1_1.tif", "TCGA_X_1_2.jpg"]
    assert len(find_inputs([tmp_path], include_masks=True)) == 4
    named = find_inputs([tmp_path / "TCGA_X_1_1_mask.tif"])  # a file named explicitly is always sent
    assert [i.relative.name for i in named] == ["TCGA_X_1_1_mask.tif"]
