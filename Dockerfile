# syntax=docker/dockerfile:1
# Brain-MRI tumour detection API (service.main:app) with the models baked in.
#
#   docker build -t brain-mri-tumour:cpu .                 # CPU image (default target `cpu`): ONNX Runtime, OpenVINO
#   docker build --target gpu -t brain-mri-tumour:gpu .    # GPU image: Keras on tensorflow[and-cuda]
#   docker run -p 8000:8000 brain-mri-tumour:cpu
#   docker run --gpus all -p 8000:8000 brain-mri-tumour:gpu
#   docker build --target gateway -t brain-mri-tumour:gateway .   # the DICOM gateway (docs/integration.md)
#
# Configuration is the service's MRI_* environment variables (MRI_MODELS_DIR, MRI_API_KEY,
# MRI_CLASSIFIER_THRESHOLD, ...). Mount another models folder and point MRI_MODELS_DIR at it to
# serve other models without rebuilding (the CPU image serves their ONNX exports: run
# `python -m training export DIR` first). See docs/deployment.md and docs/runtimes.md.
# The install (docker/requirements-*.txt) and start (CMD) commands are the ones CI runs:
# tests/deploy/ parses this file and starts the service the same way.

ARG PYTHON_IMAGE=python:3.11-slim

# ---- build stages: a virtual environment per variant ------------------------------------------
FROM ${PYTHON_IMAGE} AS venv
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
WORKDIR /build
COPY docker/requirements-common.txt docker/requirements-cpu.txt docker/requirements-gpu.txt docker/requirements-gateway.txt docker/

# The CPU image serves the ONNX exports with ONNX Runtime or OpenVINO, whichever is faster on the host
# (MRI_RUNTIME=auto, measured at start-up): no TensorFlow, no Keras; the build fails if either slipped in.
FROM venv AS deps-cpu
RUN pip install -r docker/requirements-cpu.txt \
 && python -c "import importlib.util as u; found = [m for m in ('tensorflow', 'keras') if u.find_spec(m)]; raise SystemExit(f'not for the CPU image: {found}' if found else 0)"

FROM venv AS deps-gpu
RUN pip install -r docker/requirements-gpu.txt

# The gateway talks to the service over HTTP and runs no model: the common pins, no TensorFlow, and
# the client package (client/, mri_client: the one client of the service's API) with its pinned
# dependencies, resolved together.
FROM venv AS deps-gateway
COPY client/ client/
RUN pip install -r docker/requirements-gateway.txt ./client

# ---- runtime base: non-root user, environment, health check, start command ---------------------
# The service logs the runtime and the devices it sees at start-up; TensorFlow's own log stays on
# in the GPU image (no TF_CPP_MIN_LOG_LEVEL): its device lines ("Created device ... GPU", "Could not
# find cuda drivers") show which device runs the models. Models that cannot be loaded (or an ONNX
# export that does not reproduce its Keras model) end the process (MRI_EXIT_ON_LOAD_FAILURE,
# status 3) so that restart policies act.
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} mri \
 && useradd --system --uid ${APP_UID} --gid mri --no-create-home --home-dir /app \
            --shell /usr/sbin/nologin mri
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    MRI_MODELS_DIR=/app/models \
    MRI_LOG_LEVEL=INFO \
    MRI_EXIT_ON_LOAD_FAILURE=true
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=4)"]
USER ${APP_UID}:${APP_UID}
# The service logs one line per request itself (service.access): uvicorn's own access line is off.
# HTTP is parsed by service/protocol.py: httptools, refusing a header block past MRI_MAX_HEADER_BYTES
# + 8 KiB while it arrives; MRI_MAX_HEADER_BYTES and MRI_BODY_TIMEOUT_S are the app's own checks.
CMD ["uvicorn", "service.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--http", "service.protocol:BoundedHttpToolsProtocol"]

# ---- GPU image: docker build --target gpu . ---------------------------------------------------
# Runs the .keras files with Keras on TensorFlow with CUDA (MRI_RUNTIME=keras; docs/runtimes.md).
# Which GPUs the container sees is left to the container runtime (--gpus, compose device
# reservations, the Kubernetes device plugin); without a GPU the process exits (MRI_REQUIRE_GPU)
# instead of running on the CPU unnoticed.
FROM runtime AS gpu
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    KERAS_BACKEND=tensorflow \
    KERAS_HOME=/tmp/.keras \
    MRI_RUNTIME=keras \
    MRI_REQUIRE_GPU=true
COPY --from=deps-gpu /opt/venv /opt/venv
COPY contract/ contract/
COPY imaging/ imaging/
COPY service/ service/
COPY models/ models/

# ---- gateway image: docker build --target gateway . -------------------------------------------
# The DICOM node + DICOMweb client between a PACS and the service (python -m gateway; settings
# MRI_GATEWAY_*, docs/integration.md). Its jobs, spool, results and audit live in
# MRI_GATEWAY_STATE_DIR: mount a volume there so that they survive a restart. It runs gateway/ and
# imaging/, the DICOM layer the service and the gateway share (series, geometry, voxels, the SEG), on
# the venv of deps-gateway (mri_client installed there); tests/gateway/test_image.py starts exactly
# these files on exactly these requirements. Its HTTP API
# binds 127.0.0.1 unless MRI_GATEWAY_HTTP_HOST=0.0.0.0 with MRI_GATEWAY_API_TOKEN (compose sets both).
FROM ${PYTHON_IMAGE} AS gateway
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} mri \
 && useradd --system --uid ${APP_UID} --gid mri --no-create-home --home-dir /app \
            --shell /usr/sbin/nologin mri \
 && mkdir -p /var/lib/mri-gateway && chown ${APP_UID}:${APP_UID} /var/lib/mri-gateway
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    MRI_GATEWAY_STATE_DIR=/var/lib/mri-gateway
WORKDIR /app
COPY --from=deps-gateway /opt/venv /opt/venv
COPY imaging/ imaging/
COPY gateway/ gateway/
EXPOSE 11112 8090
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8090/health', timeout=4)"]
USER ${APP_UID}:${APP_UID}
CMD ["python", "-m", "gateway"]

# ---- CPU image (default, last stage): docker build --target cpu . -----------------------------
FROM runtime AS cpu
COPY --from=deps-cpu /opt/venv /opt/venv
COPY contract/ contract/
COPY imaging/ imaging/
COPY service/ service/
COPY models/ models/
