"""What the service, the gateway and training all do to images, each owned once.

- :mod:`imaging.dicom`: one DICOM series -> checked headers, frames in slice order, the voxel
  affine and the voxels; the DICOM SEG of a mask on that series. One policy for every caller.
- :mod:`imaging.windowing`: the one intensity window (percentiles -> 0..255) of uploads, whole
  volumes (through :mod:`contract.volume_window`) and training's augmentation.
- :mod:`imaging.lgg_layout`: the LGG data set's folder layout (slices and their masks), read by
  training, the installation check and the DICOM converter.
- :mod:`imaging.metrics`: Dice, the mask score training, evaluation and the installation check share.

None of it is the model-file contract (``contract/``: what a models folder holds and how its model
is called), which builds on it: ``contract`` may import ``imaging``, never the other way round; the
service, the gateway and training import it and never each other. pydicom, highdicom, OpenCV and
NumPy only: no web framework, no model.
"""
