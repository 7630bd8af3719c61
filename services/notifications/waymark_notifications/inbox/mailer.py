"""Emails for urgent and overdue referrals, sent after the inbox entry commits, when SMTP
settings are given. A failed send is tried again on the next pass."""

import asyncio
import logging
from email.message import EmailMessage

import aiosmtplib
from fastapi import FastAPI
from waymark_kernel.db import Database
from waymark_kernel.settings import Settings
from waymark_kernel.wakeup import wait_until_woken

from waymark_notifications.inbox import repository, service

log = logging.getLogger("waymark.notifications.mailer")
BATCH = 50


class Mailer:
    def __init__(self, settings: Settings, *, poll_seconds: float = 5.0) -> None:
        self.settings = settings
        self.poll_seconds = poll_seconds
        self._wakeup = asyncio.Event()

    @property
    def enabled(self) -> bool:
        return self.settings.smtp_host is not None

    def wake(self) -> None:
        self._wakeup.set()

    async def run(self, app: FastAPI) -> None:
        """The background task; idle without SMTP settings."""
        if not self.enabled:
            return
        database: Database = app.state.database
        while True:
            self._wakeup.clear()
            try:
                await self._send_pending(database)
            except Exception:
                log.exception("sending notification emails failed")
            await wait_until_woken(self._wakeup, self.poll_seconds)

    async def _send_pending(self, database: Database) -> None:
        async with database.transaction() as session:
            pending = await repository.awaiting_email(session, BATCH)
            sent = []
            for notification, address in pending:
                await self._send(address, *service.email_text(notification))
                sent.append(notification.id)
            await repository.emailed(session, sent)

    async def _send(self, address: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_sender
        message["To"] = address
        message["Subject"] = subject
        message.set_content(body)
        await aiosmtplib.send(
            message, hostname=self.settings.smtp_host, port=self.settings.smtp_port,
            username=self.settings.smtp_username, password=self.settings.smtp_password,
            start_tls=self.settings.smtp_starttls, timeout=30,
        )
