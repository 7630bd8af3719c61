"""The gateway's `/readyz` (its database and each upstream, with each upstream's circuit state)
and its `/metrics`, for the network admin only: the gateway's port is the public one."""

import asyncio

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from waymark_gateway.proxy.upstreams import Upstreams
from waymark_kernel.auth import CurrentIdentity
from waymark_kernel.problems import Forbidden
from waymark_kernel.web import ReadinessCheck, metrics_response

router = APIRouter()


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    upstreams: Upstreams = request.app.state.upstreams
    checks = {
        "database": request.app.state.database.ping, **upstreams.health_checks(),
        # Checks a launcher adds, e.g. standalone mode's demo data being in place.
        **getattr(request.app.state, "readiness", {}),
    }

    async def outcome(check: ReadinessCheck) -> str:
        try:
            await check()
            return "ok"
        except Exception as exc:  # readiness reports any failure
            return f"unavailable: {type(exc).__name__}"

    # All at once: readiness answers as fast as the slowest dependency, not their sum.
    results = dict(zip(checks, await asyncio.gather(*map(outcome, checks.values())), strict=True))
    ready = all(value == "ok" for value in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results,
         "upstreams": upstreams.states()},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", include_in_schema=False)
async def metrics(identity: CurrentIdentity) -> Response:
    if not identity.is_network_admin:
        raise Forbidden("Only a network admin may read the gateway's metrics.")
    return metrics_response()
