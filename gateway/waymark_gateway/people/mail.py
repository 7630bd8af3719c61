"""Invitations by email, when an email server is configured (WAYMARK_SMTP_HOST)."""

from email.message import EmailMessage

import aiosmtplib

from waymark_gateway.settings import GatewaySettings
from waymark_kernel.problems import Problem


class InvitationMailer:
    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings

    @property
    def configured(self) -> bool:
        return self.settings.smtp_host is not None

    async def send(self, recipient: str, accept_url: str, expires_hours: float) -> None:
        message = EmailMessage()
        message["From"] = self.settings.smtp_sender
        message["To"] = recipient
        message["Subject"] = "Your invitation to Waymark"
        message.set_content(
            "You have been invited to your organisation's account on Waymark, the referral "
            f"network.\n\nOpen this link within {expires_hours:g} hours to choose a password "
            f"and set up your authenticator app:\n\n{accept_url}\n\nThe link works once. If "
            "you did not expect this invitation, ignore this email.\n"
        )
        try:
            await aiosmtplib.send(
                message, hostname=self.settings.smtp_host, port=self.settings.smtp_port,
                username=self.settings.smtp_username, password=self.settings.smtp_password,
                start_tls=self.settings.smtp_starttls, timeout=30,
            )
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise Problem(
                502, "The invitation email could not be sent; nothing was created. Try again.",
                kind="email-not-sent",
            ) from exc
