# syntax=docker/dockerfile:1
# TensorFleet Model Service: `model-service serve` in a slim image, as a non-root user.
#
#   docker build -t tensorfleet/model-service:0.1.0 .
#   docker run -d --name model-service -p 8084:8084 -v model-data:/data tensorfleet/model-service:0.1.0
#   docker stop -t 40 model-service    # SIGTERM: downloads in flight get SHUTDOWN_GRACE_SECONDS (30) to finish
#
# Two stages: the first builds the project's wheel and installs it with its dependencies into a
# virtual environment; the second copies only that environment onto a fresh slim base.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
RUN python -m pip wheel --no-deps --wheel-dir /wheels . \
 && python -m venv /opt/venv \
 && /opt/venv/bin/pip install /wheels/*.whl


FROM ${PYTHON_IMAGE}
# a fixed numeric id, so that Kubernetes can check runAsNonRoot against the image
RUN groupadd --system --gid 10001 modelservice \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
            --shell /usr/sbin/nologin modelservice \
 && mkdir /data \
 && chown 10001:10001 /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    HOST=0.0.0.0 \
    PORT=8084 \
    DATA_DIR=/data
# the embedded defaults (SQLite + files) live here; with PostgreSQL or MongoDB and S3 or GridFS
# it only holds what the disk-space check looks at
VOLUME ["/data"]
WORKDIR /data
USER 10001:10001
EXPOSE 8084
# liveness of the process (touches no backend); python, since the slim image has no curl
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8084'), timeout=4)"]
STOPSIGNAL SIGTERM
ENTRYPOINT ["model-service"]
CMD ["serve"]
