"""What goes back to the PACS for one analysed series: a DICOM SEG and a DICOM SR (TID 1500), both
new series of the source study (highdicom).

**SEG**: the one SEG of the shared DICOM layer (:func:`imaging.dicom.seg.segmentation`, the
service's own ``POST /volume?output=dicom-seg``), made by the segmenter (name and version): one
binary segment "FLAIR abnormality", one frame per source frame, empty ones included.

**SR** (Comprehensive 3D SR, TID 1500 Measurement Report, procedure LOINC 24590-2 "Brain MRI"):
one volumetric measurement group referencing the SEG's segment 1 and the source series, with
  - Volume (SCT 118565006) in mL: SEG voxels x voxel volume (slice step x pixel spacing);
  - Slices with tumour (``99BMT`` BMT001), unit ``{slices}``;
  - Highest slice tumour probability (``99BMT`` BMT002), unit 1: the classifier's highest
    ``tumour_probability`` over the slices;
  - a qualitative evaluation Input sequences (``99BMT`` BMT003): three sequences or FLAIR only;
each measurement naming its model (algorithm name and version: the segmenter for the mask figures,
the classifier for the probability). ``99BMT`` is this project's local coding scheme (DICOM's
``99`` prefix for private schemes).
"""

from __future__ import annotations

from dataclasses import dataclass

import highdicom as hd
import numpy as np
import pydicom
from pydicom.sr.codedict import codes

from gateway.selection import FLAIR_ONLY, THREE
from imaging.dicom.seg import MANUFACTURER, SEGMENT_LABEL, SegUids, segmentation
from imaging.dicom.series import DicomSeries

SR_SERIES_NUMBER = 9902
SCHEME = "99BMT"
SLICES_WITH_TUMOUR = hd.sr.CodedConcept("BMT001", SCHEME, "Slices with tumour")
HIGHEST_PROBABILITY = hd.sr.CodedConcept("BMT002", SCHEME, "Highest slice tumour probability")
INPUT_SEQUENCES = hd.sr.CodedConcept("BMT003", SCHEME, "Input sequences")
SEQUENCE_CODES = {
    THREE: hd.sr.CodedConcept("BMT010", SCHEME, THREE),
    FLAIR_ONLY: hd.sr.CodedConcept("BMT011", SCHEME, FLAIR_ONLY),
}
MILLILITRE = hd.sr.CodedConcept("mL", "UCUM", "milliliter")
SLICES_UNIT = hd.sr.CodedConcept("{slices}", "UCUM", "slices")
NO_UNIT = hd.sr.CodedConcept("1", "UCUM", "no units")


@dataclass(frozen=True)
class Model:
    name: str
    version: str


@dataclass(frozen=True)
class Findings:
    """The figures of one analysed series (``mask``: ``(slices, rows, columns)`` 0/1 in slice order)."""

    mask: np.ndarray
    probabilities: list[float]
    sequences: str
    classifier: Model
    segmenter: Model

    def summary(self, series: DicomSeries) -> dict:
        """The job's result figures; the volume in mL from the series' voxel size (the gateway reads
        only series that give it: :func:`gateway.series.analysable`)."""
        voxels = int(self.mask.sum())
        voxel_ml = float(np.prod(series.spacing_mm)) / 1000.0
        return {
            "tumour_voxels": voxels,
            "tumour_volume_ml": round(voxels * voxel_ml, 6),
            "tumour_slices": int((self.mask.reshape(len(self.mask), -1).sum(axis=1) > 0).sum()),
            "highest_tumour_probability": max(self.probabilities, default=0.0),
            "sequences": self.sequences,
            "models": {
                "classifier": {"name": self.classifier.name, "version": self.classifier.version},
                "segmenter": {"name": self.segmenter.name, "version": self.segmenter.version},
            },
        }


@dataclass(frozen=True)
class ResultUids:
    """UIDs chosen once per job, so a repeated send carries the same instances."""

    seg_series: str
    seg_instance: str
    sr_series: str
    sr_instance: str

    @classmethod
    def new(cls) -> ResultUids:
        return cls(hd.UID(), hd.UID(), hd.UID(), hd.UID())


def measurement_report(
    series: DicomSeries, findings: Findings, seg: pydicom.Dataset, uids: ResultUids
) -> hd.sr.Comprehensive3DSR:
    """The TID 1500 measurement report of ``findings``, referencing ``seg``."""
    summary = findings.summary(series)
    source_series = str(series.datasets[0].SeriesInstanceUID)
    segmenter = hd.sr.AlgorithmIdentification(
        name=findings.segmenter.name, version=findings.segmenter.version
    )
    classifier = hd.sr.AlgorithmIdentification(
        name=findings.classifier.name, version=findings.classifier.version
    )
    measurements = [
        hd.sr.Measurement(
            name=codes.SCT.Volume, value=summary["tumour_volume_ml"], unit=MILLILITRE, algorithm_id=segmenter
        ),
        hd.sr.Measurement(
            name=SLICES_WITH_TUMOUR, value=summary["tumour_slices"], unit=SLICES_UNIT, algorithm_id=segmenter
        ),
        hd.sr.Measurement(
            name=HIGHEST_PROBABILITY,
            value=summary["highest_tumour_probability"],
            unit=NO_UNIT,
            algorithm_id=classifier,
        ),
    ]
    group = hd.sr.VolumetricROIMeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=hd.UID(), identifier=SEGMENT_LABEL),
        referenced_segment=hd.sr.ReferencedSegment(
            sop_class_uid=seg.SOPClassUID,
            sop_instance_uid=seg.SOPInstanceUID,
            segment_number=1,
            source_series=hd.sr.SourceSeriesForSegmentation(source_series),
        ),
        finding_type=codes.SCT.Neoplasm,
        finding_category=codes.SCT.MorphologicallyAbnormalStructure,
        algorithm_id=segmenter,
        measurements=measurements,
        qualitative_evaluations=[
            hd.sr.QualitativeEvaluation(INPUT_SEQUENCES, SEQUENCE_CODES[findings.sequences]),
        ],
    )
    observer = hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=hd.UID(),
            name=MANUFACTURER,
            model_name=f"{findings.segmenter.name} {findings.segmenter.version}",
        ),
    )
    report = hd.sr.MeasurementReport(
        observation_context=hd.sr.ObservationContext(observer_device_context=observer),
        procedure_reported=codes.LN.BrainMRI,
        imaging_measurements=[group],
    )
    sr = hd.sr.Comprehensive3DSR(
        evidence=[seg],
        content=report,
        series_instance_uid=uids.sr_series,
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=uids.sr_instance,
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        series_description="FLAIR abnormality measurements (automatic)",
    )
    scheme = pydicom.Dataset()
    scheme.CodingSchemeDesignator, scheme.CodingSchemeName = SCHEME, "brain-mri-tumour local codes"
    sr.CodingSchemeIdentificationSequence = [scheme]
    return sr


def build(
    series: DicomSeries, findings: Findings, uids: ResultUids
) -> tuple[pydicom.Dataset, pydicom.Dataset]:
    """``(SEG, SR)`` of one analysed series."""
    segmenter = findings.segmenter
    seg = segmentation(
        series, findings.mask, segmenter.name, segmenter.version, SegUids(uids.seg_series, uids.seg_instance)
    )
    return seg, measurement_report(series, findings, seg, uids)
