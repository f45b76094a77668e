"""``startupPolicy: LeaderResolvable``: workers start at once, but their containers wait for the leader's DNS.

With ``LeaderCreated`` a worker may start before its leader's address resolves (a slow image pull on the
leader is enough), and a worker that connects at startup crashes, which with a recreating restart policy
rebuilds the whole group, again and again (upstream issue #746). ``LeaderReady`` avoids that only by
holding back the worker StatefulSet until the leader is Ready, so workers pull their images late.

``LeaderResolvable`` creates the workers as soon as the leader pod exists, like ``LeaderCreated``, and gives
every worker pod an init container, first among its init containers, that waits until
``$(LWS_LEADER_ADDRESS)`` resolves in the cluster DNS. The leader's record appears in the group's headless
Service as soon as the leader pod has an IP address (the operator creates those Services with
``publishNotReadyAddresses: true``, as upstream does), so workers pull their images and wait in parallel with
the leader, and start their main containers only once they can reach it. The wait loop tries
``getent hosts`` when the image has it, else ``nslookup``, on both the short address and its fully qualified
form (``<address>.svc.<cluster-domain>``), because some ``nslookup`` builds ignore the DNS search path.

Settings (annotations on the LeaderWorkerSet, read only with ``startupPolicy: LeaderResolvable``; they are
copied onto the pod templates, so changing them rolls the groups):

``leader-address.lws.x-k8s.io/image`` (default ``busybox:1.37``)
    The image of the init container; it needs ``sh``, ``date``, ``sleep`` and ``getent`` or ``nslookup``.
``leader-address.lws.x-k8s.io/timeout-seconds`` (default ``600``)
    How long to wait before the init container fails (the kubelet then retries it, and a recreating restart
    policy recreates the group). ``0`` waits forever.
``leader-address.lws.x-k8s.io/cluster-domain`` (default ``cluster.local``)
    The cluster's DNS domain, for the fully qualified form.

Example::

    spec:
      startupPolicy: LeaderResolvable

The init container runs as an unprivileged user with every capability dropped and a read-only root file
system, so it passes the ``restricted`` Pod Security Standard, and it requests 10m CPU and 16Mi memory.
It needs cluster DNS for the headless Service, as any LeaderWorkerSet does.
"""

from __future__ import annotations

from typing import Any

from lws.plugin import (
    FieldError,
    GroupContext,
    LeaderWorkerSet,
    PodContext,
    PolicyRegistry,
    Settings,
    WorkerGate,
    annotation_path,
    hookimpl,
)

LEADER_RESOLVABLE = "LeaderResolvable"
INIT_CONTAINER_NAME = "lws-wait-for-leader"

SETTINGS = Settings("leader_address")
IMAGE = SETTINGS.text(
    "image",
    default="busybox:1.37",
    help="image of the wait-for-leader init container (needs sh, getent or nslookup)",
    rule="must be an image reference without spaces, such as busybox:1.37",
)
TIMEOUT = SETTINGS.integer(
    "timeout-seconds", default=600, help="seconds to wait for the leader's address (0: forever)"
)
CLUSTER_DOMAIN = SETTINGS.text(
    "cluster-domain",
    default="cluster.local",
    help="the cluster DNS domain, for the fully qualified leader address",
    pattern=r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?",
    rule="must be a DNS domain such as cluster.local",
)

# The script reads its inputs from the environment, so no setting is ever pasted into shell code.
WAIT_SCRIPT = """\
resolves() {
  if command -v getent >/dev/null 2>&1; then
    getent hosts "$1" >/dev/null 2>&1
  else
    nslookup "$1" 2>/dev/null | grep -q '^Name:'
  fi
}
start=$(date +%s)
until resolves "$LWS_LEADER_ADDRESS" || resolves "$LWS_LEADER_ADDRESS.svc.$LWS_CLUSTER_DOMAIN"; do
  waited=$(( $(date +%s) - start ))
  if [ "$LWS_WAIT_TIMEOUT_SECONDS" -gt 0 ] && [ "$waited" -ge "$LWS_WAIT_TIMEOUT_SECONDS" ]; then
    echo "leader address $LWS_LEADER_ADDRESS did not resolve within ${LWS_WAIT_TIMEOUT_SECONDS}s" >&2
    exit 1
  fi
  echo "waiting for leader address $LWS_LEADER_ADDRESS to resolve (${waited}s)"
  sleep 2
done
echo "leader address $LWS_LEADER_ADDRESS resolves"
"""


class LeaderResolvable:
    """Workers are created with the leader, like ``LeaderCreated``; their init container does the waiting."""

    def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        return None


def wait_container(image: str, timeout: int, cluster_domain: str) -> dict[str, Any]:
    """The init container that blocks a worker until its leader's address resolves."""
    return {
        "name": INIT_CONTAINER_NAME,
        "image": image,
        "command": ["sh", "-c", WAIT_SCRIPT],
        "env": [
            {"name": "LWS_WAIT_TIMEOUT_SECONDS", "value": str(timeout)},
            {"name": "LWS_CLUSTER_DOMAIN", "value": cluster_domain},
        ],
        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}, "limits": {"memory": "64Mi"}},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
    }


@hookimpl
def lws_register_policies(registry: PolicyRegistry) -> None:
    registry.startup_policy(LEADER_RESOLVABLE, LeaderResolvable())


@hookimpl
def lws_pod_annotations(lws: LeaderWorkerSet) -> dict[str, str] | None:
    """With ``LeaderResolvable``, tell the pod webhook (which sees only pods) to add the wait."""
    if lws.startup_policy != LEADER_RESOLVABLE:
        return None
    annotations = lws.annotations
    return {
        IMAGE.key: IMAGE.require(annotations),
        TIMEOUT.key: str(TIMEOUT.require(annotations)),
        CLUSTER_DOMAIN.key: CLUSTER_DOMAIN.require(annotations),
    }


@hookimpl
def lws_mutate_pod(pod: dict[str, Any], ctx: PodContext) -> None:
    """Put the wait first among a worker's init containers (once: re-admission adds nothing)."""
    if ctx.is_leader or IMAGE.key not in ctx.annotations:
        return
    spec = pod.setdefault("spec", {})
    init = spec.get("initContainers") or []
    if any(x.get("name") == INIT_CONTAINER_NAME for x in init):
        return
    waiter = wait_container(
        IMAGE.require(ctx.annotations),
        TIMEOUT.require(ctx.annotations),
        CLUSTER_DOMAIN.require(ctx.annotations),
    )
    spec["initContainers"] = [waiter, *init]


@hookimpl
def lws_validate(lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
    """Well-formed settings, set only where they take effect, and no clash with a user init container."""
    errors = SETTINGS.validate(lws.annotations)
    if lws.startup_policy != LEADER_RESOLVABLE:
        for key in sorted(SETTINGS.present(lws.annotations)):
            errors.append(
                FieldError(
                    annotation_path(key),
                    f"has no effect unless spec.startupPolicy is {LEADER_RESOLVABLE}: remove it or set "
                    f"spec.startupPolicy: {LEADER_RESOLVABLE}",
                    type="Forbidden",
                )
            )
        return errors
    init = (lws.worker_template.get("spec") or {}).get("initContainers") or []
    for i, container in enumerate(init):
        if container.get("name") == INIT_CONTAINER_NAME:
            errors.append(
                FieldError(
                    f"spec.leaderWorkerTemplate.workerTemplate.spec.initContainers[{i}].name",
                    f"is reserved for the init container that startupPolicy {LEADER_RESOLVABLE} adds: "
                    "rename this one",
                    value=INIT_CONTAINER_NAME,
                )
            )
    return errors
