"""``landrec digitize``: scanned sheets (scan, district) and legacy drawings (legacy)."""

from __future__ import annotations

import click

from api.cli.digitize_legacy import legacy
from api.cli.digitize_scan import district, scan


@click.group()
def digitize() -> None:
    """Turn scanned sheets and legacy drawings into parcels."""


digitize.add_command(scan)
digitize.add_command(district)
digitize.add_command(legacy)
