"""What the service and the gateway (and training, for its data) both do to images, owned once.

- :mod:`imaging.dicom`: one DICOM series -> checked headers, frames in slice order, the voxel
  affine and the voxels; the DICOM SEG of a mask on that series. One policy for every caller.

Below ``contract/`` (the model-file contract may use it, never the other way round), beside
``service/``, ``gateway/`` and ``training/``, which import it and never each other. pydicom,
highdicom and NumPy only: no web framework, no model.
"""
