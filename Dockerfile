# syntax=docker/dockerfile:1
# One image per service, from this one file. Build from the repository root (the uv workspace):
#
#   docker build --build-arg SERVICE=api --build-arg VERSION=0.1.0 -t nocturnal-api:0.1.0 .
#
# SERVICE is auth, api, upload or ratelimit. The image holds that service, the shared library
# and their locked third-party dependencies, nothing else: no dev tools, no test servers, no
# compilers, no uv. It runs as user 10001 on a read-only root filesystem; no service writes a
# file (the upload service's `local` backend is for development: mount a volume and set
# STORAGE_LOCAL_DIR if you use it in a container).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: a virtual environment at /app with the service installed as wheels ---------------
FROM ${PYTHON_IMAGE} AS build
ARG SERVICE
ARG UV_VERSION=0.13.9
RUN test -n "${SERVICE}" || { echo "build with --build-arg SERVICE=auth|api|upload|ratelimit" >&2; exit 1; }
RUN pip install --no-cache-dir "uv==${UV_VERSION}"
ENV UV_COMPILE_BYTECODE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/app
WORKDIR /src
# Third-party dependencies first: this layer is rebuilt only when the lock file changes.
COPY pyproject.toml uv.lock ./
COPY shared/pyproject.toml shared/
COPY services/auth/pyproject.toml services/auth/
COPY services/api/pyproject.toml services/api/
COPY services/upload/pyproject.toml services/upload/
COPY services/ratelimit/pyproject.toml services/ratelimit/
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-install-workspace --package "nocturnal-${SERVICE}"
# Then the code: the shared library and this service only.
COPY shared shared
COPY services/${SERVICE} services/${SERVICE}
RUN --mount=type=cache,target=/root/.cache/uv \
    uv sync --frozen --no-dev --no-editable --package "nocturnal-${SERVICE}" \
    && ln -s "nocturnal-${SERVICE}" /app/bin/nocturnal-service

# --- runtime ---------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
ARG SERVICE
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="nocturnal-${SERVICE}" \
      org.opencontainers.image.description="Nocturnal ${SERVICE} service" \
      org.opencontainers.image.version="${VERSION}"
COPY --from=build /app /app
# VERSION is what /api/health and /openapi.json report.
ENV PATH="/app/bin:${PATH}" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PORT=8000 \
    VERSION=${VERSION}
USER 10001:10001
EXPOSE 8000
# SIGTERM starts the graceful shutdown: readiness 503, SHUTDOWN_DRAIN_S of serving, then
# in-flight work within SHUTDOWN_TIMEOUT_S (the platform's grace period must be longer).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/app/bin/nocturnal-service"]
