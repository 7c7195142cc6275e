"""`pinlake demo`: the main job on embedded defaults."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from pinlake.cli.app import LibraryOption, app, console, handle_errors, library_path
from pinlake.util import interrupt

if TYPE_CHECKING:  # pragma: no cover
    from pinlake.integrations.prefect import TemporaryServer


@app.command("demo")
@handle_errors
def demo(
    assets: Path = typer.Option(Path("./assets"), "--assets", help="Where the demo images are generated."),
    registry: Path | None = typer.Option(None, "--registry", "-r", help="recipes/datasets.yaml (default: the repository's)."),
    flows: bool = typer.Option(True, "--flows/--no-flows", help="Run the Prefect flows (default) or only the folder build."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="On failure: Prefect's traceback and where the flow run is."),
    library: Path | None = LibraryOption,
) -> None:
    """Generate demo images (no download), build them, and run the refresh flows end to end.

    Steps: health images folder → dataset `health_images`; then as Prefect flows (a temporary local
    server unless PREFECT_API_URL is set): ingest into the lake → lock each registered recipe → build →
    stats → preview → catalog → tag; then a second refresh that changes nothing.

    Example: pinlake demo --library ./library --assets ./assets
    """
    lib = library_path(library)
    server: TemporaryServer | None = None
    if flows:
        from pinlake.integrations.prefect import TemporaryServer, configured_server_down, forget_server, use_server

        down = configured_server_down()
        if down is not None:  # the demo runs on embedded defaults: a dead server set for another project must not stop it
            typer.echo(f"warning: {down.message}; the demo's flows run on a temporary local Prefect server instead", err=True)
            forget_server()
        if not use_server(None):  # a live server, from the environment or a settings file, is put in PREFECT_API_URL
            server = TemporaryServer()
    # SIGTERM (kill, timeout, docker stop) stops like Ctrl-C, so the temporary server is stopped too
    on_sigterm = signal.signal(signal.SIGTERM, interrupt.on_interrupt) if server is not None else None
    try:
        if server is not None:
            server.start()  # now: it comes up while the folder is built and the flows load
        run_and_show(lib, assets, registry, flows, verbose, server)
    finally:
        if server is not None:
            server.stop()
            signal.signal(signal.SIGTERM, signal.SIG_DFL if on_sigterm is None else on_sigterm)


def run_and_show(lib: Path, assets: Path, registry: Path | None, flows: bool, verbose: bool, server: TemporaryServer | None) -> None:
    from pinlake.demo.run import run_demo  # lazy: CLI startup

    interrupt.check()  # each step starts only if no interrupt was swallowed before it (an import's)
    result = run_demo(lib, assets)
    ds = result.dataset
    console.print(f"[green]Folder dataset[/] {ds.name} version {ds.version}: {ds.num_items} items, splits {ds.splits()}")
    console.print(
        f"  dataset: {ds.path}\n  stats:   {ds.path / 'stats.json'}\n  preview: {ds.preview_path}\n  images:  {result.assets}",
        soft_wrap=True,
    )
    if not flows:
        return
    from pinlake.demo.run import describe_flow_demo  # lazy: CLI startup
    from pinlake.integrations.prefect import quiet_flows, resolve_registry, run_flow  # lazy: CLI startup

    reg = str(resolve_registry(registry))
    with quiet_flows(verbose):
        from flows.demo import demo as demo_flow  # lazy: CLI startup
    interrupt.check()
    if server is not None:
        server.wait()
    # a failed run is one Error line with its hint; --verbose shows Prefect's traceback and the run's address
    out = run_flow(demo_flow, str(lib.resolve()), str(Path(assets).resolve()), reg, verbose=verbose)
    console.print(f"[green]Lake[/] version {out['ingest']['lake_version']} ({out['ingest']['uploaded']} resources)")
    for r in out["first"]:
        state = "unchanged" if r["unchanged"] else f"version {r['version']}"
        gate = f", {r['status']} on {r['channel']}" if r.get("channel") else ""
        console.print(f"[green]refresh[/] {r['dataset']}: {state} (lock {r['lock_hash'][:12]}){gate}")
    for r in out["second"]:
        console.print(
            f"[yellow]refresh again[/] {r['dataset']}: {'unchanged, no new version' if r['unchanged'] else 'version ' + str(r['version'])}"
        )
    describe_flow_demo(lib, [r["dataset"] for r in out["first"]], console)
