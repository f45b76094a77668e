# The operator image: `lws run` on a slim Python, as a non-root user, happy on a read-only root
# filesystem (config/manager/manager.yaml mounts the only writable path, /tmp).
#
#   docker build -t lws-operator:0.1.0 .
#   lws manifests --image <registry>/lws-operator:0.1.0 | kubectl apply --server-side -f -
#
# The Python and the dependency versions are CI's (tox runs on Python 3.11 with constraints.txt), and
# tests/install/test_image.py runs this file's install steps in a clean virtualenv, so what the image
# installs is what the tests passed with. The kubectl test extra is not installed: the image holds the
# operator and its plugins only.

ARG PYTHON_VERSION=3.11

FROM python:${PYTHON_VERSION}-slim AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
COPY pyproject.toml README.md constraints.txt ./
COPY lws ./lws
COPY plugins ./plugins
RUN python -m venv /opt/lws \
 && /opt/lws/bin/pip install --constraint constraints.txt . \
 # Byte-compile now: at run time the filesystem is read-only and nothing could cache it.
 && /opt/lws/bin/python -m compileall -q /opt/lws/lib

FROM python:${PYTHON_VERSION}-slim
COPY --from=build /opt/lws /opt/lws
ENV PATH=/opt/lws/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
# A numeric user, so the kubelet can check runAsNonRoot without looking the name up.
USER 65532:65532
# Webhooks, metrics, probes (see config/manager/manager.yaml).
EXPOSE 9443 8443 8081
ENTRYPOINT ["lws", "run"]
