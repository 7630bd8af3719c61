"""Ctrl-C at a terminal for the serving command alone. A terminal sends Ctrl-C's SIGINT to its
whole foreground process group: through `make run` that is make and uv as well, and make,
interrupted, reports an error (status 130) however cleanly the network stopped. So a serving
command in the foreground of its terminal takes the foreground for a process group of its own,
as a job-control shell does for each job, and hands it back at exit; Ctrl-Z still suspends the
whole job. Only the standard library here: the command does this before its imports."""

import contextlib
import os
import signal
from collections.abc import Iterator


@contextlib.contextmanager
def foreground_of_its_own() -> Iterator[None]:
    """While the block runs, Ctrl-C and Ctrl-Z reach this process alone, when it was started in
    the foreground of its controlling terminal as one of a job's processes."""
    terminal = _controlling_terminal()
    if terminal is None:
        yield
        return
    job = os.getpgrp()
    try:
        if job == os.getpid() or os.tcgetpgrp(terminal) != job:
            yield  # already a job of its own, or a background one: nothing to take
            return
        _take_foreground(terminal)
        previous = signal.signal(signal.SIGTSTP, lambda _signum, _frame: _suspend_job(terminal, job))
        try:
            yield
        finally:
            signal.signal(signal.SIGTSTP, previous)
            # What it writes at exit (spans sent, handlers flushed) comes from outside the
            # foreground then: a terminal set to `tostop` would stop it for good.
            signal.signal(signal.SIGTTOU, signal.SIG_IGN)
            with contextlib.suppress(OSError):  # the terminal may be gone (hung up)
                if os.tcgetpgrp(terminal) == os.getpgrp():
                    _set_foreground(terminal, job)
    finally:
        os.close(terminal)


def _controlling_terminal() -> int | None:
    try:
        return os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY)
    except OSError:  # none: started by a service manager, a test or CI
        return None


def _take_foreground(terminal: int) -> None:
    os.setpgid(0, 0)
    _set_foreground(terminal, os.getpgrp())


def _set_foreground(terminal: int, group: int) -> None:
    """A process outside the foreground that sets it is sent SIGTTOU unless it ignores it."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(ProcessLookupError, PermissionError):  # the job is gone
            os.tcsetpgrp(terminal, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _suspend_job(terminal: int, job: int) -> None:
    """Ctrl-Z: back into the job, the job stopped, so that its shell sees it stopped and its
    `fg` continues all of it; once continued in the foreground, the foreground is taken again."""
    try:
        os.setpgid(0, job)
    except OSError:  # the job is gone: this process is all there is to keep running
        return
    _set_foreground(terminal, job)
    os.killpg(job, signal.SIGSTOP)
    if os.tcgetpgrp(terminal) == job:
        _take_foreground(terminal)
