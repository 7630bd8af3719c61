"""The gateway's `/readyz`: its database and each upstream, with each upstream's circuit state."""

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from waymark_gateway.proxy.upstreams import Upstreams

router = APIRouter()


@router.get("/readyz", include_in_schema=False)
async def readyz(request: Request) -> JSONResponse:
    upstreams: Upstreams = request.app.state.upstreams
    checks = {"database": request.app.state.database.ping, **upstreams.health_checks()}
    results: dict[str, str] = {}
    for name, check in checks.items():
        try:
            await check()
            results[name] = "ok"
        except Exception as exc:  # noqa: BLE001 - readiness reports any failure
            results[name] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in results.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": results,
         "upstreams": upstreams.states()},
        status_code=200 if ready else 503,
    )
