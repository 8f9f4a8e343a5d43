"""``landrec sample``: the synthetic sample district and large benchmark districts."""

from __future__ import annotations

import click
from tqdm import tqdm

from api.cli.options import overwrite_option, progress_enabled
from gis.io import Outputs, to_vector
from sample_data.generate import DEFAULT_SEED, generate
from sample_data.large import large_parcels


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


@sample.command("large")
@click.option("--parcels", "count", type=click.IntRange(min=1), default=1_000_000, show_default=True,
              help="Number of parcels.")
@click.option("--out", required=True, type=click.Path(dir_okay=False), help="Output GeoPackage.")
@click.option("--seed", type=int, default=1, show_default=True, help="Random seed.")
@overwrite_option
def large_cmd(count: int, out: str, seed: int, overwrite: bool) -> None:
    """Write a large district (vectors only, layer ``parcels``) for benchmarks."""
    with Outputs(overwrite=overwrite) as outputs:
        tmp = outputs.path(out)
        with tqdm(total=count, unit="parcel", disable=not progress_enabled()) as bar:
            for i, chunk in enumerate(large_parcels(count, seed=seed)):
                to_vector(chunk, tmp, "parcels", mode="w" if i == 0 else "a", use_arrow=True)
                bar.update(len(chunk))
    click.echo(f"{count} parcels in {out}")
