"""Vector IO in ``read_*`` / ``to_*`` pairs, and all-or-nothing outputs.

Every command that writes files goes through :class:`Outputs`: each output is written
to a temporary file beside its final path and renamed into place only when the whole
job succeeded, so a failure leaves nothing half-written and never clobbers a file the
user did not ask to replace.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pyogrio
import shapely
import shapely.geometry
from pyogrio.errors import DataSourceError, DataLayerError

from gis.errors import FormatError, InputError, MissingFileError, OutputExistsError

__all__ = ["Outputs", "read_vector", "to_vector", "require_file", "list_layers", "read_geojson_geometry"]


def require_file(path: str | os.PathLike, what: str = "file") -> Path:
    """The path, if it names a readable file; else :class:`MissingFileError` naming it."""
    p = Path(path)
    if not p.exists():
        raise MissingFileError(f"{what} {p} does not exist", hint="check the path")
    if p.is_dir():
        raise MissingFileError(f"{what} {p} is a directory, not a file")
    if not os.access(p, os.R_OK):
        raise MissingFileError(f"{what} {p} cannot be read (permission denied)")
    return p


class Outputs:
    """A set of output files committed together.

    >>> with Outputs(overwrite=False) as out:          # doctest: +SKIP
    ...     tmp = out.path("parcels.gpkg")             # write here
    ...     tmp_report = out.path("parcels.qa.html")
    ... # both renamed into place here, or neither if the block raised
    """

    def __init__(self, *, overwrite: bool = False) -> None:
        self.overwrite = overwrite
        self._pending: list[tuple[Path, Path]] = []
        self._tmpdirs: list[Path] = []

    def path(self, final: str | os.PathLike) -> Path:
        """A temporary path to write ``final`` to; refuses an existing ``final``."""
        final = Path(final)
        if final.exists() and not self.overwrite:
            raise OutputExistsError(f"output {final} exists", hint="pass --overwrite to replace it")
        if any(f == final for f, _ in self._pending):
            raise ValueError(f"output {final} requested twice")
        final.parent.mkdir(parents=True, exist_ok=True)
        tmpdir = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
        self._tmpdirs.append(tmpdir)
        tmp = tmpdir / final.name
        self._pending.append((final, tmp))
        return tmp

    def commit(self) -> list[Path]:
        """Move every written output into place; return the final paths."""
        done = []
        for final, tmp in self._pending:
            if not tmp.exists():
                continue
            if final.is_dir() and not tmp.is_dir():
                shutil.rmtree(final)
            os.replace(tmp, final)
            done.append(final)
        self._cleanup()
        return done

    def _cleanup(self) -> None:
        for d in self._tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
        self._tmpdirs.clear()
        self._pending.clear()

    def __enter__(self) -> Outputs:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self._cleanup()


def list_layers(path: str | os.PathLike) -> list[str]:
    """The layer names of a vector dataset."""
    p = require_file(path, "dataset")
    try:
        return [str(name) for name, _ in pyogrio.list_layers(p)]
    except DataSourceError as exc:
        raise FormatError(f"{p} cannot be read as vector data: {exc}") from None


def read_vector(path: str | os.PathLike, layer: str | None = None, **kwargs) -> gpd.GeoDataFrame:
    """Read one layer of a vector dataset (any format GDAL reads) as a GeoDataFrame."""
    p = require_file(path, "dataset")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return gpd.read_file(p, layer=layer, engine="pyogrio", **kwargs)
    except DataLayerError as exc:
        raise FormatError(f"{p} has no layer {layer!r}",
                          hint=f"layers are: {', '.join(list_layers(p))}") from exc
    except DataSourceError as exc:
        raise FormatError(f"{p} cannot be read as vector data: {exc}") from None


def to_vector(df: gpd.GeoDataFrame, path: str | os.PathLike, layer: str, **kwargs) -> None:
    """Write a GeoDataFrame as one layer (GeoPackage unless the suffix says otherwise).

    Plain write: for a user-facing output wrap the call in :class:`Outputs`.
    """
    p = Path(path)
    driver = "GPKG" if p.suffix.lower() == ".gpkg" else None
    with _fixed_date():
        df.to_file(p, layer=layer, driver=driver, engine="pyogrio", **kwargs)


@contextmanager
def _fixed_date() -> Iterator[None]:
    """Let ``SOURCE_DATE_EPOCH`` pin GeoPackage timestamps, for reproducible files."""
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    if not epoch:
        yield
        return
    from datetime import datetime, timezone

    stamp = datetime.fromtimestamp(int(epoch), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    old = pyogrio.get_gdal_config_option("OGR_CURRENT_DATE")
    pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": stamp})
    try:
        yield
    finally:
        pyogrio.set_gdal_config_options({"OGR_CURRENT_DATE": old})


def read_geojson_geometry(obj: object) -> shapely.Geometry:
    """A non-empty shapely geometry from a GeoJSON geometry object (a dict).

    Raises :class:`~gis.errors.InputError` naming what is wrong: not a geometry object,
    malformed (bad type, coordinates that do not nest), or empty.

    >>> read_geojson_geometry({"type": "Point", "coordinates": [105.8, 21.0]}).wkt
    'POINT (105.8 21)'
    """
    if not isinstance(obj, dict) or "type" not in obj:
        raise InputError("not a GeoJSON geometry object", hint='e.g. {"type": "Point", "coordinates": [105.8, 21.0]}')
    try:
        geom = shapely.geometry.shape(obj)
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, shapely.errors.ShapelyError):
        raise InputError("malformed GeoJSON geometry", hint="check its type and how its coordinates nest") from None
    if geom.is_empty:
        raise InputError("empty GeoJSON geometry", hint="give at least one coordinate")
    return geom
