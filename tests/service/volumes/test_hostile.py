"""The attack corpus: hostile and careless inputs sent to the real app, as an attacker or a sloppy
integration script would. Every case gets a 4xx with a plain-language detail (503 with
``Retry-After`` only where load is the reason), never a 500, and no request grows the process by
more than it should (the bombs: by less than 256 MiB while they would inflate to gigabytes).
The largest cases (a volume at the default limit, four of them at once) are marked slow."""

from __future__ import annotations

import concurrent.futures
import io
import logging
import re
import threading
import zlib

import nibabel as nib
import numpy as np
import pydicom
import pytest

from service.images.dicom import BROKEN_DICOM
from tests.service import samples
from tests.service import volume_samples as vs
from tests.service.volumes import hostile_samples as hs

logger = logging.getLogger(__name__)

#: What a detail must never show: Python's own words.
PYTHON_WORDS = re.compile(
    r"Traceback|object has no attribute|out of bounds|[A-Z][a-z]+Error\b|Exception|invalid literal|<class|Errno"
)
BOMB_GROWTH = 256 * 2**20


def _check(response, status: int, *words: str) -> dict:
    assert response.status_code == status, response.text
    assert response.status_code != 500
    body = response.json()
    detail = body.get("detail") if isinstance(body, dict) else None
    if detail is not None:
        text = detail if isinstance(detail, str) else str(detail)
        assert not PYTHON_WORDS.search(text), text
        for word in words:
            assert word in text, text
    if status == 503:
        assert response.headers.get("retry-after"), "a 503 must say when to retry"
    return body


def _post(client, data: bytes, name: str = "upload", **params):
    return client.post("/volume", params=params, files={"file": (name, data, "application/octet-stream")})


def _post_files(client, files: list[bytes], **params):
    return client.post(
        "/volume",
        params=params,
        files=[("files", (f"IM{i}", f, "application/dicom")) for i, f in enumerate(files)],
    )


def _dicom(change=None, slices: int = 4) -> list[bytes]:
    files = vs.dicom_series(vs.synthetic_volume(slices=slices)[0])
    return files if change is None else vs.edit_series(files, change)


def _nifti(patch: dict[int, tuple[str, object]] | None = None, data=None, gz: bool = True) -> bytes:
    image = vs.nifti_image(vs.synthetic_volume()[0] if data is None else data)
    raw = bytearray(image.to_bytes())
    for offset, (fmt, value) in (patch or {}).items():
        import struct

        struct.pack_into(fmt, raw, offset, *np.atleast_1d(value))
    return vs.gzip.compress(bytes(raw), mtime=0) if gz else bytes(raw)


# --- archives: bombs and lies ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: hs.BZIP2_BOMB.read_bytes(),  # 1.8 kB declaring 1,000 bytes, inflating to 2.3 GB
        lambda: hs.LZMA_BOMB.read_bytes(),  # 150 kB, 1 GiB
        lambda: hs.bomb_zip(hs.DEFLATED, 1 << 30),  # 1 MB, 1 GiB
    ],
    ids=["bzip2-2.3GB", "lzma-1GiB", "deflate-1GiB"],
)
def test_zip_bombs_are_422_without_inflating(client, make):
    data = make()
    with hs.peak_rss_growth() as growth:
        _check(_post(client, data, "series.zip"), 422, "larger than the zip directory declares")
    assert growth() < BOMB_GROWTH


def test_honest_zips_over_the_limits_are_refused_before_extraction(make_client):
    small = make_client(max_volume_bytes=10_000)
    _check(_post(small, vs.zip_bytes(_dicom(slices=8)), "s.zip"), 413, "the zip file", "limit is 10000 bytes")
    many = hs.raw_zip([(f"f{i}", hs.STORED, b"", 0, 0) for i in range(5000)])
    _check(
        _post(small, many, "many.zip"), 422, "5000 entries", "limit is 1024 files", "MRI_MAX_VOLUME_SLICES"
    )


def test_a_bomb_that_declares_what_it_inflates_to_is_413_naming_the_limit(client):
    """Declared sizes are summed before any member is read (was: 415 'none of the files is a DICOM
    image', after inflating the zeros' first bytes of each member)."""
    member = hs.deflate_bomb(1 << 30)
    bomb = hs.raw_zip([(f"IM{i}", hs.DEFLATED, member, 1 << 30, 0) for i in range(3)])
    with hs.peak_rss_growth() as growth:
        _check(_post(client, bomb, "bomb.zip"), 413, "declares", "MRI_MAX_VOLUME_BYTES")
    assert growth() < BOMB_GROWTH


