"""The ``lws`` command line: one entry point, one module per subcommand."""

from __future__ import annotations

import importlib
import importlib.util

import click

from lws import __version__

# Subcommand modules, each exposing ``command`` (a click command). Imported lazily so that
# ``lws render`` does not pay for the operator's or the embedded cluster's imports.
_SUBCOMMANDS: dict[str, tuple[str, str]] = {
    "render": ("lws.cli.render", "Print every object a LeaderWorkerSet creates, as the operator would."),
    "validate": ("lws.cli.validate", "Check LeaderWorkerSet manifests with the admission rules."),
    "crd": ("lws.cli.crd", "Print the LeaderWorkerSet CustomResourceDefinition."),
    "plugins": ("lws.cli.plugins", "List installed plugins, their hooks and versions."),
    "cluster": ("lws.cli.cluster", "Run the embedded Kubernetes-compatible cluster."),
    "run": ("lws.cli.run", "Run the operator against a cluster."),
    "demo": ("lws.cli.demo", "Watch the operator run a vLLM LeaderWorkerSet on the embedded cluster."),
    "manifests": ("lws.cli.manifests", "Print the install manifests for `kubectl apply -f -`."),
    "simulate": ("lws.cli.simulate", "Show where each group's pods would land on a topology."),
}


class _LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _) in _SUBCOMMANDS.items() if _exists(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = _SUBCOMMANDS.get(cmd_name)
        if entry is None or not _exists(entry[0]):
            return None
        command = importlib.import_module(entry[0]).command
        assert isinstance(command, click.Command)
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, help_) for name, (module, help_) in _SUBCOMMANDS.items() if _exists(module)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _exists(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="lws")
def cli() -> None:
    """lws: LeaderWorkerSet for Kubernetes, in Python, drop-in compatible with kubernetes-sigs/lws.

    Groups of pods (one leader plus workers) that are scaled, rolled out, placed and restarted as one
    unit, for multi-node inference servers such as vLLM and SGLang.
    """


def main() -> None:
    cli(prog_name="lws")


if __name__ == "__main__":
    main()
