"""``landrec digitize legacy`` (being written)."""

from __future__ import annotations

import click


@click.command()
def legacy() -> None:
    """Import legacy DGN/DXF/Shapefile/MapInfo drawings (being written)."""
    raise click.UsageError("digitize legacy is not available yet")
