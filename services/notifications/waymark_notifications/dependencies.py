"""The service's long-lived parts, set on app.state by main.create_app, as dependencies."""

from typing import Annotated

from fastapi import Depends, Request

from waymark_kernel.db import Database
from waymark_notifications.deliveries.dispatcher import Dispatcher
from waymark_notifications.webhooks.secret_box import SecretBox
from waymark_notifications.webhooks.url_guard import UrlGuard


def _url_guard(request: Request) -> UrlGuard:
    url_guard: UrlGuard = request.app.state.url_guard
    return url_guard


def _secret_box(request: Request) -> SecretBox:
    secret_box: SecretBox = request.app.state.secret_box
    return secret_box


def _dispatcher(request: Request) -> Dispatcher:
    dispatcher: Dispatcher = request.app.state.dispatcher
    return dispatcher


def _database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


UrlGuardDep = Annotated[UrlGuard, Depends(_url_guard)]
SecretBoxDep = Annotated[SecretBox, Depends(_secret_box)]
DispatcherDep = Annotated[Dispatcher, Depends(_dispatcher)]
DatabaseDep = Annotated[Database, Depends(_database)]
