"""Decoding of uploaded slices (PNG, JPEG, TIFF, DICOM) into ``(H, W, 3)`` uint8 model-ready images."""

from service.images.decode import DecodedSlice, ImageLimits, decode_image

__all__ = ["DecodedSlice", "ImageLimits", "decode_image"]
