"""A stand-in service run as its own process (`uvicorn standin_process:app`), to be killed."""

from fastapi import FastAPI
from fastapi.responses import JSONResponse

app = FastAPI()


@app.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.api_route("/v1/{rest:path}", methods=["GET", "POST"])
async def echo(rest: str) -> JSONResponse:
    return JSONResponse({"path": f"/v1/{rest}"})
