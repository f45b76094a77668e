"""``RealCluster``: a real Kubernetes control plane on 127.0.0.1, with kwok's fake nodes made from a topology.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok run as child processes built from the
Go wrapper modules in ``gomod/`` (``gomod/build.py``). The API server authorizes with ``Node,RBAC``, runs the
default admission plugins (mutating and validating webhooks among them) plus ``NodeRestriction`` and
``OwnerReferencesPermissionEnforcement``, and signs ServiceAccount tokens, so a token made with the
TokenRequest API authenticates as its ServiceAccount and RBAC decides what it may do. The controller
manager runs every default controller (StatefulSet, Deployment, ReplicaSet, garbage collector, namespace,
ServiceAccount, root CA publisher, node lifecycle, disruption...) with one ServiceAccount per controller.
The scheduler has one profile per scheduler name of the topology. kwok plays the kubelets of the topology's
nodes (labels, capacity, GPUs, TPUs, taints, as :mod:`lws.sim.topology` describes them, the same objects the
embedded cluster creates): their pods go Pending -> Running -> Ready after the topology's delays, without
pulling an image (``kwok-stages.yaml``).

Each process runs in a process group of its own, started with a parent-death signal, so nothing survives
the launcher: :meth:`RealCluster.stop` (also on ``with`` exit, on a test failure or Ctrl-C) terminates every
group and waits for it, and a launcher killed outright takes its children with it.

    with RealCluster(topology="standard") as plane:
        plane.write_kubeconfig("kubeconfig")      # system:masters, with client certificates
        ...
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import heapq
import http.client
import json
import logging
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import yaml

from lws.sim.topology import NodeSpec, NodeTiming, Topology, load_topology, node_object
from tests.realcluster.pki import Authority, KeyPair, signing_key

HERE = Path(__file__).resolve().parent
STAGES = HERE / "kwok-stages.yaml"
SERVICE_CIDR = "10.96.0.0/12"
SERVICE_CIDR_FIRST = "10.96.0.1"
ISSUER = "https://kubernetes.default.svc.cluster.local"
KWOK_NODE_ANNOTATION = "kwok.x-k8s.io/node"
#: Taints the control plane puts on a node until it has seen it Ready (TaintNodesByCondition).
STARTUP_TAINTS = frozenset({"node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"})
STOP_GRACE = 10.0
#: How long a start may take once the binaries are found, before the launcher gives up and says what it
#: waited for.
START_TIMEOUT = 120.0
ADMISSION_PLUGINS = "NodeRestriction,OwnerReferencesPermissionEnforcement"

#: The launcher's progress, one line per step of a start or a stop (``python -m tests.realcluster`` prints it
#: on stderr): what a caller waits on, and what tells a slow step from a stuck one.
log = logging.getLogger("tests.realcluster")


class PlaneError(RuntimeError):
    """The control plane could not start; the message names the component and ends with its log."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def binaries() -> dict[str, Path]:
    """The control plane's binaries, built from the Go wrapper modules where the cache lacks them."""
    from tests.realcluster.gomod.build import build_all

    return build_all()


_PR_SET_PDEATHSIG = 1


def _child_setup(parent: int) -> Callable[[], None]:
    """Runs in the child before exec: a process group of its own, killed when the launcher dies."""
    libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None

    def setup() -> None:
        os.setpgid(0, 0)
        if libc is not None:
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
            if os.getppid() != parent:  # the launcher died before prctl took effect
                os._exit(1)

    return setup


@dataclass
class Component:
    """One child process of the plane and where its output goes."""

    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen[bytes] | None = None

    def start(self, env: Mapping[str, str]) -> None:
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env),
                preexec_fn=_child_setup(os.getpid()),  # noqa: PLW1509 - only os/prctl calls, no locks
            )

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        """SIGTERM to the process group, SIGKILL after :data:`STOP_GRACE`; reaps the process."""
        process = self.process
        if process is None:
            return
        started = time.monotonic()
        how = "on SIGTERM"
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(STOP_GRACE)
        except subprocess.TimeoutExpired:
            how = f"killed after {STOP_GRACE:.0f}s"
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        # Anything the component forked into its group goes with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.info("stopped %s (pid %d) %s in %.1fs", self.name, process.pid, how, time.monotonic() - started)

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Credentials:
    """Files the components read: CA, serving and client certificates, the token signing keys."""

    directory: Path
    ca: Authority
    files: dict[str, Path] = field(default_factory=dict)

    def write(self, name: str, data: bytes, *, private: bool = False) -> Path:
        path = self.directory / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        self.files[name] = path
        return path

    def write_pair(self, name: str, pair: KeyPair) -> tuple[Path, Path]:
        return self.write(f"{name}.crt", pair.cert_pem), self.write(f"{name}.key", pair.key_pem, private=True)


