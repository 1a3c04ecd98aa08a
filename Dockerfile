# One image per deployable, all from one build stage: pick it with --target.
#
#   docker build --target gateway   -t bookstore-gateway   .    # python -m gateway            :8000
#   docker build --target inventory -t bookstore-inventory .    # python -m inventory_service  :8001
#   docker build --target sales     -t bookstore-sales     .    # python -m sales_service      :8002
#   docker build --target delivery  -t bookstore-delivery  .    # python -m delivery_service   :8003
#
# Configuration comes only from the environment (README: Deployment). Each runs as an unprivileged
# user, answers HEALTHCHECK at /healthz, and on SIGTERM finishes what is in flight and exits 0.
ARG PYTHON_IMAGE=python:3.11-slim

# --- build: a virtualenv with exactly the locked dependencies, then the project without deps ------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
RUN python -m venv /opt/venv
COPY requirements.lock /tmp/requirements.lock
# Hashes are checked: nothing enters the image that was not locked (make lock).
RUN /opt/venv/bin/pip install --no-deps --require-hashes -r /tmp/requirements.lock
COPY pyproject.toml /src/
COPY shared /src/shared
COPY gateway /src/gateway
COPY inventory_service /src/inventory_service
COPY sales_service /src/sales_service
COPY delivery_service /src/delivery_service
# pip byte-compiles what it installs, so no process pays for that at start; pip itself and
# setuptools are not needed to run, so they stay behind.
RUN /opt/venv/bin/pip install --no-deps /src \
 && /opt/venv/bin/pip uninstall --quiet --yes pip setuptools

# --- runtime: the interpreter, the virtualenv and an unprivileged user; nothing to build with ------
FROM ${PYTHON_IMAGE} AS runtime
RUN useradd --uid 10001 --user-group --no-create-home --home-dir /data --shell /usr/sbin/nologin bookstore \
 && mkdir -p /data && chown bookstore:bookstore /data
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /data
USER bookstore
STOPSIGNAL SIGTERM
# Each target sets exactly one <PREFIX>_PORT; no curl in a slim image, so Python asks /healthz.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 CMD ["python", "-c", "import os, urllib.request as u; p = next(os.environ[k] for k in ('GATEWAY_PORT', 'INVENTORY_PORT', 'SALES_PORT', 'DELIVERY_PORT') if k in os.environ); u.urlopen(f'http://127.0.0.1:{p}/healthz', timeout=2)"]

FROM runtime AS gateway
ENV GATEWAY_HOST=0.0.0.0 GATEWAY_PORT=8000 GATEWAY_LOG_FORMAT=json
EXPOSE 8000
CMD ["python", "-m", "gateway"]

FROM runtime AS inventory
ENV INVENTORY_HOST=0.0.0.0 INVENTORY_PORT=8001 INVENTORY_LOG_FORMAT=json INVENTORY_DATA_DIR=/data/inventory
EXPOSE 8001
CMD ["python", "-m", "inventory_service"]

FROM runtime AS sales
ENV SALES_HOST=0.0.0.0 SALES_PORT=8002 SALES_LOG_FORMAT=json SALES_DATA_DIR=/data/sales
EXPOSE 8002
CMD ["python", "-m", "sales_service"]

FROM runtime AS delivery
ENV DELIVERY_HOST=0.0.0.0 DELIVERY_PORT=8003 DELIVERY_LOG_FORMAT=json DELIVERY_DATA_DIR=/data/delivery
EXPOSE 8003
CMD ["python", "-m", "delivery_service"]
