"""HTTP inference service for brain-MRI tumour detection (FastAPI app: ``service.main:app``).

It serves the model of a models folder (see :mod:`contract.layout`): one model file whose one call
answers two roles, a slice classifier (tumour yes/no) and a segmenter (FLAIR-abnormality mask). Packages:

- :mod:`service.settings` - ``MRI_*`` configuration;
- :mod:`service.images` - decoding uploads (PNG, JPEG, TIFF, DICOM) to model-ready slices;
- :mod:`service.inference` - loading, warming up and running the models;
- :mod:`service.pipeline` - decode -> batch inference -> response objects;
- :mod:`service.routers` - the HTTP endpoints, one module per resource;
- :mod:`service.middleware` - request-body limit, request logging and metrics.
"""
