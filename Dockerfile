# syntax=docker/dockerfile:1
# One image for every Comfy Platform process: the API (default), the workers (`comfy-platform worker --role
# io|comfy`), migrations (`comfy-platform migrate`) and the CLI. docker-compose.yml runs it in production shape.

FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# The build context is the repository less what .dockerignore leaves out (tests, venvs, local state, secrets).
COPY . .
RUN pip install --upgrade pip && pip install .

FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH=/opt/venv/bin:$PATH \
    DATA_DIR=/data \
    API_HOST=0.0.0.0 \
    API_PORT=8000
RUN groupadd --system --gid 10001 comfy \
    && useradd --system --uid 10001 --gid comfy --home-dir /home/comfy --create-home --shell /usr/sbin/nologin comfy \
    && mkdir -p /data && chown comfy:comfy /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /home/comfy
USER comfy
VOLUME ["/data"]
EXPOSE 8000
# docker-compose.yml defines the API's healthcheck on /api/health (the image has no curl; it uses python).
CMD ["comfy-platform", "api"]