def test_513_files_name_the_slice_limit_whatever_they_hold(client):
    files = _dicom(slices=513)
    _check(_post_files(client, files), 422, "513 slices", "limit is 512 slices", "MRI_MAX_VOLUME_SLICES")
    _check(_post(client, vs.zip_bytes(files), "s.zip"), 422, "513 slices", "MRI_MAX_VOLUME_SLICES")
    junk = vs.zip_bytes([], {f"IM{i}": b"\0" * 200 for i in range(513)})
    _check(
        _post(client, junk, "junk.zip"), 415, "none of the 513 files in the zip file", "513 without the DICM"
    )


@pytest.mark.parametrize(
    ("make", "status", "word"),
    [
        (lambda d: hs.raw_zip([("IM1", hs.STORED, d, len(d), zlib.crc32(d))], flags=1), 422, "encrypted"),
        (lambda d: hs.raw_zip([("IM1", 93, d, len(d), zlib.crc32(d))]), 415, "compression method 93"),
        (lambda d: hs.raw_zip([("IM1", hs.STORED, d, len(d), 7)]), 422, "CRC-32"),
        (lambda d: vs.zip_bytes([d])[:-40], 422, "truncated"),
        (lambda d: b"PK\x03\x04" + b"\0" * 100, 422, "zip"),
        (
            lambda d: vs.zip_bytes([], {"README.TXT": b"hi", "Thumbs.db": b"\0" * 64}),
            415,
            "2 without the DICM",
        ),
        (
            lambda d: vs.zip_bytes([], {"inner.zip": vs.zip_bytes([d])}),
            415,
            "a zip inside the zip is not opened",
        ),
    ],
    ids=["encrypted", "zstd", "crc", "truncated", "garbage", "junk-only", "zip-in-zip"],
)
def test_broken_zips_are_4xx_in_plain_words(client, make, status, word):
    member = _dicom(slices=1)[0]
    _check(_post(client, make(member), "s.zip"), status, word)


def test_zip_member_names_are_never_used_as_paths(client):
    files = _dicom(slices=3)
    archive = vs.zip_bytes([], {f"../../etc/IM{i}": f for i, f in enumerate(files)} | {"/abs/README": b"x"})
    body = _check(_post(client, archive, "s.zip"), 200)
    assert body["skipped_files"] == 1 and body["shape"][0] == 3


# --- gzip and NIfTI headers that lie ------------------------------------------------------------------


def test_a_gzip_nifti_declaring_a_huge_image_is_refused_from_its_header(client):
    header = nib.Nifti1Header()
    header.set_data_shape((2048, 2048, 500))
    header.set_data_dtype(np.uint8)
    header["vox_offset"] = 352
    bomb = hs.gzip_of(header.binaryblock + b"\0" * 4, then_zeros=1 << 30)
    with hs.peak_rss_growth() as growth:
        _check(_post(client, bomb, "v.nii.gz"), 413, "the NIfTI image")
    assert growth() < BOMB_GROWTH


def test_a_gzip_nifti_followed_by_a_gigabyte_of_zeros_is_read_up_to_its_voxels(client):
    raw = vs.gzip.decompress(_nifti())
    with hs.peak_rss_growth() as growth:
        body = _check(_post(client, hs.gzip_of(raw, then_zeros=1 << 30), "v.nii.gz"), 200)
    assert body["tumour_voxels"] > 0 and growth() < BOMB_GROWTH


