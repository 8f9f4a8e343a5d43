"""Options and output helpers shared by every ``landrec`` command."""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from pydantic import BaseModel
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """landrec settings from the environment (prefix ``LANDREC_``)."""

    model_config = SettingsConfigDict(env_prefix="LANDREC_")

    database_url: str = "landrec.gpkg"


def get_settings() -> Settings:
    """Read the settings now (never at import time)."""
    return Settings()


def _default_db() -> str:
    return get_settings().database_url


db_option = click.option(
    "--db", "db", default=_default_db, show_default="$LANDREC_DATABASE_URL or landrec.gpkg",
    help="The store: a GeoPackage path (embedded default) or a postgresql:// URL.",
)
json_option = click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
overwrite_option = click.option("--overwrite", is_flag=True, help="Replace the output if it exists.")
crs_option = click.option(
    "--crs", "crs", required=True,
    help="CRS: vn2000:<province>, vn2000:tm3:<meridian>, EPSG code, PROJ string or WKT.",
)


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "isoformat"):
        return obj.isoformat()
    if hasattr(obj, "__geo_interface__"):
        return obj.__geo_interface__
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"cannot write {type(obj).__name__} as JSON")


def emit(data: Any, as_json: bool, text: Callable[[Any], str] | None = None) -> None:
    """Print a result: JSON when asked, else the human form from ``text``."""
    if as_json:
        click.echo(json.dumps(data, default=_jsonable, ensure_ascii=False, indent=2))
    else:
        click.echo(text(data) if text else str(data))


def progress_enabled() -> bool:
    """Progress bars only on a terminal, and never when -q was given."""
    ctx = click.get_current_context(silent=True)
    quiet = bool(ctx and ctx.find_root().params.get("quiet"))
    return sys.stderr.isatty() and not quiet and not os.environ.get("CI")
