"""What kube-controller-manager puts in every namespace: the ``default`` ServiceAccount (serviceaccount
controller) and the ``kube-root-ca.crt`` ConfigMap with the cluster's CA bundle (root-ca-cert-publisher).

Both are created as soon as a namespace exists (the initial ones included) and recreated if deleted, as
there; nothing is created in a namespace being deleted. The embedded cluster serves plain HTTP, so its "CA" is
a self-signed certificate made for the purpose: clients may read it, nothing is verified with it.
"""

from __future__ import annotations

import datetime
from functools import cache
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from lws.sim.apiserver import APIServer
from lws.sim.errors import APIError
from lws.sim.resources import GroupResource
from lws.sim.store import DELETED, StoredEvent
from lws.sim.workqueue import WorkQueue, run_workers

ROOT_CA_CONFIG_MAP = "kube-root-ca.crt"
DEFAULT_SERVICE_ACCOUNT = "default"
_DESCRIPTION = (
    "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints "
    "such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across "
    "distributions of Kubernetes clusters."
)
_NAMESPACES: GroupResource = ("", "namespaces")
_CONFIG_MAPS: GroupResource = ("", "configmaps")
_SERVICE_ACCOUNTS: GroupResource = ("", "serviceaccounts")
_KEPT = ((_CONFIG_MAPS, ROOT_CA_CONFIG_MAP), (_SERVICE_ACCOUNTS, DEFAULT_SERVICE_ACCOUNT))


@cache
def cluster_ca_pem() -> str:
    """A self-signed CA certificate (PEM), made once per process, standing in for the cluster's CA."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "lws-sim-ca")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


async def run_namespace_defaults(api: APIServer) -> None:
    """Run until cancelled: keep ``default`` and ``kube-root-ca.crt`` in every active namespace."""
    queue: WorkQueue[str] = WorkQueue()

    def on_event(gr: GroupResource, event: StoredEvent) -> None:
        meta = event.obj["metadata"]
        if gr == _NAMESPACES and event.type != DELETED and not meta.get("deletionTimestamp"):
            queue.add(meta["name"])
        elif event.type == DELETED and (gr, meta["name"]) in _KEPT and meta.get("namespace"):
            queue.add(meta["namespace"])

    api.store.add_listener(on_event)
    try:
        for namespace in api.store.items(_NAMESPACES):
            queue.add(namespace["metadata"]["name"])
        await run_workers("namespace defaults", queue, lambda name: _ensure(api, name))
    finally:
        api.store.remove_listener(on_event)


async def _ensure(api: APIServer, name: str) -> None:
    namespace = api.store.get(_NAMESPACES, "", name)
    if namespace is None or namespace["metadata"].get("deletionTimestamp"):
        return
    wanted: tuple[tuple[tuple[str, str, str], GroupResource, dict[str, Any]], ...] = (
        (("", "v1", "serviceaccounts"), _SERVICE_ACCOUNTS, {"metadata": {"name": DEFAULT_SERVICE_ACCOUNT}}),
        (
            ("", "v1", "configmaps"),
            _CONFIG_MAPS,
            {
                "metadata": {
                    "name": ROOT_CA_CONFIG_MAP,
                    "annotations": {"kubernetes.io/description": _DESCRIPTION},
                },
                "data": {"ca.crt": cluster_ca_pem()},
            },
        ),
    )
    for gvr, gr, body in wanted:
        if api.store.get(gr, name, body["metadata"]["name"]) is not None:
            continue
        try:
            await api.create(gvr, name, body, field_manager="kube-controller-manager")
        except APIError as exc:
            if exc.code == 409:
                continue  # created meanwhile
            if exc.code in (403, 404):
                return  # the namespace started terminating or went away
            raise
