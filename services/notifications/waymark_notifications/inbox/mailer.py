"""Emails for urgent and overdue referrals, sent after the inbox entry commits, when SMTP
settings are given. A failed send is tried again with exponential back-off; it does not hold
up, or undo, the others of its pass."""

import asyncio
import logging
from email.message import EmailMessage

import aiosmtplib
from fastapi import FastAPI
from waymark_kernel.clock import as_utc, utcnow
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
                pause = await self._send_pending(database)
            except Exception:
                log.exception("sending notification emails failed")
                pause = self.poll_seconds
            await wait_until_woken(self._wakeup, pause)

    async def _send_pending(self, database: Database) -> float:
        """Send what is due; returns how long to wait before looking again."""
        async with database.transaction() as session:
            pending = await repository.awaiting_email(session, utcnow(), BATCH)
            sent = []
            for notification, address in pending:
                try:
                    await self._send(address, *service.email_text(notification))
                except (aiosmtplib.SMTPException, OSError) as exc:
                    # The exception's text may name the address: the type says enough.
                    log.warning("notification email not sent, tried again later", extra={
                        "notification_id": str(notification.id), "error": type(exc).__name__,
                    })
                    service.email_failed(notification, self.settings, utcnow())
                else:
                    sent.append(notification.id)
            await repository.emailed(session, sent)
            if len(pending) == BATCH:
                return 0.0
            next_due = await repository.next_email_due_at(session)
        if next_due is None:
            return self.poll_seconds
        return min(self.poll_seconds, max(0.0, (as_utc(next_due) - utcnow()).total_seconds()))

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
