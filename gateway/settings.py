"""The gateway's settings: environment variables with the prefix ``MRI_GATEWAY_`` (pydantic-settings).

Every default is defined here, once; ``python -m gateway --help`` and docs/integration.md list them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from gateway.destinations import parse_destination, parse_peer

ENV_PREFIX = "MRI_GATEWAY_"


class GatewaySettings(BaseSettings):
    """What the gateway listens on, where it sends, how long it waits and what it keeps."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    ae_title: str = Field("MRI-AI", min_length=1, max_length=16, description="The gateway's own AE title.")
    dicom_host: str = Field("0.0.0.0", description="Address the DICOM listener binds.")
    dicom_port: int = Field(11112, ge=0, le=65535, description="DICOM port (C-STORE SCP, C-ECHO).")
    http_host: str = Field("0.0.0.0", description="Address the HTTP API binds.")
    http_port: int = Field(8090, ge=0, le=65535, description="HTTP API port (jobs, health, metrics).")
    service_url: str = Field("http://127.0.0.1:8000", description="Base URL of the inference service.")
    service_api_key: SecretStr | None = Field(
        None, description="The service's API key (sent as X-API-Key); unset: none."
    )
    service_timeout_s: float = Field(600.0, gt=0, description="Longest wait for one POST /volume answer.")
    destination: str | None = Field(
        None,
        description="Where results go: dicom://AET@host:port (C-STORE) or dicomweb://http://host:port/dicom-web "
        "(STOW-RS); unset: back to the sender (its AE in PEERS, or the DICOMweb server a job pulled from).",
    )
    peers: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict,
        description='Known AEs, AET=host:port[,AET=host:port...] (or JSON {"AET": "host:port"}): where '
        "results of a C-STORE sender go back to.",
    )
    stable_s: float = Field(
        10.0, ge=0, description="A study is complete when no instance of it arrived for this many seconds."
    )
    state_dir: Path = Field(Path("gateway-state"), description="Job store (SQLite), spool and results.")
    workers: int = Field(1, ge=1, le=16, description="Jobs run at once.")
    max_attempts: int = Field(
        8, ge=1, description="Tries of a job whose service or destination is unavailable before it fails."
    )
    backoff_s: float = Field(2.0, gt=0, description="First retry delay; doubled per attempt.")
    backoff_max_s: float = Field(300.0, gt=0, description="Longest retry delay.")
    retention_h: float = Field(
        168.0, gt=0, description="Hours a finished job, its spooled instances and its results are kept."
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

    @field_validator("peers", mode="before")
    @classmethod
    def _peers_text(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if value.strip().startswith("{"):
            return json.loads(value)
        pairs = [item.split("=", 1) for item in value.split(",") if item.strip()]
        if any(len(pair) != 2 for pair in pairs):
            raise ValueError("expected AET=host:port[,AET=host:port...]")
        return {aet.strip(): address.strip() for aet, address in pairs}

    @field_validator("peers")
    @classmethod
    def _peers(cls, value: dict[str, str]) -> dict[str, str]:
        for address in value.values():
            parse_peer(address)
        return value

    @property
    def database(self) -> Path:
        return self.state_dir / "jobs.sqlite"

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"

    @property
    def results_dir(self) -> Path:
        return self.state_dir / "results"


def settings_table() -> list[tuple[str, str, str]]:
    """``(environment variable, default, description)`` of every setting, in declaration order."""
    rows = []
    for name, field in GatewaySettings.model_fields.items():
        default = field.get_default(call_default_factory=True)
        shown = "unset" if default is None else ("{}" if default == {} else str(default))
        rows.append((f"{ENV_PREFIX}{name.upper()}", shown, field.description or ""))
    return rows
