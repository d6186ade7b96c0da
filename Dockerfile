# syntax=docker/dockerfile:1
# Brain-MRI tumour detection API (service.main:app) with the models baked in.
#
#   docker build -t brain-mri-tumour:cpu .                 # CPU image (default target `cpu`)
#   docker build --target gpu -t brain-mri-tumour:gpu .    # GPU image (tensorflow[and-cuda])
#   docker run -p 8000:8000 brain-mri-tumour:cpu
#   docker run --gpus all -p 8000:8000 brain-mri-tumour:gpu
#
# Configuration is the service's MRI_* environment variables (MRI_MODELS_DIR, MRI_API_KEY,
# MRI_CLASSIFIER_THRESHOLD, ...). Mount another models folder and point MRI_MODELS_DIR at it to
# serve other models without rebuilding. See docs/deployment.md.
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
COPY docker/requirements-common.txt docker/requirements-cpu.txt docker/requirements-gpu.txt docker/

FROM venv AS deps-cpu
RUN pip install -r docker/requirements-cpu.txt

FROM venv AS deps-gpu
RUN pip install -r docker/requirements-gpu.txt

# ---- runtime base: non-root user, environment, health check, start command ---------------------
# TensorFlow's own log stays on (no TF_CPP_MIN_LOG_LEVEL): its device lines ("Created device ...
# GPU", "Could not find cuda drivers") show which device runs the models. Models that cannot be
# loaded end the process (MRI_EXIT_ON_LOAD_FAILURE, status 3) so that restart policies act.
FROM ${PYTHON_IMAGE} AS runtime
ARG APP_UID=10001
RUN groupadd --system --gid ${APP_UID} mri \
 && useradd --system --uid ${APP_UID} --gid mri --no-create-home --home-dir /app \
            --shell /usr/sbin/nologin mri
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONPATH=/app \
    KERAS_BACKEND=tensorflow \
    KERAS_HOME=/tmp/.keras \
    MRI_MODELS_DIR=/app/models \
    MRI_LOG_LEVEL=INFO \
    MRI_EXIT_ON_LOAD_FAILURE=true
WORKDIR /app
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=90s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/v2/health/ready', timeout=4)"]
USER ${APP_UID}:${APP_UID}
# The service logs one line per request itself (service.access): uvicorn's own access line is off.
# h11 refuses a request header block over 16 KiB while parsing it (--h11-max-incomplete-event-size;
# httptools has no such limit); MRI_MAX_HEADER_BYTES and MRI_BODY_TIMEOUT_S are the service's own.
CMD ["uvicorn", "service.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-access-log", "--http", "h11"]

# ---- GPU image: docker build --target gpu . ---------------------------------------------------
# Which GPUs the container sees is left to the runtime (--gpus, compose device reservations, the
# Kubernetes device plugin); without a GPU the process exits (MRI_REQUIRE_GPU) instead of running
# on the CPU unnoticed.
FROM runtime AS gpu
ENV NVIDIA_DRIVER_CAPABILITIES=compute,utility \
    MRI_REQUIRE_GPU=true
COPY --from=deps-gpu /opt/venv /opt/venv
COPY contract/ contract/
COPY service/ service/
COPY models/ models/

# ---- CPU image (default, last stage): docker build --target cpu . -----------------------------
FROM runtime AS cpu
COPY --from=deps-cpu /opt/venv /opt/venv
COPY contract/ contract/
COPY service/ service/
COPY models/ models/
