"""Client for the brain-MRI tumour detection API: a small library and the ``mri-client`` CLI.

Needs only ``httpx``, ``tqdm`` and (for ``mri-client volume``, to group DICOM files by series)
``pydicom`` (no TensorFlow, NumPy or Pillow)::

    from mri_client import MRIClient

    with MRIClient("http://localhost:8000", api_key="...") as client:
        result = client.classify("slice.tif")
        print(result["tumour_probability"])
"""

from __future__ import annotations

import logging

from .client import MRIClient, MRIError
from .masks import mask_to_png, rle_to_pixels, write_mask
from .retry import RETRY_STATUSES

__version__ = "0.1.0"
__all__ = ["RETRY_STATUSES", "MRIClient", "MRIError", "mask_to_png", "rle_to_pixels", "write_mask"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
