"""``landrec demo``: the main job on the sample district, end to end.

Digitize every scanned sheet of the sample district (scores against its truth), load
the parcels and the consumers' base layers into the embedded GeoPackage store, style
it for QGIS, print a summary, and serve the OGC API and the web map.  Each step is a
library call; a re-run resumes (finished sheets are skipped, a load of the same data
changes nothing).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli.options import progress_enabled

SAMPLE = Path(__file__).resolve().parents[2] / "sample_data" / "district"


@click.command()
@click.option("--out", "out_dir", default="out", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="Folder for the digitized sheets and the store.")
@click.option("--sample", "sample", default=SAMPLE, show_default="sample_data/district",
              type=click.Path(exists=True, file_okay=False, path_type=Path), help="The district folder.")
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 64), help="Sheets digitized at once.")
@click.option("--no-serve", is_flag=True, help="Stop after the batch (for scripts).")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535), help="Port to serve on.")
@click.pass_context
def demo(ctx: click.Context, out_dir: Path, sample: Path, workers: int, no_serve: bool, port: int) -> None:
    """Digitize the sample district into OUT/landrec.gpkg, print its scores, and serve it."""
    from cadastre.load import load_file
    from cadastre.reference import load_reference
    from cadastre.register import open_register
    from digitize.district import DISTRICT_OUT, run_district
    from styles.embed import embed_styles

    manifest = json.loads((sample / "district.json").read_text(encoding="utf-8"))
    crs = manifest["crs"]
    store = out_dir / "landrec.gpkg"
    digitized = out_dir / "digitized"

    click.echo(f"1/3 digitizing {len(manifest['sheets'])} scanned sheets of {sample} -> {digitized}/", err=True)
    result = run_district(sample, digitized, crs=crs, workers=workers, truth=True, progress=progress_enabled())
    failed = [r for r in result["sheets"] if r["status"] == "failed"]

    click.echo(f"2/3 loading {digitized / DISTRICT_OUT} into {store}", err=True)
    report = load_file(store, result["district"]["path"], hold_ambiguous=True) if "district" in result else None
    ref = {}
    if report is not None:
        reg = open_register(store)
        try:
            ref = {**load_reference(reg, sample / "truth"), **load_reference(reg, sample / "base")}
        finally:
            reg.dispose()
    embed_styles(store)

    click.echo("3/3 summary", err=True)
    click.echo(_summary(result, report, ref))
    if failed:
        for r in failed:
            click.echo(f"sheet {r['sheet']} failed: {r['error']}", err=True)
        ctx.exit(1)
    if no_serve:
        return
    from api.cli.serve import serve

    ctx.invoke(serve, db=str(store), host="127.0.0.1", port=port, workers=1, base_url=None,
               write_config=None, overwrite=False)


def _summary(result: dict, report, ref: dict) -> str:
    """Parcels per sheet and the scores against the truth (whole across sheet edges), as a table."""
    head = (f"{'sheet':<16}{'status':<9}{'parcels':>8}{'truth':>7}{'PQ':>7}{'numbers':>9}"
            f"{'H med m':>9}{'H p95 m':>9}{'targets':>9}{'loaded':>8}{'held':>6}")
    lines = [head, "-" * len(head)]
    loaded = {s.sheet_no: s.inserted + s.changed + s.unchanged for s in report.sheets} if report else {}
    held = report.held_by_sheet if report else {}
    for r in result["sheets"]:
        s = r.get("scores_joined") or r.get("scores") or {}
        no = r.get("sheet_no", "")
        lines.append(
            f"{r['sheet']:<16}{r['status']:<9}{r.get('parcels') or 0:>8}{s.get('true_parcels', ''):>7}"
            f"{_f(s.get('pq')):>7}{_f(s.get('number_accuracy')):>9}{_f(s.get('hausdorff_median_m')):>9}"
            f"{_f(s.get('hausdorff_p95_m')):>9}{('met' if s.get('targets_met') else 'MISSED') if s else '':>9}"
            f"{loaded.get(no, 0):>8}{held.get(no, 0):>6}")
    lines.append("")
    if "district" in result:
        d = result["district"]
        lines.append(f"{d['joined_across_edges']} parcels cut by a sheet edge were made whole from their pieces on "
                     f"the neighbouring sheets ({d['path']}, picture {d['picture']}); the scores are of the whole parcels")
    lines.append("held: parcels whose number was not read or is repeated on its sheet; they wait for a "
                 "land officer (see each sheet's .qa.html)")
    lines.append("base layers: " + ", ".join(f"{k} {v}" for k, v in ref.items()))
    return "\n".join(lines)


def _f(v: float | None) -> str:
    return "" if v is None else f"{v:.3f}"
