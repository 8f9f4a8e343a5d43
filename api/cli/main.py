"""The ``landrec`` entry point: one group, subcommands loaded when used."""

from __future__ import annotations

import importlib
import logging
import sys

import click

from gis import __version__
from gis.errors import LandrecError

#: command name -> (module:attribute, one-line help); modules load only when used
COMMANDS: dict[str, tuple[str, str]] = {
    "crs": ("api.cli.crs:crs", "Look up coordinate reference systems (VN-2000, HN-72, EPSG)."),
    "sheet": ("api.cli.sheet:sheet", "Map-sheet numbers of Circular 25/2014: extent and lookup."),
    "sample": ("api.cli.sample:sample", "Generate the synthetic sample district and its ground truth."),
    "digitize": ("api.cli.digitize:digitize", "Turn scanned sheets and legacy drawings into parcels."),
    "qa": ("api.cli.qa:qa", "Check the topology of a parcel layer and report what needs a human."),
    "init": ("api.cli.cadastre:init", "Create the cadastre schema in a store."),
    "load": ("api.cli.cadastre:load", "Load digitized parcels into the cadastre, keeping history."),
    "parcel": ("api.cli.cadastre:parcel", "Look up and edit parcels (show, split, merge, history...)."),
    "serve": ("api.cli.serve:serve", "Serve OGC API Features, Tiles and Processes and the web map."),
    "style": ("api.cli.style:style", "Write land-use styles (SLD, QML, MapLibre) from the one table."),
    "demo": ("api.cli.demo:demo", "Digitize the sample district into a store and serve it."),
}


class LandrecGroup(click.Group):
    """A group that loads its subcommands lazily and turns expected errors into messages."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(n for n, (target, _) in COMMANDS.items() if _importable(target))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module, _, attr = COMMANDS[name][0].partition(":")
        try:
            return getattr(importlib.import_module(module), attr)
        except ModuleNotFoundError as exc:
            if exc.name == module:
                return None
            raise

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(n, COMMANDS[n][1]) for n in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LandrecError as exc:
            click.echo(f"error: {exc.message}", err=True)
            if exc.hint:
                click.echo(f"  hint: {exc.hint}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted; nothing was left half-written", err=True)
            ctx.exit(130)


def _importable(target: str) -> bool:
    return importlib.util.find_spec(target.partition(":")[0]) is not None


@click.group(cls=LandrecGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="landrec")
@click.option("-v", "--verbose", count=True, help="More log output (-vv for debug).")
@click.option("-q", "--quiet", is_flag=True, help="Only errors; no progress bars.")
def cli(verbose: int, quiet: bool) -> None:
    """landrec: land-records digitization and spatial services.

    Digitize scanned cadastral sheets and legacy drawings, keep the cadastre with its
    history in a GeoPackage or PostGIS, and serve it over OGC APIs.
    """
    level = logging.ERROR if quiet else (logging.WARNING, logging.INFO, logging.DEBUG)[min(verbose, 2)]
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="landrec")
