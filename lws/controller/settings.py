"""Everything ``lws run`` decides before the operator starts, as one immutable value.

Built by :mod:`lws.cli.run` from flags, environment and the configuration file; tests and embedders build
it directly. Defaults are upstream's.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field

from lws.api import constants as c
from lws.cluster.tls import WEBHOOK_CERT_DIR


def default_identity() -> str:
    """``<pod or host name>_<random>``, as client-go's leader election names candidates."""
    base = os.environ.get("POD_NAME") or socket.gethostname() or "lws"
    return f"{base}_{uuid.uuid4()}"


@dataclass(frozen=True)
class OperatorSettings:
    """How one operator replica runs.

    :ivar namespaces: namespaces to serve; ``None`` serves all of them.
    :ivar operator_namespace: where the Lease (and, in a pod, the webhook Service) live; ``None``: the
        pod's namespace, else ``lws-system``.
    :ivar webhook_port: port the webhook server listens on; 0 picks a free one.
    :ivar webhook_host: address to listen on; ``None``: 0.0.0.0 in a pod, 127.0.0.1 outside.
    :ivar webhook_url: base URL the API server calls; ``None``: the Service in a pod, else
        ``https://127.0.0.1:<port>``.
    :ivar health_host: address ``/healthz`` and ``/readyz`` listen on; ``None``: every interface in a pod
        (the kubelet probes the pod's IP), loopback outside one (a developer's machine, where nothing
        else needs them).
    :ivar health_port: ``/healthz`` and ``/readyz``; 0 picks a free one, ``None`` serves none.
    :ivar internal_certs: make the webhook certificate in memory and keep its CA in the webhook
        configurations (upstream's ``internalCertManagement.enable``); ``False``: serve ``tls.crt`` and
        ``tls.key`` of ``webhook_cert_dir`` (mounted by cert-manager or OLM, who also fill in the
        ``caBundle``), reloaded when they rotate, and leave the webhook configurations alone.
    :ivar cert_check_interval: seconds between checks of mounted certificate files for a rotation.
    :ivar disaggregatedset_webhook: register ``vdisaggregatedset.kb.io`` with the other webhooks;
        ``False`` (upstream's chart with ``enableDisaggregatedSet: false``) leaves it out, and
        DisaggregatedSets are checked by their CRD's schema only; they are reconciled either way.
    """

    kubeconfig: str | None = None
    context: str | None = None
    namespaces: tuple[str, ...] | None = None
    operator_namespace: str | None = None
    identity: str = field(default_factory=default_identity)
    workers: int = 4
    field_manager: str = c.FIELD_MANAGER

    leader_elect: bool = True
    lease_name: str = c.LEADER_ELECTION_LEASE
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0

    webhooks: bool = True
    webhook_port: int | None = None
    webhook_host: str | None = None
    webhook_url: str | None = None
    webhook_service: str = c.WEBHOOK_SERVICE_NAME
    internal_certs: bool = True
    webhook_cert_dir: str = WEBHOOK_CERT_DIR
    cert_check_interval: float = 10.0
    disaggregatedset_webhook: bool = True

    health_host: str | None = None
    health_port: int | None = 8081

    #: Seconds between full resyncs of every set (a safety net; events drive everything).
    resync_period: float = 600.0
    #: The least seconds between two reconciles of one set: while its groups change, the set's rollout
    #: and status are looked at (and its status written) at most this often, not once per change.
    set_interval: float = 0.25
    #: The least seconds between two status writes of one set that change only its counts (replicas,
    #: readyReplicas, updatedReplicas) while its groups come and go: the last counts are written when
    #: the interval ends. A change of its conditions (Available, Progressing...) is written at once.
    status_interval: float = 1.0
