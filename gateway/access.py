"""Who may talk to the gateway and where it may reach: deny by default.

- **DICOM associations** (:meth:`Gatekeeper.refuse`): only from calling AE titles it knows, the
  AEs of ``MRI_GATEWAY_PEERS`` and ``MRI_GATEWAY_CALLING_AES`` (``AET`` or ``AET@host``: then only
  from that address; ``*``: any caller), and only to its own called AE title; refused with the
  standard A-ASSOCIATE-RJ (rejected-permanent, service-user: calling / called AE title not
  recognised). With no known AE at all, every association is refused (a warning at start says so).
- **DICOMweb servers** (``MRI_GATEWAY_DICOMWEB_SERVERS``, by name): the only servers ``POST /jobs``
  pulls from, each with its credentials (HTTP basic or a bearer token) and CA bundle, used for
  QIDO-RS, WADO-RS and STOW-RS.
- **Destinations** (:meth:`Gatekeeper.destination`): results go only to ``MRI_GATEWAY_DESTINATION``,
  a peer (``dicom://AET@host:port`` of ``MRI_GATEWAY_PEERS``) or a configured DICOMweb server.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator

ANY_CALLER = "*"
#: A-ASSOCIATE-RJ (result, source, diagnostic): rejected-permanent by the service user because the
#: calling AE title (or the called one) is not recognised.
CALLING_AE_NOT_RECOGNISED = (0x01, 0x01, 0x03)
CALLED_AE_NOT_RECOGNISED = (0x01, 0x01, 0x07)
#: rejected-transient by the service provider (presentation): local limit exceeded.
LOCAL_LIMIT_EXCEEDED = (0x02, 0x03, 0x02)


@dataclass(frozen=True)
class Caller:
    """An allowed calling AE title, and the address it must call from (None: any)."""

    ae_title: str
    host: str | None = None

    @classmethod
    def parse(cls, text: str) -> Caller:
        title, _, host = text.strip().partition("@")
        if not 0 < len(title.strip()) <= 16 or (_ and not host.strip()):
            raise ValueError(f"{text!r}: expected AET or AET@host (an AE title of 1 to 16 characters)")
        return cls(title.strip(), host.strip() or None)

    def matches(self, address: str) -> bool:
        """True when ``address`` (the caller's IP) is this rule's host or one of its addresses."""
        if self.host is None:
            return True
        try:
            return ipaddress.ip_address(address) in _addresses(self.host)
        except ValueError:
            return False


def _addresses(host: str) -> set:
    try:
        return {ipaddress.ip_address(host)}
    except ValueError:
        pass
    try:
        return {ipaddress.ip_address(info[4][0]) for info in socket.getaddrinfo(host, None)}
    except OSError:
        return set()


class DicomwebServer(BaseModel):
    """One DICOMweb server the gateway may pull from and store to, with its credentials."""

    url: str = Field(description="Base URL, e.g. https://pacs/dicom-web")
    username: str | None = None
    password: SecretStr | None = None
    token: SecretStr | None = Field(None, description="Bearer token (instead of username and password)")
    ca_bundle: Path | None = Field(None, description="CA certificates (PEM) that verify an https server")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: expected an http:// or https:// URL")
        return value.rstrip("/")

    @model_validator(mode="after")
    def _credentials(self) -> DicomwebServer:
        if self.token is not None and (self.username or self.password):
            raise ValueError("give a bearer token or a username and password, not both")
        if (self.username is None) != (self.password is None):
            raise ValueError("basic authentication needs both username and password")
        return self


@dataclass(frozen=True)
class Refusal:
    """Why an association is refused, and the A-ASSOCIATE-RJ codes that say it."""

    reason: str
    codes: tuple[int, int, int]


class Gatekeeper:
    """The access rules of one gateway's settings."""

    def __init__(self, settings) -> None:
        self.settings = settings
        rules = [Caller(title) for title in settings.peers] + list(settings.calling_aes)
        self.any_caller = any(rule.ae_title == ANY_CALLER for rule in rules)
        self.callers = [rule for rule in rules if rule.ae_title != ANY_CALLER]

    def refuse(self, calling_ae: str, called_ae: str, address: str) -> Refusal | None:
        """None when the association may go on, else why not."""
        if called_ae.strip() != self.settings.ae_title:
            return Refusal(
                f"called AE title {called_ae.strip()!r} is not this gateway's", CALLED_AE_NOT_RECOGNISED
            )
        if self.any_caller:
            return None
        known = [rule for rule in self.callers if rule.ae_title == calling_ae.strip()]
        if not known:
            return Refusal(f"calling AE title {calling_ae.strip()!r} is not known", CALLING_AE_NOT_RECOGNISED)
        if not any(rule.matches(address) for rule in known):
            return Refusal(
                f"calling AE title {calling_ae.strip()!r} is not allowed from {address}",
                CALLING_AE_NOT_RECOGNISED,
            )
        return None

    def destinations(self) -> dict[str, str]:
        """``name -> destination`` of every place results may go."""
        from gateway.destinations import DICOMWEB_SCHEME, peer_destination

        out = {
            name: f"{DICOMWEB_SCHEME}{server.url}" for name, server in self.settings.dicomweb_servers.items()
        }
        out |= {aet: peer_destination(aet, address) for aet, address in self.settings.peers.items()}
        if self.settings.destination:
            out["default"] = self.settings.destination
        return out

    def destination(self, requested: str) -> str:
        """The destination ``requested`` names (a name of :meth:`destinations`, or one of its values);
        ValueError when it is not configured."""
        known = self.destinations()
        if requested in known:
            return known[requested]
        if requested.rstrip("/") in known.values():
            return requested.rstrip("/")
        raise ValueError(
            f"{requested!r} is not a configured destination (MRI_GATEWAY_DESTINATION, MRI_GATEWAY_PEERS, "
            f"MRI_GATEWAY_DICOMWEB_SERVERS): one of {sorted(known)}"
        )

    def server(self, name_or_url: str) -> DicomwebServer | None:
        """The configured DICOMweb server of that name or base URL."""
        servers = self.settings.dicomweb_servers
        if name_or_url in servers:
            return servers[name_or_url]
        return next((s for s in servers.values() if s.url == name_or_url.rstrip("/")), None)