@pytest.mark.parametrize(
    ("patch", "status", "word"),
    [
        ({108: ("<f", float("nan"))}, 422, "vox_offset"),  # was a 500
        ({108: ("<f", float("inf"))}, 422, "vox_offset"),  # was a 500
        ({108: ("<f", -1e9)}, 422, "vox_offset"),
        ({108: ("<f", 3e9)}, 422, "vox_offset"),
        ({42: ("<h", 0)}, 422, "at least 1"),
        ({40: ("<h", 8)}, 422, "NIfTI"),
        ({70: ("<h", 32)}, 422, "data type"),  # complex64
        ({70: ("<h", 0)}, 422, "NIfTI"),
        ({46: ("<h", 30000), 40: ("<h", 3)}, 422, "slices"),
        ({42: ("<hh", [2, 2])}, 422, "2x2 pixels"),
        ({344: ("<4s", b"ni1\0")}, 415, ".hdr/.img"),
        ({252: ("<hh", [1, 0]), 256: ("<3f", [float("nan")] * 3)}, 200, ""),  # NaN quaternion, pixdims kept
    ],
    ids=[
        "offset-nan",
        "offset-inf",
        "offset-negative",
        "offset-huge",
        "dim-0",
        "dim0-8",
        "complex",
        "type-0",
        "30000-slices",
        "2x2",
        "pair-magic",
        "nan-quaternion",
    ],
)
def test_nifti_headers_that_lie_are_4xx(client, patch, status, word):
    response = _post(client, _nifti(patch), "v.nii.gz")
    if status == 200:
        assert response.status_code in (200, 422), response.text
        assert response.status_code != 500
        return
    _check(response, status, word)


@pytest.mark.parametrize("codes", [(0, 0), (1, 0), (0, 2)], ids=["no-orientation", "qform", "sform"])
def test_a_nifti2_with_pixdim_1e200_is_422_naming_the_voxel_limit(client, codes):
    """The voxel volume overflowed to a 500 before. (NIfTI-2: pixdim float64 at byte 104, qform_code
    and sform_code int32 at 344 and 348.)"""
    import struct

    raw = bytearray(vs.nifti_image(vs.synthetic_volume()[0], two=True).to_bytes())
    struct.pack_into("<3d", raw, 112, 1e200, 1e200, 1e200)
    struct.pack_into("<2i", raw, 344, *codes)
    _check(_post(client, vs.gzip.compress(bytes(raw)), "v.nii.gz"), 422, "limit is 10000 mm per voxel side")


def test_a_nifti_sform_of_1e200_is_422_naming_the_voxel_limit(client):
    import struct

    raw = bytearray(vs.nifti_image(vs.synthetic_volume()[0], two=True).to_bytes())
    struct.pack_into("<i", raw, 348, 1)  # sform_code
    struct.pack_into("<4d", raw, 400, 1e200, 0.0, 0.0, 0.0)  # srow_x
    _check(_post(client, vs.gzip.compress(bytes(raw)), "v.nii.gz"), 422, "limit is 10000 mm per voxel side")


def test_pixdim_zero_without_orientation_gets_no_invented_millimetres(client):
    body = _check(_post(client, _nifti({80: ("<3f", [0, 0, 0]), 252: ("<hh", [0, 0])}), "v.nii.gz"), 200)
    assert body["spacing_mm"] is None and body["tumour_volume_ml"] is None
    assert len(body["warnings"]) == 2


@pytest.mark.parametrize(
    ("data", "status", "word"),
    [
        (lambda: vs.gzip.compress(b"\0" * 10_000), 415, "not a volume"),
        (lambda: _nifti()[:200], 422, "truncated"),
        (lambda: _nifti(gz=False)[:2000], 422, "shorter"),
        (lambda: b"\x1f\x8b", 422, "gzip"),
        (lambda: b"\0" * 100, 415, "not a volume"),
    ],
    ids=["gzip-of-zeros", "gzip-cut", "nifti-cut", "two-bytes", "zeros"],
)
def test_truncated_and_foreign_streams_are_4xx(client, data, status, word):
    _check(_post(client, data(), "v.nii.gz"), status, word)


# --- DICOM series that lie ------------------------------------------------------------------------


def _text_position() -> list[bytes]:
    """A series whose ImagePositionPatient reads ``abc1\\1\\2`` (pydicom will not write it itself)."""
    files = _dicom(lambda ds: setattr(ds, "ImagePositionPatient", ["1111", "1", "2"]), slices=1)
    return [f.replace(b"1111\\1\\2", b"abc1\\1\\2") for f in files]


def _truncated(data: bytes) -> bytes:
    return data[: len(data) - 700]


def _no_study(ds):
    del ds.StudyInstanceUID


