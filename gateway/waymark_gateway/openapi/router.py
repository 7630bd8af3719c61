from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/openapi.json", include_in_schema=False)
async def merged_document(request: Request) -> Any:
    return JSONResponse(await request.app.state.api_document.document())
