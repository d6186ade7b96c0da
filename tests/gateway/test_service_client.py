"""gateway/service_client.py against the real service (tiny contract-following models, an API key):
the volume goes as NIfTI with the series' affine and its mask comes back on the same grid; a refused
key is a refusal (the job fails), a service that cannot be reached is a retry."""

from __future__ import annotations

import numpy as np
import pytest

from gateway import series
from gateway.service_client import ServiceRefused, ServiceUnavailable, analyse
from tests.gateway.conftest import study
from tests.gateway.web import answering
from tests.servers import bound_socket, serve_app, service_app
from tests.tiny_models import BRAIN, build_tiny_models

KEY = "gateway-test-key"


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory):
    models = build_tiny_models(tmp_path_factory.mktemp("gateway-models"), rule=BRAIN)  # real LGG slices
    with serve_app(service_app(models, api_key=KEY)) as url:
        yield url


def _flair_volume():
    read = series.analysable(study("client", ("flair",))["flair"])
    return read, read.pixels()


def test_flair_only_and_three_sequences_come_back_on_the_series_grid(keyed_url):
    geometry, flair = _flair_volume()
    answer = analyse(keyed_url, flair, geometry.affine, KEY, 120)
    assert answer.mask.shape == flair.shape and answer.sequences == "FLAIR only"
    assert len(answer.probabilities) == len(flair) and set(answer.models) == {"classifier", "segmenter"}
    assert answer.mask.any() and not answer.mask.all()
    assert answer.tumour_volume_ml == pytest.approx(answer.mask.sum() * 3.0 / 1000, rel=1e-4)
    three = analyse(keyed_url, np.stack([flair, flair, flair], axis=-1), geometry.affine, KEY, 120)
    assert three.sequences == "pre-contrast, FLAIR, post-contrast" and three.mask.shape == flair.shape


def test_a_refused_key_fails_and_an_unreachable_service_is_retried(keyed_url):
    geometry, flair = _flair_volume()
    with pytest.raises(ServiceRefused, match="401"):
        analyse(keyed_url, flair, geometry.affine, "wrong", 120)
    sock = bound_socket()
    with pytest.raises(ServiceUnavailable, match="cannot be reached"):
        analyse(f"http://127.0.0.1:{sock.getsockname()[1]}", flair, geometry.affine, KEY, 120)
    sock.close()


@pytest.mark.parametrize(
    ("status", "outcome"),
    [(503, ServiceUnavailable), (429, ServiceUnavailable), (502, ServiceUnavailable), (504, ServiceUnavailable),
     (500, ServiceRefused), (422, ServiceRefused), (413, ServiceRefused)],
)  # fmt: skip
def test_the_clients_one_retry_policy_decides_and_the_gateway_asks_once(status, outcome):
    """What mri_client.retry tries again is a retry of the job (with the service's Retry-After); the
    client itself sends one request (the job store keeps the retries); a 500 (a defect) fails it."""
    read, flair = _flair_volume()
    with (
        answering(status, {"Retry-After": "7"}, {"detail": "the service's reason"}) as service,
        pytest.raises(outcome, match=f"{status}.*the service's reason") as info,
    ):
        analyse(service.url, flair, read.affine, KEY, 30)
    [(line, headers)] = service.requests
    assert line.startswith("POST /volume?") and "mask_format=nifti" in line and headers["X-API-Key"] == KEY
    if outcome is ServiceUnavailable:
        assert info.value.retry_after == 7
