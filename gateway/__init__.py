"""The gateway: the stateful edge between a hospital's PACS and the stateless inference service.

It receives series over DICOM (C-STORE) or pulls them over DICOMweb, chooses the FLAIR series of a
study, sends it to the service's ``POST /volume`` over HTTP, and stores a DICOM SEG and a DICOM SR
(TID 1500) back in the source study. Jobs live in an embedded store and survive restarts.
``python -m gateway --help`` lists the settings; docs/integration.md is the reference. It never
imports ``service/`` or ``training/``.
"""
