# Slim, non-root image: applies migrations, then serves on port 8000.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md alembic.ini ./
COPY app ./app
COPY migrations ./migrations
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
RUN useradd --create-home --uid 10001 skm
COPY --from=build /venv /venv
COPY --chown=skm alembic.ini /srv/skm/alembic.ini
COPY --chown=skm migrations /srv/skm/migrations
WORKDIR /srv/skm
# As root: the directory WORKDIR made is root's, and the database lives in data/.
RUN mkdir -p /srv/skm/data && chown 10001 /srv/skm/data
USER 10001
ENV PATH=/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SKM_DATABASE_URL=sqlite:////srv/skm/data/skm.db \
    SKM_WORKERS=1
EXPOSE 8000
# Liveness only: a database blip makes the instance unready (/health/ready), not unhealthy.
HEALTHCHECK --interval=30s --timeout=3s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health/live')"]
# Workers from SKM_WORKERS; more than 1 also needs SKM_REDIS_URL and SKM_DEVICE_SECRET.
CMD ["skm", "serve", "--host", "0.0.0.0", "--port", "8000"]
