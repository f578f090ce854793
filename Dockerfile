# syntax=docker/dockerfile:1
FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY src ./src
COPY extensions ./extensions
COPY container.py ./
RUN python -m venv /opt/hanabi && /opt/hanabi/bin/pip install --no-compile .

FROM python:3.12-slim
LABEL org.opencontainers.image.title="Hanabi" \
      org.opencontainers.image.description="Self-hosted multi-feature Discord bot" \
      org.opencontainers.image.licenses="MIT"
RUN useradd --create-home --uid 10001 hanabi
COPY --from=build /opt/hanabi /opt/hanabi
ENV PATH="/opt/hanabi/bin:$PATH" PYTHONUNBUFFERED=1 DATA_DIR=/data METRICS_HOST=0.0.0.0
RUN mkdir /data && chown hanabi /data
USER hanabi
WORKDIR /home/hanabi
EXPOSE 9108
CMD ["python", "-m", "hanabi"]
