from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from swagger_ui_bundle import swagger_ui_path

from waymark_kernel.problems import NotFound

router = APIRouter()
# Swagger UI's files, served by the gateway itself so that /docs works without the internet.
DOCS_ASSETS_URL = "/docs/assets"
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript", "swagger-ui.css": "text/css",
    "favicon-32x32.png": "image/png",
}


@router.get("/openapi.json", include_in_schema=False)
async def merged_document(request: Request) -> Any:
    return JSONResponse(await request.app.state.api_document.document())


@router.get("/docs", include_in_schema=False)
async def documentation(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url="/openapi.json", title=request.app.title,
        swagger_js_url=f"{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
        swagger_css_url=f"{DOCS_ASSETS_URL}/swagger-ui.css",
        swagger_favicon_url=f"{DOCS_ASSETS_URL}/favicon-32x32.png",
        oauth2_redirect_url=request.app.swagger_ui_oauth2_redirect_url,
        swagger_ui_parameters={"validatorUrl": None},  # the public validator is off the network
    )


@router.get(DOCS_ASSETS_URL + "/{name}", include_in_schema=False)
async def documentation_asset(name: str) -> FileResponse:
    if name not in DOCS_ASSETS:
        raise NotFound("documentation file")
    return FileResponse(
        Path(str(swagger_ui_path)) / name, media_type=DOCS_ASSETS[name],
        headers={"Cache-Control": "public, max-age=86400"},
    )
