"""The citizens' web map: static HTML/CSS/JS served at ``/map``.

The page's own files live in :data:`STATIC_DIR` (committed).  Third-party code comes
from the npm registry like pip packages: ``package.json`` and ``package-lock.json`` are
committed, ``node_modules/`` and the copies the page loads (``static/vendor/``) are
not.  :func:`ensure_assets` installs them (``npm ci``) when missing and writes the
land-use MapLibre style generated from the one table beside them.  :func:`mount` adds
the map to the landrec server.
"""

from __future__ import annotations

import fcntl
import json
import mimetypes
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from gis.errors import MissingFileError
from styles import maplibre_style

__all__ = ["NODE_MODULES", "STATIC_DIR", "STYLE_FILE", "VENDOR_DIR", "WEB_DIR", "ensure_assets", "mount"]

WEB_DIR = Path(__file__).resolve().parent
STATIC_DIR = WEB_DIR / "static"
VENDOR_DIR = STATIC_DIR / "vendor"
NODE_MODULES = WEB_DIR / "node_modules"
#: the generated land-use style the page loads (relative to STATIC_DIR)
STYLE_FILE = "vendor/landuse-style.json"
#: what the page loads from npm packages: vendored name -> path under node_modules
VENDORED = {
    "maplibre-gl.mjs": "maplibre-gl/dist/maplibre-gl.mjs",
    "maplibre-gl-worker.mjs": "maplibre-gl/dist/maplibre-gl-worker.mjs",
    "maplibre-gl.css": "maplibre-gl/dist/maplibre-gl.css",
    "maplibre-gl-LICENSE.txt": "maplibre-gl/LICENSE.txt",
}


@contextmanager
def _locked() -> Iterator[None]:
    """One installer at a time (several server workers may start together)."""
    with open(WEB_DIR / ".assets.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _npm_ci() -> None:
    npm = shutil.which("npm")
    if npm is None:
        raise MissingFileError("npm is not installed: the web map's JavaScript cannot be installed",
                               hint="install Node.js 20 and npm (Debian: apt-get install nodejs npm)")
    proc = subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB_DIR, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-5:])
        raise MissingFileError(f"npm ci failed in {WEB_DIR}: {tail}",
                               hint="check that the npm registry is reachable, then run again")


def _write_if_changed(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def ensure_assets() -> Path:
    """Install the page's npm dependencies when missing and refresh ``static/vendor/``.

    Runs ``npm ci --no-audit --no-fund`` in ``api/web`` only when ``node_modules`` lacks
    a vendored file; copies the files the page needs into ``static/vendor/``; writes the
    MapLibre land-use style (:data:`STYLE_FILE`).  Returns :data:`STATIC_DIR`.
    """
    with _locked():
        if not all((NODE_MODULES / src).is_file() for src in VENDORED.values()):
            _npm_ci()
        VENDOR_DIR.mkdir(exist_ok=True)
        for name, src in VENDORED.items():
            _write_if_changed(VENDOR_DIR / name, (NODE_MODULES / src).read_bytes())
        style = json.dumps(maplibre_style(), ensure_ascii=False, indent=1).encode("utf-8")
        _write_if_changed(STATIC_DIR / STYLE_FILE, style)
    return STATIC_DIR


def mount(app: Any) -> None:
    """Serve the map at ``/map/`` (``/map`` redirects there) on a Starlette app."""
    from starlette.responses import RedirectResponse
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    ensure_assets()
    mimetypes.add_type("text/javascript", ".mjs")  # module scripts need a JavaScript type

    async def to_slash(request):
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(url=f"map/{query}", status_code=308)  # relative: works behind a proxy

    app.router.routes.append(Route("/map", to_slash, methods=["GET", "HEAD"]))
    app.router.routes.append(Mount("/map", app=StaticFiles(directory=STATIC_DIR, html=True), name="map"))
