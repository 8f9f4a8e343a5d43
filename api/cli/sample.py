"""``landrec sample``: the synthetic sample district and large benchmark districts."""

from __future__ import annotations

import click

from api.cli.options import overwrite_option, progress_enabled
from sample_data.generate import DEFAULT_SEED, generate


@click.group()
def sample() -> None:
    """Generate the synthetic sample district and its ground truth."""


@sample.command("generate")
@click.option("--out", required=True, type=click.Path(file_okay=False), help="Output directory.")
@click.option("--seed", type=int, default=DEFAULT_SEED, show_default=True, help="Random seed.")
@overwrite_option
def generate_cmd(out: str, seed: int, overwrite: bool) -> None:
    """Write the sample district (truth, base layers, scans, DGN/DXF) into OUT."""
    say = (lambda m: click.echo(m, err=True)) if progress_enabled() else None
    manifest = generate(out, seed=seed, overwrite=overwrite, progress=say)
    click.echo(f"{manifest['parcel_count']} parcels on {len(manifest['sheets'])} sheets in {out}")
