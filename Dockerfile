# syntax=docker/dockerfile:1
# The images of tidal's services and of its data plane, from one recipe (build from the root):
#
#   docker build --target service --build-arg SERVICE=fleet  --build-arg EXTRAS=http,kafka,redis,cli,observability,fleet  -t tidal-fleet .
#   docker build --target service --build-arg SERVICE=orders --build-arg EXTRAS=http,kafka,redis,cli,observability,orders -t tidal-orders .
#   docker build --target service --build-arg SERVICE=files  --build-arg EXTRAS=http,kafka,redis,cli,observability,files  -t tidal-files .
#   docker build --target gateway --build-arg EXTRAS=http,kafka,observability,gateway -t tidal-gateway .
#   docker build --target tidal   --build-arg EXTRAS=http,kafka,redis,cli,observability,archive -t tidal .  # the operator's children
#
# skaffold.yaml passes the same arguments. The operator's image is operator/Dockerfile.
# The builder makes a virtualenv with tidal and the extras (pip, setuptools and the build run
# only there); each final image gets the virtualenv and its code, runs as uid 10001 and holds no
# build tools, compilers or caches. The base is pinned to an exact Python and Debian release;
# pin its digest too (python:3.11.7-slim-bookworm@sha256:...) where the registry is reachable.
# Kubernetes probes (the charts) check health, so the images declare no HEALTHCHECK.
# checkov:skip=CKV_DOCKER_2:Kubernetes probes check health; HEALTHCHECK is ignored there

FROM python:3.11.7-slim-bookworm AS builder
ARG EXTRAS=http,kafka,redis,cli,observability
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /build
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install ".[${EXTRAS}]" && pip uninstall -y pip setuptools wheel

# Shared by every final image: the virtualenv and an unprivileged user, nothing else.
FROM python:3.11.7-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PORT=8080
RUN groupadd --system --gid 10001 tidal \
    && useradd --system --uid 10001 --gid tidal --no-create-home --home-dir /nonexistent tidal
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app

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

# The data plane: the `tidal` command the operator's CronJobs, Jobs and Deployments run.
FROM runtime AS tidal
USER 10001:10001
ENTRYPOINT ["tidal"]
CMD ["--help"]
