"""gateway/service_client.py against the real service (tiny contract-following models, an API key):
the volume goes as NIfTI with the series' affine and its mask comes back on the same grid; a refused
key is a refusal (the job fails), a service that cannot be reached is a retry."""

from __future__ import annotations

import numpy as np
import pytest

from gateway import series
from gateway.service_client import ServiceRefused, ServiceUnavailable, analyse
from tests.gateway.conftest import study
from tests.servers import bound_socket, serve_app, service_app
from tests.tiny_models import BRAIN, build_tiny_models

KEY = "gateway-test-key"


@pytest.fixture(scope="module")
def keyed_url(tmp_path_factory):
    models = build_tiny_models(tmp_path_factory.mktemp("gateway-models"), rule=BRAIN)  # real LGG slices
    with serve_app(service_app(models, api_key=KEY)) as url:
        yield url


def _flair_volume():
    geometry = series.geometry(study("client", ("flair",))["flair"])
    return geometry, series.pixels(geometry)


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