def kubeconfig_document(
    server: str, ca_pem: bytes, *, user: str, client: KeyPair | None = None, token: str | None = None
) -> dict[str, Any]:
    """A kubeconfig for ``server`` that trusts ``ca_pem`` and authenticates with a client certificate or a
    bearer token."""
    credentials: dict[str, str] = {}
    if client is not None:
        credentials["client-certificate-data"] = base64.b64encode(client.cert_pem).decode()
        credentials["client-key-data"] = base64.b64encode(client.key_pem).decode()
    if token is not None:
        credentials["token"] = token
    cluster = {"server": server, "certificate-authority-data": base64.b64encode(ca_pem).decode()}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lws-real", "cluster": cluster}],
        "users": [{"name": user, "user": credentials}],
        "contexts": [{"name": "lws-real", "context": {"cluster": "lws-real", "user": user}}],
        "current-context": "lws-real",
    }


def write_private(path: Path, text: str) -> Path:
    """Write ``text`` to ``path`` (mode 0600), atomically."""
    path = Path(path).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}-", dir=path.parent)
    try:
        with os.fdopen(handle, "w") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def kwok_stages(specs: Sequence[NodeSpec]) -> list[dict[str, Any]]:
    """``kwok-stages.yaml`` for these nodes: the node stages once, and a copy of each pod stage per distinct
    node timing, selecting that timing's nodes and waiting its delays (the stage's ``lws.x-k8s.io/delay``
    annotation names which)."""
    templates = [doc for doc in yaml.safe_load_all(STAGES.read_text()) if doc]
    groups: dict[NodeTiming, list[str]] = {}
    for spec in specs:
        groups.setdefault(spec.timing, []).append(spec.name)
    delays = {
        "start": lambda t: t.start_delay,
        "ready": lambda t: t.ready_delay,
        "init": lambda t: t.init_delay,
    }
    stages = [t for t in templates if t["spec"]["resourceRef"]["kind"] != "Pod"]
    for index, (timing, nodes) in enumerate(groups.items()):
        for template in templates:
            if template["spec"]["resourceRef"]["kind"] != "Pod":
                continue
            stage = json.loads(json.dumps(template))
            which = stage["metadata"].pop("annotations", {}).get("lws.x-k8s.io/delay")
            milliseconds = round(delays[which](timing) * 1000) if which else 0
            if milliseconds:
                stage["spec"]["delay"] = {"durationMilliseconds": milliseconds}
            if len(groups) > 1:
                stage["metadata"]["name"] += f"-{index}"
                stage["spec"]["selector"]["matchExpressions"].append(
                    {"key": ".spec.nodeName", "operator": "In", "values": nodes}
                )
            stages.append(stage)
    return stages


def scheduler_configuration(kubeconfig: Path, names: Sequence[str]) -> dict[str, Any]:
    """A KubeSchedulerConfiguration with one default profile per scheduler name."""
    return {
        "apiVersion": "kubescheduler.config.k8s.io/v1",
        "kind": "KubeSchedulerConfiguration",
        "clientConnection": {"kubeconfig": str(kubeconfig), "qps": 200, "burst": 400},
        "leaderElection": {"leaderElect": False},
        "profiles": [{"schedulerName": name} for name in names],
    }


AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [{"level": "Metadata"}],
}


