"""One upload -> one volume: NIfTI files and DICOM series (a zip or several files), with their geometry."""

from service.volumes.read import open_volume, read_volume
from service.volumes.volume import PendingVolume, Volume, VolumeLimits

__all__ = ["PendingVolume", "Volume", "VolumeLimits", "open_volume", "read_volume"]
