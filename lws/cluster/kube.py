"""The real :class:`lws.cluster.client.Transport`: the official ``kubernetes.aio`` client.

This is the one module that imports ``kubernetes``. Only composition roots import it (``lws run``, the
test and demo harnesses); everything else talks to :class:`lws.cluster.client.Cluster`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from urllib.request import getproxies_environment, proxy_bypass

import aiohttp
from kubernetes.aio import client as k8s_client
from kubernetes.aio import config as k8s_config

from lws import __version__
from lws.cluster.client import ApiObserver, Cluster, ClusterConfig, ConnectionDetails
from lws.cluster.errors import ApiError

_SERVICE_ACCOUNT_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


class ConfigError(RuntimeError):
    """No usable cluster configuration: the message lists what was tried."""


def service_account_namespace() -> str | None:
    """The namespace of the pod we run in, from the mounted service account; ``None`` outside a pod."""
    try:
        value = (_SERVICE_ACCOUNT_DIR / "namespace").read_text().strip()
    except OSError:
        return None
    return value or None


async def load_configuration(
    kubeconfig: str | None = None, *, context: str | None = None
) -> tuple[k8s_client.Configuration, ClusterConfig]:
    """Resolve the cluster: ``kubeconfig``, else ``$KUBECONFIG``, else in-cluster, else ``~/.kube/config``.

    :raises ConfigError: when none of them works, naming each source tried.
    """
    configuration = type.__call__(k8s_client.Configuration)
    tried: list[str] = []
    for source in (kubeconfig, os.environ.get("KUBECONFIG")):
        if source:
            await _load_kubeconfig(configuration, source, context)
            return configuration, ClusterConfig(source=f"kubeconfig {source}")
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except Exception as exc:
            tried.append(f"in-cluster config ({exc})")
        else:
            return configuration, ClusterConfig(
                source="in-cluster service account", in_cluster=True, namespace=service_account_namespace()
            )
    else:
        tried.append("in-cluster config (KUBERNETES_SERVICE_HOST is not set)")
    default = Path(os.path.expanduser("~/.kube/config"))
    if default.exists():
        await _load_kubeconfig(configuration, str(default), context)
        return configuration, ClusterConfig(source=f"kubeconfig {default}")
    tried.append(f"{default} (missing)")
    raise ConfigError(
        "no cluster to connect to: pass --kubeconfig FILE or set KUBECONFIG; tried " + "; ".join(tried)
    )


async def _load_kubeconfig(configuration: k8s_client.Configuration, source: str, context: str | None) -> None:
    try:
        await k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=source, context=context, client_configuration=configuration
        )
    except Exception as exc:
        raise ConfigError(f"cannot use kubeconfig {source}: {exc}") from exc


class _Reply:
    def __init__(self, response: Any) -> None:
        self._response = response
        self.status = int(response.status)

    async def read(self) -> bytes:
        try:
            data: bytes = await self._response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(f"reply broken: {exc}") from exc
        return data

    async def readline(self) -> bytes:
        try:
            line: bytes = await self._response.response.content.readline()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ApiError(f"stream broken: {exc}") from exc
        return line

    def header(self, name: str) -> str | None:
        value = self._response.headers.get(name)
        return None if value is None else str(value)

    def release(self) -> None:
        self._response.response.release()


class KubeTransport:
    """Requests through ``kubernetes.aio.client.ApiClient`` (auth refresh, TLS, proxies: all its own)."""

    def __init__(self, api_client: k8s_client.ApiClient) -> None:
        self._api = api_client
        self._api.user_agent = f"lws-operator/{__version__}"
        self.server = str(api_client.configuration.host)

    async def send(
        self,
        method: str,
        path: str,
        *,
        query: Sequence[tuple[str, str]],
        body: Any,
        content_type: str,
        stream_timeout: float | None = None,
    ) -> _Reply:
        timeout: aiohttp.ClientTimeout | None = None
        if stream_timeout is not None:
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=stream_timeout)
        try:
            verb, url, headers, payload, _ = await self._api.param_serialize(
                method=method,
                resource_path=path,
                query_params=list(query),
                header_params={"Accept": "application/json", "Content-Type": content_type},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = await self._api.call_api(verb, url, headers, payload, _request_timeout=timeout)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise ApiError(f"{method} {path}: cannot reach {self.server}: {exc}") from exc
        return _Reply(response)

    async def connection_details(self) -> ConnectionDetails:
        cfg = self._api.configuration
        token: str | None = None
        header = await cfg.get_api_key_with_prefix("BearerToken", alias="authorization")
        if header:
            token = str(header).removeprefix("Bearer ").strip()
        return ConnectionDetails(
            server=str(cfg.host),
            ca_path=cfg.ssl_ca_cert,
            insecure=not cfg.verify_ssl,
            token=token,
            certificate_path=cfg.cert_file,
            private_key_path=cfg.key_file,
        )

    async def close(self) -> None:
        await self._api.close()  # type: ignore[no-untyped-call]


def _read_environment_once(configuration: k8s_client.Configuration) -> None:
    """The proxy for the API server read once from the environment, and no ``~/.netrc``, as client-go does.

    The client's aiohttp session would otherwise look both up on every request, each in a worker thread:
    two thread hops per request. And netrc credentials for the API server's host clash with the
    kubeconfig's token: aiohttp refuses to send both, and every request failed.
    """
    if not configuration.proxy:
        configuration.proxy = environment_proxy(str(configuration.host))
    configuration.client_session_kwargs = {**(configuration.client_session_kwargs or {}), "trust_env": False}


def environment_proxy(server: str) -> str | None:
    """The proxy ``HTTPS_PROXY`` / ``HTTP_PROXY`` name for ``server`` (by its scheme), unless ``NO_PROXY``
    exempts its host; ``None`` when there is none."""
    parts = urlsplit(server)
    proxies = getproxies_environment()
    proxy = proxies.get(parts.scheme)
    if not proxy or proxy_bypass(parts.netloc):
        return None
    return proxy


async def connect(
    kubeconfig: str | None = None, context: str | None = None, observers: Sequence[ApiObserver] = ()
) -> Cluster:
    """A :class:`Cluster` for the configured cluster (see :func:`load_configuration`)."""
    configuration, info = await load_configuration(kubeconfig, context=context)
    _read_environment_once(configuration)
    transport = KubeTransport(k8s_client.ApiClient(configuration=configuration))
    return Cluster(transport, info=info, observers=observers)
