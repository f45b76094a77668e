"""Build the plugin manager and call hooks through a typed façade.

Every command (``run``, ``render``, ``validate``, ``demo``, ``simulate``) builds its plugins here, from
the same selection (config file, ``--enable-plugin``/``--disable-plugin``), so what ``render`` shows is
what the operator does.

The façade calls hooks through pluggy (``pm.hook.<name>(...)``): pluggy orders the implementations, stops
at the first result where the spec says ``firstresult``, runs wrappers, and its own monitoring
(``pm.add_hookcall_monitoring``, ``pm.enable_tracing``) sees every call. What pluggy does not say — which
plugin returned what, how long each took, which one failed — each plugin's implementations report
themselves: they are registered through :class:`_Registered`, which wraps each (wrappers aside) to time it,
credit its result to the plugin, and turn its exception into a :class:`PluginError` naming the plugin.
"""

from __future__ import annotations

import copy
import functools
import importlib.metadata
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import Any

import pluggy

from lws.api.errors import FieldError
from lws.api.model import LeaderWorkerSet
from lws.hooks import specs
from lws.hooks.types import (
    RUNNING_PLUGIN,
    ExtraObject,
    GroupContext,
    HookObserver,
    PodContext,
    PolicyRegistry,
    RestartDecision,
    RestartEvent,
    RestartPolicy,
    StartupPolicy,
    WorkerGate,
)

ENTRY_POINT_GROUP = specs.PROJECT_NAME
BUILTIN_PACKAGE = "lws_builtins"
#: A plugin module that sets ``LWS_DEFAULT_ENABLED = False`` loads only when named in ``enable``.
DEFAULT_ENABLED_ATTR = "LWS_DEFAULT_ENABLED"


class PluginError(RuntimeError):
    """A plugin could not be loaded, or the plugin selection names something that is not installed."""


@dataclass(frozen=True)
class PluginSelection:
    """Which installed plugins to use. Names are entry-point names (``lws plugins`` lists them)."""

    enable: tuple[str, ...] = ()
    disable: tuple[str, ...] = ()
    load_entrypoints: bool = True
    #: Extra plugin objects registered after the entry points (tests, embedding), as (name, object).
    extra: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class PluginInfo:
    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    enabled: bool
    reason: str = ""


@dataclass
class _Call:
    """One façade call in progress: what each implementation returned, reported as each one ends."""

    hook: str
    observer: HookObserver | None
    results: list[tuple[str, Any]] = field(default_factory=list)

    def ran(self, plugin: str, start: float, error: BaseException | None) -> None:
        if self.observer is not None:
            self.observer(self.hook, plugin, time.perf_counter() - start, error)


_CALL: ContextVar[_Call | None] = ContextVar("lws_hook_call", default=None)


