"""Who may talk to the gateway: calling AE titles (and addresses) it knows, its own called AE title,
the disk watermark, DICOM TLS with a certificate made here (both ways), each association in the
audit; DICOMweb credentials sent as configured. The gateway's real DICOM listener in this process,
pynetdicom as the caller."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from gateway import dicomweb, states
from gateway.access import (
    CALLED_AE_NOT_RECOGNISED,
    CALLING_AE_NOT_RECOGNISED,
    LOCAL_LIMIT_EXCEEDED,
    DicomwebServer,
)
from gateway.settings import GatewaySettings
from gateway.tls import client_context
from tests.gateway.conftest import push, run_jobs, study, wait_for
from tests.gateway.pacs import make_certificates, store_scp
from tests.gateway.web import answering


def _associate(port: int, calling: str = "SCANNER", called: str = "MRI-AI", tls=None):
    ae = AE(ae_title=calling)
    ae.add_requested_context(Verification)
    return ae.associate("127.0.0.1", port, ae_title=called, tls_args=(tls, "localhost") if tls else None)


def _rejection(assoc) -> tuple[int, int, int]:
    primitive = assoc.acceptor.primitive
    return primitive.result, primitive.result_source, primitive.diagnostic


def _echo_ok(assoc) -> bool:
    try:
        return assoc.is_established and assoc.send_c_echo().Status == 0
    finally:
        if assoc.is_established:
            assoc.release()


@pytest.mark.parametrize(
    ("settings", "calling", "called", "codes"),
    [
        ({"calling_aes": "SCANNER"}, "STRANGER", "MRI-AI", CALLING_AE_NOT_RECOGNISED),
        ({"calling_aes": "SCANNER@10.9.9.9"}, "SCANNER", "MRI-AI", CALLING_AE_NOT_RECOGNISED),
        (
            {"calling_aes": "", "peers": {}},
            "SCANNER",
            "MRI-AI",
            CALLING_AE_NOT_RECOGNISED,
        ),  # none known: none
        ({"calling_aes": "SCANNER"}, "SCANNER", "SOMEONE-ELSE", CALLED_AE_NOT_RECOGNISED),
        ({"calling_aes": "SCANNER", "min_free_disk_mb": 10**9}, "SCANNER", "MRI-AI", LOCAL_LIMIT_EXCEEDED),
    ],
    ids=["unknown-ae", "known-ae-wrong-address", "nobody-known", "wrong-called-ae", "disk-watermark"],
)
def test_associations_are_refused_with_the_standard_rejection_and_audited(
    local_gateway, settings, calling, called, codes
):
    gateway = local_gateway(**settings)
    assoc = _associate(gateway.listener.port_bound()[1], calling, called)
    assert assoc.is_rejected and _rejection(assoc) == codes
    [record] = gateway.audit.tail()
    assert record["event"] == "association" and record["outcome"] == "refused"
    assert record["calling_ae"] == calling and record["address"] == "127.0.0.1" and record["reason"]
    assert gateway.metrics.associations.labels("refused")._value.get() == 1


@pytest.mark.parametrize(
    "settings",
    [{"calling_aes": "SCANNER"}, {"calling_aes": "SCANNER@127.0.0.1"}, {"calling_aes": "*"},
     {"calling_aes": "", "peers": {"SCANNER": "127.0.0.1:104"}}],
    ids=["by-title", "by-title-and-address", "anyone", "a-peer"],
)  # fmt: skip
def test_known_callers_are_accepted_and_audited(local_gateway, settings):
    gateway = local_gateway(**settings)
    assert _echo_ok(_associate(gateway.listener.port_bound()[1]))
    [record] = wait_for(gateway.audit.tail, 10, "the association's audit record")
    assert record["outcome"] == "released" and record["instances"] == 0


def test_the_audit_names_studies_and_series_by_hash_only(local_gateway):
    gateway = local_gateway()
    flair = study("audit", ["flair"])["flair"]
    push(flair, gateway.listener.port_bound()[1])
    [record] = wait_for(gateway.audit.tail, 10, "the association's audit record")
    assert record["instances"] == len(flair) and record["tls"] is False
    text = gateway.settings.audit_path.read_text()
    for uid in (
        flair[0].StudyInstanceUID,
        flair[0].SeriesInstanceUID,
        flair[0].SOPInstanceUID,
        flair[0].PatientID,
    ):
        assert str(uid) not in text
    assert record["studies"] == [
        f"#{__import__('hashlib').sha256(flair[0].StudyInstanceUID.encode()).hexdigest()[:12]}"
    ]


def test_dicom_tls_with_the_tests_certificate_and_only_with_it(local_gateway, tmp_path, tiny_service_url):
    certs = make_certificates(tmp_path / "certs")
    with store_scp(ssl_context=_server_context(certs)) as pacs:
        gateway = local_gateway(
            tls_cert=certs.server_cert, tls_key=certs.server_key, tls_ca=certs.ca,
            service_url=tiny_service_url, destination=f"dicoms://PACS@localhost:{pacs.port}",
        )  # fmt: skip
        port = gateway.listener.port_bound()[1]
        trusted = client_context(certs.client_cert, certs.client_key, certs.ca)
        assert _echo_ok(_associate(port, tls=trusted))
        assert not _associate(port).is_established, "a plain association to a TLS listener"
        anonymous = client_context(None, None, certs.ca)
        assert not _associate(port, tls=anonymous).is_established, "no client certificate (mutual TLS)"

        flair = study("tls", ["flair"])["flair"]
        ae = AE(ae_title="SCANNER")
        ae.add_requested_context(flair[0].SOPClassUID, flair[0].file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", port, ae_title="MRI-AI", tls_args=(trusted, "localhost"))
        assert all(assoc.send_c_store(ds).Status == 0 for ds in flair)
        assoc.release()
        [job] = run_jobs(gateway)
        assert job.state == states.SENT, job  # and back over TLS to the dicoms:// destination
        assert len(pacs.of("SEG")) == 1 and len(pacs.of("SR")) == 1
    records = wait_for(
        lambda: [r for r in gateway.audit.tail() if r["event"] == "association"], 10, "records"
    )
    assert all(r["tls"] for r in records)


def _server_context(certs):
    from gateway.tls import server_context

    return server_context(certs.server_cert, certs.server_key, None)


def test_settings_refuse_an_open_api_without_a_token_and_half_a_tls_setting(tmp_path):
    with pytest.raises(ValidationError, match="needs MRI_GATEWAY_API_TOKEN"):
        GatewaySettings(http_host="0.0.0.0")
    assert GatewaySettings(http_host="0.0.0.0", api_token="t").api_token.get_secret_value() == "t"
    with pytest.raises(ValidationError, match="both MRI_GATEWAY_TLS_CERT and MRI_GATEWAY_TLS_KEY"):
        GatewaySettings(tls_cert=tmp_path / "cert.pem")
    with pytest.raises(ValidationError, match="expected AET or AET@host"):
        GatewaySettings(calling_aes="A-TITLE-LONGER-THAN-16")
    with pytest.raises(ValidationError, match="not both"):
        GatewaySettings(
            dicomweb_servers='{"PACS": {"url": "http://p", "token": "t", "username": "u", "password": "p"}}'
        )
    servers = GatewaySettings(dicomweb_servers="PACS=http://pacs:8042/dicom-web/").dicomweb_servers
    assert servers["PACS"].url == "http://pacs:8042/dicom-web"


@pytest.mark.parametrize(
    ("server", "authorization"),
    [
        (DicomwebServer(url="http://x", token="secret-token"), "Bearer secret-token"),
        (DicomwebServer(url="http://x", username="gateway", password="pw"), "Basic Z2F0ZXdheTpwdw=="),
        (DicomwebServer(url="http://x"), None),
    ],
    ids=["bearer", "basic", "none"],
)
def test_dicomweb_credentials_go_with_every_request(server, authorization):
    with answering(
        200, body=[{"0020000E": {"vr": "UI", "Value": ["1.2.3"]}, "00201209": {"vr": "IS", "Value": [12]}}]
    ) as pacs:
        configured = server.model_copy(update={"url": pacs.url})
        assert dicomweb.series_of_study(configured, "1.2") == {"1.2.3": 12}
        [(line, headers)] = pacs.requests
        assert line.startswith("GET /studies/1.2/series") and headers.get("Authorization") == authorization
        pacs.status = 401
        with pytest.raises(dicomweb.DicomwebRefused, match="HTTP 401"):
            dicomweb.series_of_study(configured, "1.2")


def test_an_instance_without_its_uids_is_refused_counted_and_audited(local_gateway):
    import copy

    gateway = local_gateway()
    flair = study("no-uids", ["flair"])["flair"]
    broken = copy.deepcopy(flair[0])
    del broken.SeriesInstanceUID
    ae = AE(ae_title="SCANNER")
    ae.add_requested_context(broken.SOPClassUID, broken.file_meta.TransferSyntaxUID)
    assoc = ae.associate("127.0.0.1", gateway.listener.port_bound()[1], ae_title="MRI-AI")
    assert assoc.send_c_store(broken).Status == 0xC000  # cannot understand: nothing to file it under
    assert assoc.send_c_store(flair[1]).Status == 0
    assoc.release()
    [record] = wait_for(gateway.audit.tail, 10, "the association's audit record")
    assert record["refused_instances"] == 1 and record["instances"] == 1
    assert gateway.metrics.refused._value.get() == 1 and gateway.metrics.instances._value.get() == 1
