# syntax=docker/dockerfile:1
# The images of tidal's services and of its data plane, from one recipe (build from the root):
#
#   docker build --target service --build-arg SERVICE=fleet  --build-arg EXTRAS=http,kafka,redis,cli,observability,fleet  -t tidal-fleet .
#   docker build --target service --build-arg SERVICE=orders --build-arg EXTRAS=http,kafka,redis,cli,observability,orders -t tidal-orders .
#   docker build --target service --build-arg SERVICE=files  --build-arg EXTRAS=http,kafka,redis,cli,observability,files  -t tidal-files .
#   docker build --target gateway --build-arg EXTRAS=http,kafka,observability,gateway -t tidal-gateway .
#   docker build --target tidal   --build-arg EXTRAS=http,kafka,redis,cli,observability,sources -t tidal .  # the operator's children
#
# skaffold.yaml passes the same arguments. The operator's image is operator/Dockerfile.
# `tools` holds a virtualenv and the runtime's sources; `builder` installs tidal and the extras
# into it (the services' and gateway's images), `data-plane-builder` tidal and the extras plus
# the operator's distribution with its data-plane extra (operator/pyproject.toml: the `tidal
# archive | backup | restore | replay | dlq` commands the operator's children run). pip,
# setuptools and the build run only there; each final image gets one builder's virtualenv and its
# code, runs as uid 10001 and holds no build tools, compilers or caches. The base is pinned to an
# exact Python and Debian release; pin its digest too (python:3.11.7-slim-bookworm@sha256:...)
# where the registry is reachable.
# Kubernetes probes (the charts) check health, so the images declare no HEALTHCHECK.
# checkov:skip=CKV_DOCKER_2:Kubernetes probes check health; HEALTHCHECK is ignored there

FROM python:3.11.7-slim-bookworm AS tools
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src

FROM tools AS builder
ARG EXTRAS=http,kafka,redis,cli,observability
RUN pip install ".[${EXTRAS}]" && pip uninstall -y pip setuptools wheel

FROM tools AS data-plane-builder
ARG EXTRAS=http,kafka,redis,cli,observability
COPY operator/pyproject.toml operator/README.md ./operator/
COPY operator/tidal_operator ./operator/tidal_operator
COPY operator/tidal_data ./operator/tidal_data
RUN pip install ".[${EXTRAS}]" "./operator[data-plane]" && pip uninstall -y pip setuptools wheel

# Shared by every final image: an unprivileged user, nothing else; each adds one virtualenv.
FROM python:3.11.7-slim-bookworm AS base
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PORT=8080
RUN groupadd --system --gid 10001 tidal \
    && useradd --system --uid 10001 --gid tidal --no-create-home --home-dir /nonexistent tidal
WORKDIR /app

FROM base AS runtime
COPY --from=builder /opt/venv /opt/venv

# A tidal App under services/<SERVICE>/ (fleet, orders, files): `tidal run services.<SERVICE>.app:app`
# over HTTP (Knative), or with `--transport kafka` first (the KEDA-scaled worker). The chart
# passes the arguments; `docker run tidal-fleet services.fleet.app:app` runs it by hand.
FROM runtime AS service
ARG SERVICE
COPY services/__init__.py services/redis_clients.py services/
COPY services/catalog services/catalog
COPY services/${SERVICE} services/${SERVICE}
USER 10001:10001
EXPOSE 8080 9464
ENTRYPOINT ["tidal", "run"]

# The ingest gateway (FastAPI under uvicorn); it reads order timelines through the saga's store.
FROM runtime AS gateway
COPY services/__init__.py services/redis_clients.py services/
COPY services/catalog services/catalog
COPY services/gateway services/gateway
COPY services/saga services/saga
USER 10001:10001
EXPOSE 8080
ENTRYPOINT ["python", "-m", "services.gateway"]

# The `tidal` command with the data plane: what the operator's CronJobs, Jobs and Deployments
# run (`tidal backup run`, `tidal dlq drain`, ...), and the chart's `tidal source` / `tidal outbox`.
FROM base AS tidal
COPY --from=data-plane-builder /opt/venv /opt/venv
USER 10001:10001
ENTRYPOINT ["tidal"]
CMD ["--help"]
