# The Python unified worker: `supervisor worker` (firehose ingest and backfill into PostgreSQL).
#
# Build context is the repository root:
#   build: {context: .., dockerfile: compose/worker.Dockerfile}
# Python dependencies come from .cache/wheelhouse when it holds wheels (built on the host with
# `pip wheel -w .cache/wheelhouse .`), so the image builds without a package index; otherwise
# from PyPI.
ARG PYTHON_IMAGE=python:3.11-slim
FROM ${PYTHON_IMAGE}

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    HEALTH_PORT=8081

WORKDIR /opt/supervisor

# The wheelhouse folder may be missing: pyproject.toml always matches, so COPY never has zero
# sources, and the "*" lets .cache/wheelhouse be absent.
COPY pyproject.toml .cache/wheelhouse* /tmp/wheelhouse/
COPY pyproject.toml README.md ./
COPY supervisor ./supervisor
COPY schemas ./schemas

RUN if ls /tmp/wheelhouse/*.whl >/dev/null 2>&1; then \
        pip install --no-index --find-links /tmp/wheelhouse . ; \
    else \
        pip install . ; \
    fi \
    && rm -rf /tmp/wheelhouse \
    && useradd --system --no-create-home --shell /usr/sbin/nologin worker

USER worker
EXPOSE 8081
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=6 \
    CMD ["supervisor", "worker", "healthcheck"]
CMD ["supervisor", "worker"]
