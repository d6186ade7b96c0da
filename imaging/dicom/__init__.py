"""One DICOM layer for the service (``POST /volume``) and the gateway, with one policy.

Reading (:func:`imaging.dicom.series.read_series`, or :func:`~imaging.dicom.image.dicom_image` per
file then :func:`~imaging.dicom.series.dicom_series`), on headers only (no pixel decoded):

- each image: ``Modality`` MR (absent: accepted, no claim either way), a transfer syntax an installed
  pydicom decoder reads (else :class:`~imaging.dicom.errors.UnsupportedDicom`), ``Rows``/``Columns``,
  grey (one sample, ``MONOCHROME1``/``MONOCHROME2``), 8, 16 or 32 bits; its frames placed by their
  own attributes (single-frame) or functional groups (multi-frame, :mod:`imaging.dicom.frames`);
- the series: one ``SeriesInstanceUID``, one ``Rows``/``Columns``, one orientation, one pixel
  spacing; frames ordered along the slice normal, ascending; two frames at one position or a missing
  slice refused (:mod:`imaging.dicom.geometry`);
- **a missing ``PixelSpacing``** (or the slice step of a single slice): the series is read, its
  affine uses unit sizes to find the axes, ``spacing_mm`` is None and ``missing`` names what is
  missing. What needs millimetres refuses it: the SEG (:class:`~imaging.dicom.errors.SegError`),
  and a volume in mL is unknown. Every caller gets this one answer;
- voxels: the modality LUT only (display windows and VOI LUTs never reach the models), ``MONOCHROME1``
  inverted; the stored values when one positive linear rescale covers the series, else float32.

Writing (:func:`imaging.dicom.seg.segmentation`): the one DICOM SEG of a mask on a read series.

Every refusal is a :class:`~imaging.dicom.errors.DicomError` (a ValueError) whose message names the
file or frame (the label the caller gave) and says why, without patient data.

Use (``service/volumes/dicom_series.py`` reads uploads this way; a gateway makes the same calls)::

    series = read_series(datasets)          # whole datasets or headers only, in any order
    voxels = series.pixels()                 # (slices, rows, columns), slice order (or pixels(decoder))
    # POST /volume with voxels and series.affine: the answer's mask is in the same slice order
    seg = segmentation(series, mask, model_name, model_version, SegUids(series_uid, instance_uid))

The same series and mask give the same SEG on both sides, but for its UIDs and creation times.
"""
