"""One upload -> one volume: NIfTI files and DICOM series (a zip or several files), with their geometry."""

from service.volumes.read import read_volume
from service.volumes.volume import Volume, VolumeLimits

__all__ = ["Volume", "VolumeLimits", "read_volume"]
