"""``landrec digitize scan`` and ``landrec digitize district`` (being written)."""

from __future__ import annotations

import click


@click.command()
def scan() -> None:
    """Digitize one scanned sheet (being written)."""
    raise click.UsageError("digitize scan is not available yet")


@click.command()
def district() -> None:
    """Digitize every sheet of a district (being written)."""
    raise click.UsageError("digitize district is not available yet")
