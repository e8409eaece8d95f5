FROM python:3.12-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /app

FROM base AS builder
RUN pip install poetry==1.8.3
COPY pyproject.toml poetry.lock ./
RUN poetry export -f requirements.txt --output requirements.txt --without-hashes
RUN pip wheel --wheel-dir /wheels -r requirements.txt

FROM base
COPY --from=builder /wheels /wheels
RUN pip install /wheels/* && rm -rf /wheels
COPY src/ ./src/
CMD ["python", "-m", "src.main"]
