"""``lws crd``: print the LeaderWorkerSet CustomResourceDefinition."""

from __future__ import annotations

import click

from lws.api.crd import build_crd, crd_yaml
from lws.cli.options import load, plugin_options


@click.command("crd")
@plugin_options
def command(
    config_path: str | None, enable_plugins: tuple[str, ...], disable_plugins: tuple[str, ...]
) -> None:
    """Print the LeaderWorkerSet CRD as YAML, for `kubectl apply --server-side -f -`.

    The startupPolicy and restartPolicy enums hold upstream's values plus those the enabled plugins
    implement, so the CRD accepts every manifest upstream's does.
    """
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    crd = build_crd(startup_policies=hooks.startup_values, restart_policies=hooks.restart_values)
    click.echo(crd_yaml(crd), nl=False)