def _attributed(plugin_name: str, hook: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` (a plugin's implementation of ``hook``) reporting to the façade call it runs in."""

    @functools.wraps(function)  # pluggy reads the markers and the argument names through the wrapper
    def run(*args: Any) -> Any:
        call = _CALL.get()
        token = RUNNING_PLUGIN.set(plugin_name)
        start = time.perf_counter()
        try:
            result = function(*args)
        except Exception as exc:
            if call is not None:
                call.ran(plugin_name, start, exc)
            if isinstance(exc, PluginError):
                raise
            raise PluginError(f"plugin {plugin_name!r} failed in {hook}: {exc}") from exc
        finally:
            RUNNING_PLUGIN.reset(token)
        if call is not None:
            call.ran(plugin_name, start, None)
            if result is not None:
                call.results.append((plugin_name, result))
        return result

    return run


class _Registered:
    """What the plugin manager holds for one plugin: its hook implementations, each reporting to the façade.

    pluggy registers this object instead of the plugin itself; the markers (``tryfirst``, ``wrapper``...)
    and argument names are the plugin's own. Wrappers are kept as they are: they wrap a whole call.
    """

    def __init__(self, plugin: object, name: str, pm: pluggy.PluginManager) -> None:
        self.lws_wrapped_plugin = plugin
        for attr in dir(plugin):
            opts = pm.parse_hookimpl_opts(plugin, attr)
            if opts is None:
                continue
            function = getattr(plugin, attr)
            wrapper = opts.get("wrapper") or opts.get("hookwrapper")
            setattr(self, attr, function if wrapper else _attributed(name, attr, function))

    def __repr__(self) -> str:
        return repr(self.lws_wrapped_plugin)


@dataclass
class Hooks:
    """Typed, instrumented calls into the enabled plugins, through pluggy.

    ``observer`` hears of every implementation that ran: hook, plugin, seconds, error.
    """

    pm: pluggy.PluginManager
    policies: PolicyRegistry
    observer: HookObserver | None = None
    infos: tuple[PluginInfo, ...] = field(default_factory=tuple)

    # --- generic calling ---------------------------------------------------------------------------------
    def _call(self, name: str, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call hook ``name`` through pluggy; its non-``None`` results in call order, with their plugins.

        A ``firstresult`` spec gives at most one. Results a wrapper replaced are credited to ``"*"``.
        """
        caller = getattr(self.pm.hook, name)
        call = _Call(name, self.observer)
        token = _CALL.set(call)
        try:
            outcome = caller(**kwargs)
        finally:
            _CALL.reset(token)
        if caller.spec is not None and caller.spec.opts.get("firstresult"):
            results = [] if outcome is None else [outcome]
        else:
            results = list(outcome)
        credited = call.results
        if len(credited) == len(results) and all(r is c for r, (_, c) in zip(results, credited, strict=True)):
            return credited
        return [("*", r) for r in results]

    def plugin(self, name: str) -> object | None:
        """The plugin object (module, class or instance) registered under ``name``, if it is enabled."""
        registered = self.pm.get_plugin(name)
        return registered.lws_wrapped_plugin if isinstance(registered, _Registered) else registered

    def _observe(self, hook: str, plugin: str, start: float, error: BaseException | None) -> None:
        if self.observer is not None:
            self.observer(hook, plugin, time.perf_counter() - start, error)

    # --- typed façade ------------------------------------------------------------------------------------
    def default(self, lws: dict[str, Any]) -> None:
        self._call("lws_default", lws=lws)

    def validate(self, lws: LeaderWorkerSet, old: LeaderWorkerSet | None) -> list[FieldError]:
        errors: list[FieldError] = []
        for plugin, errs in self._call("lws_validate", lws=lws, old=old):
            errors.extend(replace(e, origin=plugin) for e in errs)
        return errors

    def pod_annotations(self, lws: LeaderWorkerSet) -> dict[str, str]:
        merged: dict[str, str] = {}
        for _plugin, found in self._call("lws_pod_annotations", lws=lws):
            for key, value in found.items():
                merged.setdefault(key, str(value))
        return merged

    def mutate_pod(self, pod: dict[str, Any], ctx: PodContext) -> None:
        self._call("lws_mutate_pod", pod=pod, ctx=ctx)

    def workers_gate(self, ctx: GroupContext) -> WorkerGate | None:
        """Why the group's workers must wait, or ``None`` (see :meth:`decide_workers`)."""
        return self.decide_workers(ctx)[0]

    def decide_workers(self, ctx: GroupContext) -> tuple[WorkerGate | None, str]:
        """The set's startup policy, then ``lws_workers_gate``: (the gate that holds, who said so), or
        ``(None, "lws")`` when the workers may be created."""
        value = ctx.lws.startup_policy
        entry = self.policies.startup.get(value)
        if entry is not None:
            plugin, policy = entry
            gate = self._timed(f"startupPolicy={value}", lambda: policy.workers_gate(ctx))
            if gate is not None:
                assert isinstance(gate, WorkerGate)
                return gate, plugin
        for plugin, found in self._call("lws_workers_gate", ctx=ctx):  # firstresult: one at most
            assert isinstance(found, WorkerGate)
            return found, plugin
        return None, "lws"

    def worker_template(self, template: dict[str, Any], ctx: GroupContext) -> None:
        self._call("lws_worker_template", template=template, ctx=ctx)

    def group_objects(self, ctx: GroupContext) -> list[tuple[str, ExtraObject]]:
        return [(p, o) for p, objs in self._call("lws_group_objects", ctx=ctx) for o in objs]

    def set_objects(self, lws: LeaderWorkerSet) -> list[tuple[str, ExtraObject]]:
        return [(p, o) for p, objs in self._call("lws_set_objects", lws=lws) for o in objs]

    def decide_restart(self, event: RestartEvent) -> tuple[RestartDecision, str]:
        """Ask the set's restart policy, then let reviewers bound it. Returns (decision, who decided)."""
        value = event.lws.restart_policy
        entry = self.policies.restart.get(value)
        if entry is None:
            return RestartDecision.ignore(f"no enabled plugin implements restartPolicy {value!r}"), "lws"
        plugin, policy = entry
        decision = self._timed(f"restartPolicy={value}", lambda: policy.decide(event))
        for reviewer, reviewed in self._call("lws_review_restart", decision=decision, event=event):
            return reviewed, reviewer
        return decision, plugin

    # --- policies ----------------------------------------------------------------------------------------
    def startup_policy(self, value: str) -> StartupPolicy | None:
        entry = self.policies.startup.get(value)
        return entry[1] if entry else None

    def restart_policy(self, value: str) -> RestartPolicy | None:
        entry = self.policies.restart.get(value)
        return entry[1] if entry else None

    @property
    def startup_values(self) -> list[str]:
        return sorted(self.policies.startup)

    @property
    def restart_values(self) -> list[str]:
        return sorted(self.policies.restart)

    def _timed(self, what: str, fn: Any) -> Any:
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as exc:
            self._observe("policy", what, start, exc)
            raise PluginError(f"{what} failed: {exc}") from exc
        self._observe("policy", what, start, None)
        return result


def make_hooks(selection: PluginSelection = PluginSelection(), observer: HookObserver | None = None) -> Hooks:
    """Load the selected plugins and return the façade. Raises :class:`PluginError` with a fix on failure."""
    pm = pluggy.PluginManager(specs.PROJECT_NAME)
    pm.add_hookspecs(specs)
    available = _entry_points() if selection.load_entrypoints else {}
    known = set(available) | {name for name, _ in selection.extra}
    for name in (*selection.enable, *selection.disable):
        if name not in known:
            raise PluginError(
                f"unknown plugin {name!r}; installed plugins: {', '.join(sorted(known)) or '(none)'} "
                f"(see `lws plugins`)"
            )
    infos: list[PluginInfo] = []
    # Built-ins register first, so that under pluggy's LIFO order a third-party implementation runs
    # before a built-in one of the same rank; within each group the order is the plugin name's.
    for name, ep in sorted(available.items(), key=lambda item: (not _is_builtin(item[1]), item[0])):
        dist = ep.dist.name if ep.dist else "?"
        version = ep.dist.version if ep.dist else "?"
        if name in selection.disable:
            infos.append(PluginInfo(name, dist, version, (), False, "disabled"))
            continue
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin {name!r} (entry point {ep.value!r} of {dist} {version}) failed to load: "
                f"{type(exc).__name__}: {exc}. Fix or uninstall it, or skip it with --disable-plugin {name}"
            ) from exc
        if not getattr(plugin, DEFAULT_ENABLED_ATTR, True) and name not in selection.enable:
            infos.append(PluginInfo(name, dist, version, _hook_names_of(plugin), False, "opt-in"))
            continue
        _register(pm, plugin, name)
        infos.append(PluginInfo(name, dist, version, _hook_names_of(plugin), True))
    for name, plugin in selection.extra:
        if name in selection.disable:
            continue
        _register(pm, plugin, name)
        infos.append(PluginInfo(name, "(embedded)", "", _hook_names_of(plugin), True))
    try:
        pm.check_pending()
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {exc.plugin!r} is invalid: {exc}") from exc
    registry = PolicyRegistry()
    hooks = Hooks(pm=pm, policies=registry, observer=observer, infos=tuple(infos))
    hooks._call("lws_register_policies", registry=registry)  # each claim is credited to RUNNING_PLUGIN
    return hooks


def _register(pm: pluggy.PluginManager, plugin: object, name: str) -> None:
    try:
        pm.register(_Registered(plugin, name, pm), name=name)
    except pluggy.PluginValidationError as exc:
        raise PluginError(f"plugin {name!r} is invalid: {exc}") from exc
    except ValueError as exc:
        raise PluginError(f"plugin {name!r} could not be registered: {exc}") from exc


def _is_builtin(ep: importlib.metadata.EntryPoint) -> bool:
    return ep.value.split(".", 1)[0] == BUILTIN_PACKAGE


def _entry_points() -> dict[str, importlib.metadata.EntryPoint]:
    found: dict[str, importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _hook_names_of(plugin: object) -> tuple[str, ...]:
    return tuple(sorted(n for n in dir(plugin) if n.startswith("lws_") and callable(getattr(plugin, n))))


def hook_names() -> Sequence[str]:
    """Names of every hook specification, for docs and tests."""
    return sorted(n for n in dir(specs) if n.startswith("lws_"))


def deep_copy(obj: Mapping[str, Any]) -> dict[str, Any]:
    """A private copy to hand to a plugin that mutates in place."""
    return copy.deepcopy(dict(obj))


def plugin_names(infos: Iterable[PluginInfo]) -> list[str]:
    return [i.name for i in infos if i.enabled]
