# The operator image: `lws run` on a slim Python, as a non-root user, happy on a read-only root
# filesystem (config/manager/manager.yaml mounts the only writable path, /tmp).
#
#   docker build -t lws-operator:0.1.0 .
#   lws manifests --image <registry>/lws-operator:0.1.0 | kubectl apply --server-side -f -
#
# The kubectl test extra is not installed: the image holds the operator and its plugins only.

FROM python:3.12-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY lws ./lws
COPY plugins ./plugins
RUN python -m venv /opt/lws \
 && /opt/lws/bin/pip install . \
 # Byte-compile now: at run time the filesystem is read-only and nothing could cache it.
 && /opt/lws/bin/python -m compileall -q /opt/lws/lib

FROM python:3.12-slim
COPY --from=build /opt/lws /opt/lws
ENV PATH=/opt/lws/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric user, so the kubelet can check runAsNonRoot without looking the name up.
USER 65532:65532
# Webhooks, metrics, probes (see config/manager/manager.yaml).
EXPOSE 9443 8443 8081
ENTRYPOINT ["lws", "run"]
