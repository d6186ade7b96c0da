"""The DICOM node: a C-STORE SCP and C-ECHO (Verification) with pynetdicom.

Called AE title ``MRI_GATEWAY_AE_TITLE`` on ``MRI_GATEWAY_DICOM_PORT``. Every storage SOP class is
accepted (a series that is not a brain MR becomes a job that fails with that reason, so a routing
mistake shows in the job list), in the transfer syntaxes the gateway and the service decode:
implicit/explicit VR little endian, deflated, RLE, JPEG baseline/extended/lossless, JPEG-LS and
JPEG 2000. Each instance is written to the spool exactly as received (flushed to disk) and counted
in its series' job *before* the success status goes back: whatever a sender was told is stored,
is. A write that fails answers 0xA700 (out of resources), so the sender keeps the instance.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)
from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification

from gateway.logs import tag

logger = logging.getLogger(__name__)

TRANSFER_SYNTAXES = [
    ExplicitVRLittleEndian, ImplicitVRLittleEndian, DeflatedExplicitVRLittleEndian, RLELossless,
    JPEGBaseline8Bit, JPEGExtended12Bit, JPEGLossless, JPEGLosslessSV1, JPEGLSLossless, JPEGLSNearLossless,
    JPEG2000Lossless, JPEG2000,
]  # fmt: skip
SUCCESS, OUT_OF_RESOURCES, CANNOT_UNDERSTAND = 0x0000, 0xA700, 0xC000

#: ``(study UID, series UID, SOP instance UID, Part 10 bytes, calling AE title) -> None``; raises
#: when the instance could not be kept.
OnInstance = Callable[[str, str, str, bytes, str], None]


class DicomListener:
    """The C-STORE/C-ECHO server; :meth:`start` binds and serves in background threads."""

    def __init__(self, ae_title: str, host: str, port: int, on_instance: OnInstance) -> None:
        self.ae = AE(ae_title=ae_title)
        self.ae.require_called_aet = True
        self.ae.maximum_pdu_size = 0  # no limit on what the sender may send per PDU
        self.ae.add_supported_context(Verification)
        for context in AllStoragePresentationContexts:
            self.ae.add_supported_context(context.abstract_syntax, TRANSFER_SYNTAXES)
        self.address = (host, port)
        self.on_instance = on_instance
        self.server = None

    def start(self) -> None:
        handlers = [(evt.EVT_C_STORE, self._on_store), (evt.EVT_C_ECHO, self._on_echo)]
        self.server = self.ae.start_server(self.address, block=False, evt_handlers=handlers)
        logger.info("DICOM listener %s on %s:%d", self.ae.ae_title, *self.port_bound())

    def port_bound(self) -> tuple[str, int]:
        return self.server.server_address[:2] if self.server else self.address

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def _on_echo(self, event) -> int:
        logger.info("C-ECHO from %s", event.assoc.requestor.ae_title)
        return SUCCESS

    def _on_store(self, event) -> int:
        calling = str(event.assoc.requestor.ae_title).strip()
        try:
            ds = event.dataset
            study, series, sop = str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID)
        except Exception as exc:  # noqa: BLE001 - no UIDs: nothing to file it under
            logger.warning(
                "C-STORE from %s refused: the instance has no study/series/instance UIDs (%s)",
                calling,
                type(exc).__name__,
            )
            return CANNOT_UNDERSTAND
        try:
            self.on_instance(study, series, sop, event.encoded_dataset(include_meta=True), calling)
        except Exception:  # not kept: the sender is told so and keeps it
            logger.exception("C-STORE from %s: instance of series %s could not be kept", calling, tag(series))
            return OUT_OF_RESOURCES
        return SUCCESS
