"""service.volumes.request.answer_volume through the real app: however a request ends (answered as
JSON or as a SEG, refused before or after its memory was leased, cut off), its lease is given back."""

from __future__ import annotations

import pytest

from tests.service import volume_samples as vs


def _series(change=None) -> list[tuple[str, tuple[str, bytes, str]]]:
    files = vs.dicom_series(vs.synthetic_volume(slices=4)[0])
    files = files if change is None else vs.edit_series(files, change)
    return [("files", (f"IM{i}", f, "application/dicom")) for i, f in enumerate(files)]


def _nifti() -> dict:
    return {"file": ("v.nii.gz", vs.nifti_bytes(vs.synthetic_volume()[0]), "application/gzip")}


@pytest.mark.parametrize(
    ("files", "params", "status", "leased"),
    [
        (_nifti, {}, 200, True),  # the streamed JSON answer
        (_series, {"output": "dicom-seg"}, 200, True),  # the SEG
        (_nifti, {"output": "dicom-seg"}, 422, False),  # refused before the lease
        (lambda: _series(lambda ds: delattr(ds, "PixelSpacing")), {"output": "dicom-seg"}, 422, True),
    ],
    ids=["json", "seg", "refused-before", "refused-after"],
)
def test_every_end_gives_the_lease_back(make_client, files, params, status, leased):
    client = make_client()
    budget = client.app.state.volume_budget
    response = client.post("/volume", params=params, files=files())
    assert response.status_code == status, response.text
    assert budget.used == 0 and (budget.peak > 0) is leased


def test_the_seg_answer_carries_its_length_and_summary(client):
    response = client.post("/volume", params={"output": "dicom-seg"}, files=_series())
    assert response.status_code == 200
    assert int(response.headers["content-length"]) == len(response.content)
    assert response.headers["x-skipped-files"] == "0" and int(response.headers["x-tumour-voxels"]) > 0


def test_more_files_than_a_volume_may_hold_are_refused_before_any_is_read(make_client):
    client = make_client(max_volume_slices=2)  # at most 4 files (images and skipped files)
    response = client.post("/volume", files=[("files", (f"f{i}", b"x", "text/plain")) for i in range(5)])
    assert response.status_code == 422 and "5 files; the limit is 4" in response.json()["detail"]
