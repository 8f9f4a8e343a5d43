"""``landrec serve``: OGC API Features, Tiles and Processes (and the web map) for a store."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import click

from api.cli.options import db_option, overwrite_option


@click.command()
@db_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--workers", default=1, show_default=True, type=click.IntRange(1, 64), help="uvicorn worker processes.")
@click.option("--base-url", default=None, help="Public URL of the service (default http://HOST:PORT).")
@click.option("--write-config", "write_config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write the generated, validated pygeoapi configuration to FILE and exit.")
@overwrite_option
def serve(db: str, host: str, port: int, workers: int, base_url: str | None, write_config: Path | None,
          overwrite: bool) -> None:
    """Serve the cadastre over OGC APIs (pygeoapi with landrec's plugins).

    Anonymous users read the public collections; changes need a land officer's token
    (LANDREC_API_TOKENS='{"<token>": "land_officer"}').  For production, write the
    configuration with --write-config and run more --workers behind a proxy.
    """
    from api.server import config as config_mod
    from gis.io import Outputs

    base = (base_url or f"http://{host}:{port}").rstrip("/")
    workdir = Path(tempfile.mkdtemp(prefix="landrec-serve-"))
    if write_config is not None:
        cfg = config_mod.build_config(db, base_url=base, workdir=workdir, host=host, port=port)
        config_mod.validate(cfg)
        with Outputs(overwrite=overwrite) as out:
            out.path(write_config).write_text(config_mod.to_yaml(cfg), encoding="utf-8")
        click.echo(f"wrote {write_config} ({len(cfg['resources'])} resources)")
        return
    import uvicorn

    os.environ["LANDREC_DATABASE_URL"] = db
    os.environ["LANDREC_BASE_URL"] = base
    os.environ["LANDREC_SERVE_DIR"] = str(workdir)
    # check the store and the configuration before the workers start
    cfg = config_mod.build_config(db, base_url=base, workdir=workdir, host=host, port=port)
    config_mod.validate(cfg)
    click.echo(f"landrec: serving {len(cfg['resources'])} resources at {base}/ (map at {base}/map)", err=True)
    uvicorn.run("api.server.app:create_app_from_env", factory=True, host=host, port=port, workers=workers,
                log_level="warning", access_log=False)
