"""Offline training of the slice classifier and the ResUNet segmenter on the LGG brain MRI data."""
