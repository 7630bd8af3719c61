import asyncio
import contextlib


async def wait_until_woken(wakeup: asyncio.Event, timeout: float) -> None:
    """Wait for `wakeup` or `timeout`. Unlike asyncio.wait_for on Python 3.11, a cancellation
    arriving together with the wake-up is never swallowed, so shutdown cannot hang."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout):
            await wakeup.wait()
