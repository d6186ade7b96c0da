"""The gateway's settings: environment variables with the prefix ``MRI_GATEWAY_`` (pydantic-settings).

Every default is defined here, once; ``python -m gateway --help`` lists them and
docs/gateway-settings.md is generated from them (``python -m scripts.settings_doc``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway.access import Caller, DicomwebServer
from gateway.destinations import parse_destination, parse_peer

ENV_PREFIX = "MRI_GATEWAY_"
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class GatewaySettings(BaseSettings):
    """What the gateway listens on, who may talk to it, where it sends, how long it waits and what it keeps."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    ae_title: str = Field("MRI-AI", min_length=1, max_length=16, description="The gateway's own AE title.")
    dicom_host: str = Field("0.0.0.0", description="Address the DICOM listener binds.")
    dicom_port: int = Field(11112, ge=0, le=65535, description="DICOM port (C-STORE SCP, C-ECHO).")
    http_host: str = Field(
        "127.0.0.1",
        description="Address the HTTP API binds; any other than loopback needs MRI_GATEWAY_API_TOKEN.",
    )
    http_port: int = Field(8090, ge=0, le=65535, description="HTTP API port (jobs, health, metrics, audit).")
    api_token: SecretStr | None = Field(
        None,
        description="Bearer token of the HTTP API (Authorization: Bearer ...) for every path but /health; "
        "unset: no authentication, allowed only while the API binds loopback.",
    )
    calling_aes: Annotated[list[Caller], NoDecode] = Field(
        default_factory=list,
        description="Calling AE titles allowed to associate, besides the AEs of MRI_GATEWAY_PEERS: AET or "
        "AET@host (then only from that address), comma-separated; * allows any caller. Others are refused "
        "(A-ASSOCIATE-RJ, calling AE title not recognised).",
    )
    tls_cert: Path | None = Field(
        None, description="PEM certificate of the DICOM listener: with MRI_GATEWAY_TLS_KEY, DICOM TLS only."
    )
    tls_key: Path | None = Field(None, description="PEM private key of MRI_GATEWAY_TLS_CERT.")
    tls_ca: Path | None = Field(
        None,
        description="PEM CA certificates: callers must present a certificate they signed (mutual TLS), and "
        "dicoms:// destinations are verified with them.",
    )
    dicomweb_servers: Annotated[dict[str, DicomwebServer], NoDecode] = Field(
        default_factory=dict,
        description='DICOMweb servers POST /jobs may pull from, by name, JSON: {"PACS": {"url": '
        '"https://pacs/dicom-web", "username": ..., "password": ...}} (or "token": a bearer token; '
        '"ca_bundle": a PEM path; or just the URL). Their credentials serve QIDO-RS, WADO-RS and STOW-RS.',
    )
    service_url: str = Field("http://127.0.0.1:8000", description="Base URL of the inference service.")
    service_api_key: SecretStr | None = Field(
        None, description="The service's API key (sent as X-API-Key); unset: none."
    )
    service_timeout_s: float = Field(600.0, gt=0, description="Longest wait for one POST /volume answer.")
    destination: str | None = Field(
        None,
        description="Where results go: dicom://AET@host:port (C-STORE), dicoms://... (C-STORE over TLS) or "
        "dicomweb://http://host:port/dicom-web (STOW-RS); unset: back to the sender (its AE in PEERS, or "
        "the DICOMweb server a job pulled from).",
    )
    peers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Known AEs, AET=host:port[,AET=host:port...] (or JSON {"AET": "host:port"}): allowed to '
        "associate, and where results of their series go back to.",
    )
    secondary_capture: bool = Field(
        False,
        description="Also send a secondary-capture series: the FLAIR slices with the outline burned in "
        "(for viewers without DICOM SEG support).",
    )
    stable_s: float = Field(
        10.0, ge=0, description="A study is complete when no instance of it arrived for this many seconds."
    )
    incomplete_wait_s: float = Field(
        600.0,
        ge=0,
        description="How long a series with instances missing (a gap, instance numbers, an aborted "
        "association, fewer than the server lists) waits for them after its last instance, then fails.",
    )
    check_instance_numbers: bool = Field(
        True,
        description="A series whose instance numbers do not run from 1 without a hole waits for the missing "
        "ones; false for scanners that number instances across a study.",
    )
    state_dir: Path = Field(Path("gateway-state"), description="Job store (SQLite), spool, results, audit.")
    workers: int = Field(1, ge=1, le=16, description="Jobs run at once.")
    retry_horizon_h: float = Field(
        24.0,
        gt=0,
        description="Hours a job whose service, destination or DICOMweb server is unavailable is retried "
        "(from its first try), then it fails.",
    )
    backoff_s: float = Field(2.0, gt=0, description="First retry delay; doubled per attempt.")
    backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay.")
    retention_h: float = Field(
        168.0,
        gt=0,
        description="Hours a finished job and its results are kept (received instances go when their study's "
        "jobs are finished, failed ones' with the job).",
    )
    min_free_disk_mb: int = Field(
        1024,
        ge=0,
        description="Free space (MiB) under MRI_GATEWAY_STATE_DIR below which new associations are refused "
        "(A-ASSOCIATE-RJ, transient, local limit exceeded) and /health says so.",
    )
    flair_pattern: str | None = Field(
        None,
        description="Regular expression (case-insensitive) on SeriesDescription / ProtocolName / SequenceName "
        "that marks the FLAIR series, replacing the built-in rules (docs/integration.md).",
    )
    pre_contrast_pattern: str | None = Field(
        None, description="Regular expression replacing the built-in pre-contrast name rule."
    )
    post_contrast_pattern: str | None = Field(
        None, description="Regular expression replacing the built-in post-contrast name rule."
    )
    sequences: str = Field(
        "auto",
        pattern="^(auto|flair)$",
        description="auto: three sequences when pre- and post-contrast share the FLAIR grid, else FLAIR only; "
        "flair: always FLAIR only.",
    )
    poll_s: float = Field(
        0.2, gt=0, description="How often the scheduler looks for stable studies and due jobs."
    )
    log_level: str = Field("INFO", description="Log level (DEBUG logs unhashed UIDs, never patient data).")

    @field_validator("destination")
    @classmethod
    def _destination(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        parse_destination(value)
        return value

    @field_validator("peers", "dicomweb_servers", mode="before")
    @classmethod
    def _mapping_text(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str) and value.strip().startswith("{"):
            value = json.loads(value)
        elif isinstance(value, str):
            pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
            if any(len(pair) != 2 for pair in pairs):
                raise ValueError("expected NAME=value[,NAME=value...] or a JSON object")
            value = {name.strip(): address.strip() for name, address in pairs}
        if info.field_name == "dicomweb_servers" and isinstance(value, dict):
            return {name: {"url": s} if isinstance(s, str) else s for name, s in value.items()}
        return value

    @field_validator("calling_aes", mode="before")
    @classmethod
    def _callers(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [Caller.parse(item) for item in value.split(",") if item.strip()]
        return [Caller.parse(v) if isinstance(v, str) else v for v in value]

    @field_validator("peers")
    @classmethod
    def _peers(cls, value: dict[str, str]) -> dict[str, str]:
        for address in value.values():
            parse_peer(address)
        return value

    @model_validator(mode="after")
    def _secure(self) -> GatewaySettings:
        if self.http_host not in LOOPBACK and self.api_token is None:
            raise ValueError(
                f"MRI_GATEWAY_HTTP_HOST={self.http_host} needs MRI_GATEWAY_API_TOKEN: the job API is "
                "unauthenticated only on loopback (127.0.0.1)"
            )
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("DICOM TLS needs both MRI_GATEWAY_TLS_CERT and MRI_GATEWAY_TLS_KEY")
        for path in (self.tls_cert, self.tls_key, self.tls_ca):
            if path is not None and not path.is_file():
                raise ValueError(f"{path}: no such file")
        return self

    @property
    def database(self) -> Path:
        return self.state_dir / "jobs.sqlite"

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"

    @property
    def results_dir(self) -> Path:
        return self.state_dir / "results"

    @property
    def audit_path(self) -> Path:
        return self.state_dir / "audit.jsonl"


def settings_table() -> list[tuple[str, str, str]]:
    """``(environment variable, default, description)`` of every setting, in declaration order."""
    rows = []
    for name, field in GatewaySettings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "unset" if default is None else ("none" if default in ({}, []) else str(default))
        rows.append((f"{ENV_PREFIX}{name.upper()}", shown, field.description or ""))
    return rows
