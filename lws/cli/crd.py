"""``lws crd``: print a CustomResourceDefinition of the LeaderWorkerSet or DisaggregatedSet API, or
OpenShift's LeaderWorkerSetOperator (the operator's configuration object)."""

from __future__ import annotations

import click

from lws.api import constants as c
from lws.api import management as m
from lws.api.crd import build_crd, crd_yaml
from lws.api.disaggregated import constants as d
from lws.api.disaggregated.crd import (
    build_disaggregatedset_crd,
    build_rolescaler_crd,
    disaggregated_crd_yaml,
)
from lws.cli.options import load, plugin_options

KINDS = (c.KIND, d.KIND, d.SCALER_KIND, m.KIND)


@click.command("crd")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default=c.KIND,
    show_default=True,
    help="Which CRD to print.",
)
@plugin_options
def command(
    kind: str,
    config_path: str | None,
    enable_plugins: tuple[str, ...],
    disable_plugins: tuple[str, ...],
) -> None:
    """Print a CRD as YAML, for `kubectl apply --server-side -f -`.

    The startupPolicy and restartPolicy enums (of a LeaderWorkerSet, and of each DisaggregatedSet role)
    hold upstream's values plus those the enabled plugins implement, so the CRD accepts every manifest
    upstream's does.
    """
    _, hooks = load(config_path, enable_plugins, disable_plugins)
    if kind == d.KIND:
        text = disaggregated_crd_yaml(
            build_disaggregatedset_crd(
                startup_policies=hooks.startup_values, restart_policies=hooks.restart_values
            )
        )
    elif kind == d.SCALER_KIND:
        text = disaggregated_crd_yaml(build_rolescaler_crd())
    elif kind == m.KIND:
        text = m.operator_crd_yaml()
    else:
        text = crd_yaml(
            build_crd(startup_policies=hooks.startup_values, restart_policies=hooks.restart_values)
        )
    click.echo(text, nl=False)
