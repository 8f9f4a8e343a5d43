"""``landrec style``: land-use styles (SLD, QML, MapLibre) from the one table."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli.options import emit, json_option, overwrite_option
from gis.io import Outputs, require_file
from styles import FORMATS, embed_styles, style_text


@click.group()
def style() -> None:
    """Write land-use styles (SLD, QML, MapLibre) from the one table."""


@style.command("write")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True,
              help="sld (SLD 1.1, GeoServer), qml (QGIS) or maplibre (style JSON).")
@click.option("--out", "out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="The style file to write.")
@click.option("--layer", default="parcels", show_default=True,
              help="Layer name: the SLD NamedLayer, the MapLibre source-layer.")
@click.option("--tiles-url", default=None,
              help="MapLibre vector-tile URL template (default: landrec's OGC API Tiles path).")
@overwrite_option
@json_option
def write(fmt: str, out: Path, layer: str, tiles_url: str | None, overwrite: bool, as_json: bool) -> None:
    """Write the land-use style in one format to OUT."""
    content = style_text(fmt, layer=layer, tiles_url=tiles_url)
    with Outputs(overwrite=overwrite) as outputs:
        outputs.path(out).write_text(content, encoding="utf-8")
    emit({"format": fmt, "out": out, "bytes": len(content.encode("utf-8"))}, as_json,
         lambda d: f"wrote {d['format']} style to {d['out']} ({d['bytes']} bytes)")


@style.command("embed")
@click.argument("store", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--layer", "layers", multiple=True,
              help="Layer to style (repeatable); default: every layer with a land_use column.")
@json_option
def embed(store: Path, layers: tuple[str, ...], as_json: bool) -> None:
    """Embed the QML and SLD in STORE.gpkg's layer_styles, so QGIS opens it styled."""
    styled = embed_styles(require_file(store, "GeoPackage"), layers=layers or None)
    emit({"store": store, "layers": styled}, as_json,
         lambda d: f"styled {', '.join(d['layers'])} in {d['store']}")
