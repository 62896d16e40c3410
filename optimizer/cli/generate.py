"""``restake generate``: a seeded synthetic instance."""

from __future__ import annotations

from typing import Any

import click

from optimizer.cli.errors import guarded
from optimizer.cli.options import out_argument, seed_option

ALL_FEATURES: dict[str, Any] = {
    "pools": 0.3, "min_security": 0.2, "corruption": True, "opt_in": True, "cvar": "limit",
    "turnover": True, "required": 2, "holder_share": True, "worst_case_k": 2,
}
"""What ``restake generate --all`` switches on (options given explicitly still win)."""


@click.command()
@out_argument
@click.option("--stakes", type=click.IntRange(1, 1_000_000), required=True)
@click.option("--services", type=click.IntRange(1, 10_000), required=True)
@seed_option()
@click.option("--density", type=click.FloatRange(0, 1, min_open=True), default=0.3,
              show_default=True, help="Target fraction of (stake, service) pairs eligible.")
@click.option("--assets", type=click.IntRange(1, 8), help="Number of assets (default by size).")
@click.option("--groups/--no-groups", default=True, show_default=True,
              help="Correlation groups with exposure limits.")
@click.option("--capacities/--no-capacities", default=True, show_default=True)
@click.option("--holder-share", is_flag=True, help="Holder-share caps with external stake.")
@click.option("--required", type=click.IntRange(min=0), default=0, show_default=True,
              help="Services that must reach a (feasible) minimum security.")
@click.option("--worst-case-k", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--pools", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              metavar="FRACTION", help="Fraction of services paid by a reward pool shared "
              "with external stake.")
@click.option("--min-security", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              metavar="FRACTION", help="Fraction of optional services with a minimum "
              "security (secured or not at all).")
@click.option("--corruption", is_flag=True,
              help="Profit from corruption and attack thresholds on some services.")
@click.option("--opt-in", is_flag=True,
              help="Opt-in costs, minimum allocations and holders' max services.")
@click.option("--cvar", type=click.Choice(["limit", "aversion"]), is_flag=False,
              flag_value="limit", help="CVaR of the slashing loss as a limit or in the "
              "objective (risk aversion); --cvar alone means limit.")
@click.option("--scenarios", type=click.IntRange(min=1), default=200, show_default=True,
              metavar="N", help="Scenarios the solver samples for CVaR.")
@click.option("--turnover", is_flag=True,
              help="A current allocation with turnover cost and limit.")
@click.option("--all", "all_features", is_flag=True,
              help="Every feature on: --pools 0.3 --min-security 0.2 --corruption --opt-in "
              "--cvar limit --turnover --required 2 --holder-share --worst-case-k 2 "
              "(options given explicitly win).")
@click.option("--name", help="Instance name (default from the arguments).")
@click.pass_context
@guarded
def generate(context: click.Context, out: str, stakes: int, services: int, seed: int,
             density: float, assets: int | None, groups: bool, capacities: bool,
             holder_share: bool, required: int, worst_case_k: int, pools: float,
             min_security: float, corruption: bool, opt_in: bool, cvar: str | None,
             scenarios: int, turnover: bool, all_features: bool, name: str | None) -> None:
    """Write a seeded synthetic instance to OUT (.toml, .json, or a CSV folder)."""
    from optimizer.instance.generate import generate_instance

    features = chosen_features(context, all_features)
    try:
        instance = generate_instance(stakes, services, seed=seed, density=density,
                                     assets=assets, groups=groups, capacities=capacities,
                                     scenarios=scenarios, name=name, **features)
    except ValueError as error:  # arguments that do not fit together, e.g. --required > M
        raise click.UsageError(str(error)) from None
    instance.write(out)
    size = instance.size()
    click.echo(f"wrote {out}: {size['stakes']} stakes, {size['services']} services, "
               f"{size['pairs']} eligible pairs", err=True)


def chosen_features(context: click.Context, all_features: bool) -> dict[str, Any]:
    """The features asked for: as given, or with ``--all`` those of ``ALL_FEATURES``.

    Parameters
    ----------
    context : click.Context
        The running ``generate`` command's context (its parameters and their sources).
    all_features : bool
        ``--all``: every feature not given explicitly takes its ``ALL_FEATURES`` value.

    Returns
    -------
    dict
        Keyword arguments of `optimizer.instance.generate.generate_instance`.
    """
    features = {key: context.params[key] for key in ALL_FEATURES}
    if all_features:
        for key, value in ALL_FEATURES.items():
            source = context.get_parameter_source(key)
            if source is None or source is click.core.ParameterSource.DEFAULT:
                features[key] = value
    return features
