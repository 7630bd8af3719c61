"""Standalone mode: the gateway and the three services in one process, each service on its
own SQLite file, joined by the in-process broker."""

import asyncio
import contextlib
import functools
import logging
from typing import Any

import httpx
import uvicorn

from waymark_cli import demo
from waymark_cli.parts import create_service, pages_of, with_local_keys
from waymark_cli.serving import GracefulServer
from waymark_cli.stopping import StopRequest
from waymark_gateway.main import AsgiUpstream, jwks_document, load_or_create_signing_key
from waymark_gateway.main import create_app as create_gateway
from waymark_gateway.server import SERVER_OPTIONS
from waymark_kernel.files import make_data_folder_private
from waymark_kernel.messaging.inprocess import InProcessBroker
from waymark_kernel.service import STOP_RELAY_SECONDS
from waymark_kernel.settings import SERVICE_NAMES, Settings

log = logging.getLogger("waymark.standalone")


async def run_standalone(settings: Settings, stop: StopRequest) -> None:
    make_data_folder_private(settings.data_dir)  # SQLite files, keys, demo credentials
    settings = with_local_keys(settings)
    signing_key = load_or_create_signing_key(settings)

    async def key_source() -> dict[str, Any]:
        return jwks_document([signing_key])

    broker = InProcessBroker(delivery_limit=settings.delivery_limit)
    services = {
        name: create_service(name, settings, broker=broker, key_source=key_source)
        for name in SERVICE_NAMES
    }
    async with contextlib.AsyncExitStack() as stack:
        stack.callback(log.info, "stopped")
        stack.push_async_callback(broker.close)
        for app in services.values():
            lifespan = app.router.lifespan_context(app)
            if not await stop.unless_requested(
                functools.partial(stack.enter_async_context, lifespan)
            ):
                return
        # Only once every consumer is bound: an event published before would miss a queue.
        await broker.start()
        gateway = create_gateway(
            settings, upstreams={name: AsgiUpstream(app) for name, app in services.items()},
            signing_key=signing_key, pages=pages_of(settings),
        )
        server = GracefulServer(uvicorn.Config(
            gateway, host=settings.host, port=settings.port, log_config=None, access_log=False,
            lifespan="on", **SERVER_OPTIONS,
        ), stop, gateway.state.draining)
        seeded = asyncio.Event()

        async def demo_data_in_place() -> None:
            if not seeded.is_set():
                raise RuntimeError("the demo network is still being created")

        gateway.state.readiness = {"demo_data": demo_data_in_place}
        announce = asyncio.create_task(_when_started(server, settings, seeded, stop))
        try:
            await server.serve()
        finally:
            announce.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await announce
        # The requests are answered: the outboxes stop publishing, then the consumers stop;
        # the services' lifespans close the rest as the stack unwinds.
        await asyncio.gather(*(
            app.state.outbox_relay.stop(STOP_RELAY_SECONDS) for app in services.values()
        ))
        await broker.close()


async def _when_started(
    server: uvicorn.Server, settings: Settings, seeded: asyncio.Event, stop: StopRequest
) -> None:
    """Seed the demo network through the API; /readyz answers 200 only after that."""
    while not server.started:  # noqa: ASYNC110 -- uvicorn only sets a flag
        await asyncio.sleep(0.05)
    credentials_file = settings.data_dir / "demo-credentials.json"
    if demo.should_seed(settings):
        try:
            async with httpx.AsyncClient(base_url=settings.gateway_url, timeout=30) as client:
                created = await demo.seed(client, settings.admin_secret, credentials_file)
        except Exception:
            if not stop.requested:
                log.exception("the demo network could not be created; stopping")
                server.should_exit = True
            return
        if created:
            log.debug("demo network seeded", extra={"organizations": len(created["clients"])})
    seeded.set()
    print(demo.banner(settings, credentials_file), flush=True)