@pytest.mark.parametrize(
    ("files", "status", "word"),
    [
        (lambda: [_truncated(f) for f in _dicom()], 422, BROKEN_DICOM),
        (lambda: [b"\0" * 128 + b"DICM" + b"\xff" * 300], 422, "no pixel data"),
        (lambda: _text_position(), 422, "ImagePositionPatient"),
        (lambda: _dicom(lambda ds: setattr(ds, "Rows", 0)), 422, "no Rows/Columns"),
        (lambda: _dicom(lambda ds: setattr(ds, "Rows", 60000)), 422, "60000"),
        (lambda: _dicom(lambda ds: setattr(ds, "NumberOfFrames", 1_000_000)), 422, "1000000 frames"),
        (lambda: _dicom(lambda ds: setattr(ds, "RescaleSlope", "nan")), 422, "RescaleSlope"),
        (lambda: _dicom(lambda ds: setattr(ds, "Modality", "CT")), 422, "Modality is CT"),
        (lambda: _dicom(lambda ds: setattr(ds, "BitsAllocated", 1)), 422, "bits"),
        (lambda: [b"README", b"\0" * 600], 415, "none of the 2 files sent"),
    ],
    ids=[
        "truncated",
        "garbage-header",
        "position-text",
        "rows-0",
        "rows-60000",
        "million-frames",
        "slope-nan",
        "ct",
        "one-bit",
        "junk-only",
    ],
)
def test_dicom_series_that_lie_are_4xx_in_plain_words(client, files, status, word):
    _check(_post_files(client, files()), status, word)


def test_a_seg_of_a_series_without_study_says_what_is_missing(client):
    files = _dicom(_no_study)
    _check(_post_files(client, files), 200)
    _check(_post_files(client, files, output="dicom-seg"), 422, "lacks StudyInstanceUID")


def test_too_many_files_are_422_before_reading_them(make_client):
    small = make_client(max_volume_slices=4)
    _check(_post_files(small, _dicom(slices=10)), 422, "10 files", "limit is 8 files")


# --- the same broken file gets the same error on every endpoint ---------------------------------------


def _same_everywhere_cases() -> dict[str, bytes]:
    one = vs.dicom_series(vs.synthetic_volume(slices=1)[0])[0]
    ct = pydicom.dcmread(io.BytesIO(one))
    ct.Modality = "CT"
    buffer = io.BytesIO()
    ct.save_as(buffer)
    no_pixels = samples.dicom_bytes(None, shape=(32, 32))
    return {
        "truncated": _truncated(one),
        "garbage-header": b"\0" * 128 + b"DICM" + b"\xff" * 300,
        "ct": buffer.getvalue(),
        "no-pixels": no_pixels,
        "mpeg2": _edit_one(one, _mpeg2),
    }


def _mpeg2(ds):
    ds.file_meta.TransferSyntaxUID = pydicom.uid.MPEG2MPML
    ds.PixelData = pydicom.encaps.encapsulate([b"\0\0\1\xb3 not decoded here"])


def _edit_one(data: bytes, change) -> bytes:
    return vs.edit_series([data], change)[0]


@pytest.mark.parametrize("case", sorted(_same_everywhere_cases()))
def test_the_same_broken_dicom_gets_the_same_error_on_every_endpoint(client, case):
    data = _same_everywhere_cases()[case]
    answers = {}
    for path in ("/classify", "/segment", "/analyze", "/preview", "/volume"):
        response = client.post(path, files={"file": ("scan.dcm", data, "application/dicom")})
        assert 400 <= response.status_code < 500, (path, response.text)
        answers[path] = (response.status_code, response.json()["detail"])
    assert len(set(answers.values())) == 1, answers
    _, detail = answers["/volume"]
    assert detail.startswith("file (scan.dcm): ") and not PYTHON_WORDS.search(detail)


# --- load: the memory budget and the time budget ----------------------------------------------------