class RealCluster:
    """A real control plane with fake nodes. See the module docstring.

    :param topology: a topology file or the name of a shipped one (``lws/sim/topologies``), or several,
        whose nodes are all created (their names must not clash).
    :param bins: binary name -> path; default: built or found by ``gomod/build.py``.
    :param workdir: where certificates, data and logs go; default: a fresh temporary directory, removed at
        stop (kept when the plane failed to start, and named in the error).
    :param audit: write the API server's audit log (every request's user, verb, resource and the
        authorization decision, level ``Metadata``); read it with :meth:`audit_events`.
    """

    def __init__(
        self,
        topology: str | Path | Sequence[str | Path] = "standard",
        *,
        bins: Mapping[str, Path] | None = None,
        workdir: Path | None = None,
        audit: bool = False,
        start_timeout: float = START_TIMEOUT,
    ) -> None:
        sources = [topology] if isinstance(topology, str | Path) else list(topology)
        self.topologies: list[Topology] = [load_topology(t) for t in sources]
        self._bins = dict(bins) if bins is not None else None
        self._own_workdir = workdir is None
        self._workdir = workdir
        self.audit = audit
        self.start_timeout = start_timeout
        self.components: list[Component] = []
        #: The components of the last stop, kept so a caller can check that none survived.
        self.stopped: list[Component] = []
        self.port = 0
        self._credentials: Credentials | None = None
        self._admin: KeyPair | None = None
        self._context: ssl.SSLContext | None = None
        self._lock = threading.Lock()
        #: Deletes the fake nodes' pods being deleted, by uid (see :class:`PodReaper`); set while running.
        self.reaper: PodReaper | None = None

    # --- public surface ----------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    @property
    def workdir(self) -> Path:
        if self._workdir is None:
            raise PlaneError("the control plane is not started")
        return self._workdir

    @property
    def kubeconfig(self) -> Path:
        """The administrator's kubeconfig (``system:masters``), written at start."""
        return self.workdir / "admin.kubeconfig"

    @property
    def ca_pem(self) -> bytes:
        assert self._credentials is not None
        return self._credentials.ca.cert_pem

    def pids(self) -> list[int]:
        """The process ids of the plane's components, running or stopped."""
        return [c.pid for c in [*self.stopped, *self.components] if c.pid is not None]

    def node_specs(self) -> list[NodeSpec]:
        """Every node of the topologies, in order."""
        specs: list[NodeSpec] = []
        for topology in self.topologies:
            specs += topology.node_specs()
        return specs

    def scheduler_names(self) -> list[str]:
        names: list[str] = []
        for topology in self.topologies:
            names += [n for n in topology.scheduler_names if n not in names]
        return names

    def write_kubeconfig(self, path: str | Path) -> Path:
        """Write the administrator's kubeconfig to ``path`` (mode 0600)."""
        return write_private(Path(path), self.kubeconfig.read_text())

    def write_token_kubeconfig(self, path: str | Path, token: str, *, user: str = "token") -> Path:
        """Write a kubeconfig that authenticates with a bearer ``token`` (e.g. a ServiceAccount's)."""
        document = kubeconfig_document(self.url, self.ca_pem, user=user, token=token)
        return write_private(Path(path), yaml.safe_dump(document, sort_keys=False))

    def request(self, method: str, path: str, body: Any = None, *, content_type: str = "") -> Any:
        """One API request as the administrator; the decoded JSON answer. Raises on an error status."""
        status, data = self._call(method, path, body, content_type=content_type)
        if status >= 400:
            raise PlaneError(f"{method} {path}: HTTP {status}: {data[:500]!r}")
        return json.loads(data) if data else None

    def audit_events(self) -> Iterator[dict[str, Any]]:
        """The audit log's events so far (``audit=True``)."""
        path = self.workdir / "audit.log"
        if not self.audit:
            raise PlaneError("the audit log is off: start the plane with audit=True")
        with path.open() as stream:
            for line in stream:
                if line.strip():
                    yield json.loads(line)

    def __enter__(self) -> RealCluster:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # --- start and stop ----------------------------------------------------------------------------------

    def start(self) -> RealCluster:
        """Start every component and wait until the plane serves, its controllers run and the nodes are
        schedulable. On failure everything started is stopped and :class:`PlaneError` raised."""
        log.info("finding the binaries (built from gomod/ where the cache lacks them)")
        bins = self._bins if self._bins is not None else binaries()
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="lws-realcluster-"))
        self._workdir.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.start_timeout
        try:
            self._start(bins, deadline)
        except BaseException:
            self.stop(keep_workdir=True)
            raise
        return self

    def stop(self, *, keep_workdir: bool = False) -> None:
        """Stop every component (newest first), wait for each, and remove the work directory."""
        with self._lock:
            components, self.components = self.components, []
        reaper, self.reaper = self.reaper, None
        if reaper is not None:
            reaper.stop()
        if components:
            log.info("stopping %d components", len(components))
        for component in reversed(components):
            component.stop()
        self.stopped += components
        if reaper is not None:
            reaper.join(5)  # its watch ends with the API server
        if self._own_workdir and not keep_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def _start(self, bins: Mapping[str, Path], deadline: float) -> None:
        work = self.workdir
        (work / "logs").mkdir(exist_ok=True)
        pki = work / "pki"
        pki.mkdir(mode=0o700, exist_ok=True)
        ca = Authority.create()
        creds = self._credentials = Credentials(pki, ca)
        creds.write("ca.crt", ca.cert_pem)
        creds.write("ca.key", ca.key_pem, private=True)
        serving = ca.serving(
            "kube-apiserver",
            [
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ],
            ["127.0.0.1", SERVICE_CIDR_FIRST],
        )
        creds.write_pair("apiserver", serving)
        creds.write_pair("service-account", signing_key())
        self._admin = ca.client("lws-admin", ["system:masters"])
        self._context = ssl.create_default_context(cadata=ca.cert_pem.decode())
        cert_path, key_path = creds.write_pair("admin", self._admin)
        self._context.load_cert_chain(str(cert_path), str(key_path))

        self.port = free_port()
        etcd_port, peer_port = free_port(), free_port()
        write_private(
            self.kubeconfig,
            yaml.safe_dump(kubeconfig_document(self.url, ca.cert_pem, user="lws-admin", client=self._admin)),
        )
        kubeconfigs = {}
        for name, user in (
            ("controller-manager", "system:kube-controller-manager"),
            ("scheduler", "system:kube-scheduler"),
        ):
            document = kubeconfig_document(self.url, ca.cert_pem, user=user, client=ca.client(user))
            kubeconfigs[name] = write_private(work / f"{name}.kubeconfig", yaml.safe_dump(document))

        env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "GOFLAGS")}
        etcd_url = f"http://127.0.0.1:{etcd_port}"
        etcd = self._launch(
            "etcd",
            [
                str(bins["etcd"]),
                "--name=lws",
                f"--data-dir={work / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
                f"--initial-cluster=lws=http://127.0.0.1:{peer_port}",
                # A throw-away store: skip fsync, it is the slowest part of every write on a small disk.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
            env,
        )
        self._wait(etcd, deadline, lambda: _http_ok(f"{etcd_url}/health"), "etcd to answer /health")

        apiserver_args = [
            str(bins["kube-apiserver"]),
            f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            f"--tls-cert-file={creds.files['apiserver.crt']}",
            f"--tls-private-key-file={creds.files['apiserver.key']}",
            f"--client-ca-file={creds.files['ca.crt']}",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={creds.files['service-account.crt']}",
            f"--service-account-signing-key-file={creds.files['service-account.key']}",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            "--authorization-mode=Node,RBAC",
            f"--enable-admission-plugins={ADMISSION_PLUGINS}",
            "--allow-privileged=true",
            "--profiling=false",
            # The default/kubernetes Endpoints may not point at a loopback address; nothing here routes
            # Services anyway.
            "--endpoint-reconciler-type=none",
        ]
        if self.audit:
            policy = work / "audit-policy.yaml"
            policy.write_text(yaml.safe_dump(AUDIT_POLICY))
            apiserver_args += [
                f"--audit-policy-file={policy}",
                f"--audit-log-path={work / 'audit.log'}",
                "--audit-log-format=json",
                "--audit-log-mode=blocking",
            ]
        apiserver = self._launch("kube-apiserver", apiserver_args, env)
        self._wait(apiserver, deadline, lambda: self.status("GET", "/readyz") == 200, "/readyz to answer 200")

        controller_manager = self._launch(
            "kube-controller-manager",
            [
                str(bins["kube-controller-manager"]),
                f"--kubeconfig={kubeconfigs['controller-manager']}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={work / 'controller-manager'}",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={creds.files['service-account.key']}",
                f"--root-ca-file={creds.files['ca.crt']}",
                f"--cluster-signing-cert-file={creds.files['ca.crt']}",
                f"--cluster-signing-key-file={creds.files['ca.key']}",
                "--leader-elect=false",
                "--kube-api-qps=200",
                "--kube-api-burst=400",
            ],
            env,
        )
        scheduler_config = work / "scheduler.yaml"
        scheduler_config.write_text(
            yaml.safe_dump(scheduler_configuration(kubeconfigs["scheduler"], self.scheduler_names()))
        )
        scheduler = self._launch(
            "kube-scheduler",
            [
                str(bins["kube-scheduler"]),
                f"--config={scheduler_config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                f"--cert-dir={work / 'scheduler'}",
            ],
            env,
        )

        specs = self.node_specs()
        names = [s.name for s in specs]
        if len(set(names)) != len(names):
            raise PlaneError("the topologies name the same node twice: give their levels distinct names")
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        for spec in specs:
            node = node_object(spec, stamp)
            node["metadata"].setdefault("annotations", {})[KWOK_NODE_ANNOTATION] = "fake"
            node["spec"]["providerID"] = f"kwok://{spec.name}"
            status = node.pop("status")
            self.request("POST", "/api/v1/nodes", node)
            self.request(
                "PATCH",
                f"/api/v1/nodes/{spec.name}/status",
                {"status": status},
                content_type="application/merge-patch+json",
            )
        # The default StorageClass, provisioned by kwok (kwok-stages.yaml), as a cloud cluster has one.
        self.request(
            "POST",
            "/apis/storage.k8s.io/v1/storageclasses",
            {
                "metadata": {
                    "name": "standard",
                    "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
                },
                "provisioner": "kwok.x-k8s.io/volume",
                "reclaimPolicy": "Delete",
                "volumeBindingMode": "Immediate",
            },
        )
        self.reaper = PodReaper(self, {spec.name: spec.timing.start_delay for spec in specs})
        self.reaper.start()
        stages = work / "kwok.yaml"
        stages.write_text(yaml.safe_dump_all(kwok_stages(specs), sort_keys=False))
        kwok = self._launch(
            "kwok",
            [
                str(bins["kwok"]),
                f"--kubeconfig={self.kubeconfig}",
                f"--config={stages}",
                "--manage-all-nodes=false",
                f"--manage-nodes-with-annotation-selector={KWOK_NODE_ANNOTATION}=fake",
                "--node-lease-duration-seconds=40",
                f"--server-address=127.0.0.1:{free_port()}",
            ],
            env,
        )

        everyone = (apiserver, controller_manager, scheduler, kwok, etcd)
        self._wait(
            everyone,
            deadline,
            lambda: self.status("GET", "/api/v1/namespaces/default/serviceaccounts/default") == 200,
            "the ServiceAccount controller to create default/default",
        )
        self._wait(everyone, deadline, self._nodes_schedulable, "every node to be Ready and untainted")
        self._wait(
            everyone,
            deadline,
            lambda: _https_ok(self._insecure_probe(scheduler)),
            "the scheduler to answer /healthz",
        )

    # --- helpers -----------------------------------------------------------------------------------------

    def _launch(self, name: str, argv: list[str], env: Mapping[str, str]) -> Component:
        component = Component(name, argv, self.workdir / "logs" / f"{name}.log")
        with self._lock:
            self.components.append(component)
        component.start(env)
        log.info("started %s (pid %s)", name, component.pid)
        return component

    def _wait(
        self,
        components: Component | Sequence[Component],
        deadline: float,
        ready: Callable[[], bool],
        what: str,
    ) -> None:
        """Poll ``ready`` until it holds; fail as soon as one of ``components`` exits, or at ``deadline``."""
        watched = [components] if isinstance(components, Component) else list(components)
        pause = threading.Event()
        while True:
            for component in watched:
                if not component.alive():
                    raise PlaneError(
                        f"{component.name} exited (status {component.process and component.process.poll()}) "
                        f"while waiting for {what}; its log ({component.log}):\n{component.tail()}"
                    )
            try:
                if ready():
                    log.info("ready: %s", what)
                    return
            except (OSError, http.client.HTTPException):
                pass
            if time.monotonic() > deadline:
                logs = "\n\n".join(f"--- {c.name} ({c.log})\n{c.tail(15)}" for c in watched)
                raise PlaneError(f"timed out after {self.start_timeout:.0f}s waiting for {what}\n{logs}")
            pause.wait(0.1)

    def connection(self, timeout: float = 30) -> http.client.HTTPSConnection:
        """An HTTPS connection to the API server that authenticates as the administrator."""
        return http.client.HTTPSConnection("127.0.0.1", self.port, context=self._context, timeout=timeout)

    def status(self, method: str, path: str) -> int:
        """The HTTP status of one bodiless request as the administrator."""
        return self._call(method, path)[0]

    def _call(self, method: str, path: str, body: Any = None, *, content_type: str = "") -> tuple[int, bytes]:
        connection = self.connection()
        try:
            headers = {"Accept": "application/json"}
            payload = None
            if body is not None:
                payload = json.dumps(body).encode()
                headers["Content-Type"] = content_type or "application/json"
            connection.request(method, path, body=payload, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def _nodes_schedulable(self) -> bool:
        nodes = self.request("GET", "/api/v1/nodes")["items"]
        if len(nodes) != len(self.node_specs()):
            return False
        for node in nodes:
            taints = {t.get("key") for t in node.get("spec", {}).get("taints") or []}
            ready = any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in node.get("status", {}).get("conditions") or []
            )
            if taints & STARTUP_TAINTS or not ready:
                return False
        return True

    @staticmethod
    def _insecure_probe(component: Component) -> str:
        port = next(a.split("=", 1)[1] for a in component.argv if a.startswith("--secure-port="))
        return f"https://127.0.0.1:{port}/healthz"


class PodReaper:
    """The last step of a pod's deletion on the fake nodes, taken as a kubelet takes it.

    A pod being deleted stays (Terminating) until its node's kubelet has stopped it and deletes it for good:
    grace period 0, with the pod's uid as precondition, so that only that pod goes and never a successor of
    the same name (StatefulSet pods reuse names; kubernetes#25169). kwok's own deletion goes by name only:
    an event of a pod already gone that kwok handled late deleted its successor, a StatefulSet's new worker
    pod, and the operator rightly recreated the group (a rollout then took down more groups than its
    maxUnavailable; seen in CI under load). So kwok-stages.yaml has no delete stage and this does it: it
    watches the pods bound to the fake nodes and, once one is being deleted and has no finalizers left,
    deletes it after its node's start delay (what stopping its containers takes, as on the embedded
    cluster).
    """

    def __init__(self, plane: RealCluster, delays: Mapping[str, float]) -> None:
        self._plane = plane
        self._delays = dict(delays)
        self._stop = threading.Event()
        self._due: list[tuple[float, str, str, str]] = []
        self._seen: set[str] = set()
        #: The API server's answer to each deletion, by the uid it was for (200, 404 gone, 409 a successor).
        self.outcomes: dict[str, int] = {}
        self._ready = threading.Condition()
        self._threads = [
            threading.Thread(target=self._watch, name="pod reaper watch", daemon=True),
            threading.Thread(target=self._reap, name="pod reaper", daemon=True),
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._ready:
            self._ready.notify_all()

    def join(self, timeout: float) -> None:
        for thread in self._threads:
            thread.join(timeout)

    def _watch(self) -> None:
        version = ""
        bound = "fieldSelector=spec.nodeName%21%3D"  # spec.nodeName!= : bound to a node
        while not self._stop.is_set():
            try:
                if not version:
                    listing = self._plane.request("GET", f"/api/v1/pods?{bound}")
                    for pod in listing["items"]:
                        self.see(pod)
                    version = listing["metadata"]["resourceVersion"]
                connection = self._plane.connection(timeout=90)
                try:
                    connection.request(
                        "GET",
                        f"/api/v1/pods?{bound}&watch=1&allowWatchBookmarks=true&timeoutSeconds=60"
                        f"&resourceVersion={version}",
                    )
                    response = connection.getresponse()
                    if response.status != 200:
                        version = ""  # e.g. 410 Gone: list again
                        continue
                    for line in response:
                        if self._stop.is_set():
                            return
                        event = json.loads(line)
                        if event["type"] == "ERROR":
                            version = ""
                            break
                        version = event["object"]["metadata"].get("resourceVersion", version)
                        if event["type"] in ("ADDED", "MODIFIED"):
                            self.see(event["object"])
                finally:
                    connection.close()
            except (OSError, ValueError, KeyError, http.client.HTTPException, PlaneError):
                version = ""
                self._stop.wait(0.5)  # the API server restarting or stopping

    def see(self, pod: Mapping[str, Any]) -> None:
        """Take ``pod`` as the watch delivered it: due for deletion if it is being deleted, bound to a fake
        node and has no finalizers left (once per uid)."""
        meta = pod.get("metadata") or {}
        node = (pod.get("spec") or {}).get("nodeName")
        uid = str(meta.get("uid") or "")
        if not meta.get("deletionTimestamp") or meta.get("finalizers") or node not in self._delays:
            return
        if uid in self._seen:
            return
        self._seen.add(uid)
        with self._ready:
            due = time.monotonic() + self._delays[node]
            heapq.heappush(self._due, (due, str(meta["namespace"]), str(meta["name"]), uid))
            self._ready.notify_all()

    def _reap(self) -> None:
        while True:
            with self._ready:
                while not self._stop.is_set() and (not self._due or self._due[0][0] > time.monotonic()):
                    self._ready.wait(self._due[0][0] - time.monotonic() if self._due else None)
                if self._stop.is_set():
                    return
                _, namespace, name, uid = heapq.heappop(self._due)
            options = {
                "apiVersion": "v1",
                "kind": "DeleteOptions",
                "gracePeriodSeconds": 0,
                "preconditions": {"uid": uid},
            }
            # 404: gone already; 409: the name is a successor's now. Either way nothing is left to do.
            with contextlib.suppress(OSError, http.client.HTTPException):
                status, _ = self._plane._call(
                    "DELETE", f"/api/v1/namespaces/{namespace}/pods/{name}", options
                )
                self.outcomes[uid] = status


def restart_container(plane: RealCluster, namespace: str, pod: str, index: int = 0) -> None:
    """What a kubelet writes when one of a pod's containers has restarted: its count up, not ready (the
    container statuses are one atomic list, so all of them are written)."""
    stored = plane.request("GET", f"/api/v1/namespaces/{namespace}/pods/{pod}")
    statuses = stored["status"]["containerStatuses"]
    restarted = statuses[index]
    restarted["ready"] = False
    restarted["restartCount"] = int(restarted.get("restartCount", 0)) + 1
    restarted["lastState"] = {
        "terminated": {
            "exitCode": 137,
            "reason": "Error",
            "startedAt": restarted["state"]["running"]["startedAt"],
            "finishedAt": restarted["state"]["running"]["startedAt"],
        }
    }
    patch = {
        "status": {
            "conditions": [
                {"type": "ContainersReady", "status": "False"},
                {"type": "Ready", "status": "False"},
            ],
            "containerStatuses": statuses,
        }
    }
    plane.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{pod}/status",
        patch,
        content_type="application/strategic-merge-patch+json",
    )


def _http_ok(url: str) -> bool:
    host, _, rest = url.removeprefix("http://").partition("/")
    address, _, port = host.partition(":")
    connection = http.client.HTTPConnection(address, int(port), timeout=5)
    try:
        connection.request("GET", "/" + rest)
        return connection.getresponse().status == 200
    finally:
        connection.close()


def _https_ok(url: str) -> bool:
    """GET ``url`` over TLS without verifying the certificate (a component's self-signed one)."""
    host, _, rest = url.removeprefix("https://").partition("/")
    address, _, port = host.partition(":")
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    connection = http.client.HTTPSConnection(address, int(port), context=context, timeout=5)
    try:
        connection.request("GET", "/" + rest)
        return connection.getresponse().status == 200
    finally:
        connection.close()
