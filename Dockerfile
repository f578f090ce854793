# syntax=docker/dockerfile:1
# Hanabi's container image: `docker build -t hanabi .`, or `docker compose up -d` for the whole stack.

# --- build: a virtual environment with Hanabi and its runtime dependencies (binary wheels; no compiler in either stage) ---
FROM python:3.12-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/hanabi
# Dependencies first, in their own layer: rebuilt only when pyproject.toml changes, not on every code change.
COPY pyproject.toml ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && /opt/hanabi/bin/pip install --no-cache-dir --prefer-binary -r /tmp/requirements.txt
# Then the source; --no-deps: everything it needs is already in the layer above.
COPY README.md container.py ./
COPY src ./src
COPY extensions ./extensions
RUN /opt/hanabi/bin/pip install --no-cache-dir --no-deps . \
    && /opt/hanabi/bin/python -m compileall -q /opt/hanabi/lib

# --- runtime: the slim base, the virtual environment, an unprivileged user; no pip cache, no build tools ---
FROM python:3.12-slim AS runtime
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="Hanabi" \
      org.opencontainers.image.description="Self-hosted multi-feature Discord bot (hikari, lightbulb, miru)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="https://github.com/hanabi-bot/hanabi" \
      org.opencontainers.image.licenses="MIT"
RUN useradd --system --create-home --uid 10001 --user-group --shell /usr/sbin/nologin hanabi \
    && mkdir -p /data \
    && chown hanabi:hanabi /data
COPY --from=build /opt/hanabi /opt/hanabi
ENV PATH="/opt/hanabi/bin:$PATH" \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DATA_DIR=/data \
    METRICS_HOST=0.0.0.0 \
    METRICS_PORT=9108 \
    LOG_FORMAT=json
USER 10001:10001
WORKDIR /home/hanabi
VOLUME ["/data"]
EXPOSE 9108
# The exec-form CMD makes Python PID 1, so `docker stop` (SIGTERM) reaches Hanabi's own handler: it closes the
# gateway, the pool and the embedded PostgreSQL and exits 0 well within Docker's 10 s grace period.
STOPSIGNAL SIGTERM
# slim has no curl: ask /healthz with the standard library.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('METRICS_PORT', '9108') + '/healthz', timeout=4)"]
CMD ["python", "-m", "hanabi"]