def test_volumes_sent_at_once_wait_for_the_budget_or_get_503_never_more(make_client):
    slices, _ = vs.synthetic_volume()
    data = vs.nifti_bytes(slices)
    client = make_client(volume_memory_budget_bytes=80 * 2**20, max_volume_waiting=1, volume_wait_s=30)
    budget = client.app.state.volume_budget
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        responses = list(pool.map(lambda _: _post(client, data, "v.nii.gz"), range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    for response in responses:
        _check(response, response.status_code)
    assert budget.peak <= budget.total and budget.used == 0


def test_a_client_that_hangs_up_gives_its_memory_back(make_client, monkeypatch):
    """The answer is streamed; its lease ends with the stream (or when it is dropped)."""
    client = make_client()
    budget = client.app.state.volume_budget
    given_back = threading.Event()  # the app's thread gives the memory back: wait for that, not for time
    give_back = budget._give_back
    monkeypatch.setattr(budget, "_give_back", lambda amount: (give_back(amount), given_back.set()))
    with client.stream("POST", "/volume", files={"file": ("v.nii.gz", _nifti())}) as response:
        assert response.status_code == 200
        next(response.iter_bytes())  # read a little, then hang up
    assert given_back.wait(30) and budget.used == 0


# --- the largest cases ------------------------------------------------------------------------------


def _volume_at_the_limit() -> bytes:
    """A 512 x 512 x 320 int16 volume (84 M voxels, 160 MiB of voxels): about 950 MiB by the memory
    model, under the 1 GiB per-volume default; gzipped noise-free, it is small to send."""
    volume = np.zeros((320, 512, 512), np.int16)
    volume[:, 64:-64, 96:-96] = 400
    volume[100:140, 200:260, 200:260] = 1600
    return vs.nifti_bytes(volume, spacing=(0.5, 0.5, 0.6))


@pytest.mark.slow
def test_a_volume_at_the_default_limit_is_answered_within_a_gibibyte(client):
    data = _volume_at_the_limit()
    with hs.peak_rss_growth() as growth:
        body = _check(_post(client, data, "v.nii.gz", mask_format="rle"), 200)
    assert body["shape"] == [320, 512, 512]
    assert growth() < 2**30


@pytest.mark.slow
def test_four_volumes_at_the_limit_at_once_stay_within_the_budget(client):
    data = _volume_at_the_limit()
    budget = client.app.state.volume_budget
    with hs.peak_rss_growth() as growth, concurrent.futures.ThreadPoolExecutor(4) as pool:
        responses = list(pool.map(lambda _: _post(client, data, "v.nii.gz", mask_format="rle"), range(4)))
    for response in responses:
        _check(response, response.status_code)
        assert response.status_code in (200, 503)
    assert budget.peak <= budget.total
    assert growth() < budget.total + 2**28


@pytest.mark.slow
def test_a_mask_of_isolated_voxels_stays_within_the_memory_model(make_client, tmp_path):
    """The worst case of the memory model: every other voxel along each axis is tumour (over a
    million separate parts: 4-byte labels over the whole grid; an RLE of single pixels), seen at full
    resolution by tiny models of 256 x 256 input. The process grows by less than the service's own
    estimate for the volume, whose per-voxel term dominates here (4 slices per model call). (The
    mask comes back as NIfTI: this process is also the client, and an RLE of single pixels would be
    held whole by the test client.)"""
    from service.volumes import open_volume
    from service.volumes.budget import volume_memory
    from service.volumes.request import volume_limits
    from tests.service.conftest import build_tiny_models

    client = make_client(models_dir=build_tiny_models(tmp_path / "models", size=256), volume_batch_size=4)
    volume = np.zeros((256, 256, 512), np.uint8)
    volume[::2, ::2, ::2] = 255
    image = nib.Nifti1Image(volume, np.eye(4))
    image.header.set_xyzt_units("mm")
    data = vs.gzip.compress(image.to_bytes(), compresslevel=1)
    settings = client.app.state.settings
    pending = open_volume([("file", data)], volume_limits(settings))
    need = volume_memory(pending, "json", settings.volume_batch_size, 256)
    with hs.peak_rss_growth() as growth:
        response = _post(client, data, "v.nii.gz", postprocess="drop_small")
    assert _check(response, 200)["tumour_voxels"] > 1_000_000
    logger.info(
        "isolated voxels: grew %.0f MiB; the memory model says %.0f MiB", growth() / 2**20, need / 2**20
    )
    assert growth() < need, f"grew {growth() / 2**20:.0f} MiB; the model says {need / 2**20:.0f} MiB"


def test_a_seg_of_a_series_without_slice_thickness_takes_the_step_and_without_spacing_says_so(client):
    thin = _dicom(lambda ds: delattr(ds, "SliceThickness"))
    response = _post_files(client, thin, output="dicom-seg")
    assert response.status_code == 200, response.text
    seg = pydicom.dcmread(io.BytesIO(response.content))
    measures = seg.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence[0]
    assert float(measures.SliceThickness) == pytest.approx(3.0)
    flat = _dicom(lambda ds: delattr(ds, "PixelSpacing"))
    _check(_post_files(client, flat, output="dicom-seg"), 422, "lacks PixelSpacing")
