"""The `waymark` command."""

import argparse
import asyncio
import contextlib
import signal
import sys
from importlib import import_module
from typing import TYPE_CHECKING

from waymark_cli.stopping import STOP_SIGNALS, StopRequest, exit_at_once
from waymark_cli.terminal import foreground_of_its_own

if TYPE_CHECKING:
    from waymark_kernel.settings import Settings

SERVING_VERBS = ("run", "up", "serve")


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    serving = bool(argv) and argv[0] in SERVING_VERBS
    if serving:  # a Ctrl-C while the parts are imported (seconds) ends the process quietly
        for signum in STOP_SIGNALS:
            signal.signal(signum, exit_at_once)
    # Ctrl-C stops a serving command, not the make or uv that started it.
    with foreground_of_its_own() if serving else contextlib.nullcontext():
        _main(argv, serving)


def _main(argv: list[str], serving: bool) -> None:
    from waymark_cli.parts import PARTS
    from waymark_kernel.logging import configure_logging
    from waymark_kernel.settings import RunMode, Settings

    parser = argparse.ArgumentParser(prog="waymark", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("run", help="the standalone network in one process (SQLite, demo data)")
    up = verbs.add_parser("up", help="the distributed network on this machine, one process a part")
    up.add_argument(
        "--replicas", type=int, help="processes of each part, sharing its port (WAYMARK_REPLICAS, default 1)"
    )
    one_part = verbs.add_parser("serve", help="one part of the distributed network")
    one_part.add_argument("part", choices=PARTS)
    one_part.add_argument("--host")
    one_part.add_argument("--port", type=int)
    one_part.add_argument("--parent-pid", type=int, help="stop when this process is gone (`up` passes its own)")
    one_part.add_argument("--fd", type=int, help="accept from this inherited listening socket (`up` passes one)")
    migrate = verbs.add_parser("migrate", help="create the databases and run the migrations")
    migrate.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    if not serving:
        _add_tasks(verbs, argv[0] if argv else None)
    arguments = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    stop = StopRequest()
    if serving:
        stop.install()
    if serving and arguments.verb != "up" and settings.tracing_enabled:
        # `up` serves no part itself: each process it starts traces on its own. The spans
        # still waiting are sent at exit.
        from waymark_kernel.tracing import start_tracing

        start_tracing("waymark" if arguments.verb == "run" else f"waymark-{arguments.part}")
    if arguments.verb == "run":
        from waymark_cli.standalone import run_standalone

        asyncio.run(run_standalone(settings.model_copy(update={"mode": RunMode.standalone}), stop))
        return
    if arguments.verb in TASK_VERBS:  # in the mode the environment says, where the data is
        sys.exit(_run_task(settings, arguments))
    settings = settings.model_copy(update={"mode": RunMode.distributed})
    if arguments.verb == "serve":
        from waymark_cli.serving import serve

        serve(
            settings, arguments.part, arguments.host, arguments.port, stop, arguments.parent_pid,
            arguments.fd,
        )
        return
    from waymark_cli import distributed

    if arguments.verb == "up":
        if arguments.replicas is not None:
            if arguments.replicas < 1:
                parser.error("--replicas must be at least 1")
            settings = settings.model_copy(update={"replicas": arguments.replicas})
        asyncio.run(distributed.up(settings, stop))
    else:
        unknown = set(arguments.parts) - set(PARTS)
        if unknown:
            parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
        for part in asyncio.run(distributed.migrate(settings, arguments.parts or list(PARTS))):
            print(f"migrated {part}", flush=True)


# The module of each task's verbs: importing one loads the parts it works on.
TASK_MODULES = {
    "referrals": "waymark_cli.referrals", "backup": "waymark_cli.backup",
    "restore": "waymark_cli.backup", "registry": "waymark_cli.registry",
}
TASK_VERBS = tuple(TASK_MODULES)


def _add_tasks(
    verbs: "argparse._SubParsersAction[argparse.ArgumentParser]", verb: str | None
) -> None:
    """The verbs of the tasks: the given task's alone (its start loads only the parts it works
    on: `waymark backup` 0.6 s of CPU less, `waymark referrals` 0.9 s), or all of them for the
    help and an unknown verb. A serving process goes without them: each replica would import
    their code for nothing."""
    modules = [TASK_MODULES[verb]] if verb in TASK_MODULES else sorted(set(TASK_MODULES.values()))
    for module in modules:
        import_module(module).add_commands(verbs)


def _run_task(settings: "Settings", arguments: argparse.Namespace) -> int:
    if arguments.verb == "referrals":
        from waymark_cli import referrals

        return asyncio.run(referrals.run(settings, arguments.task))
    if arguments.verb in ("backup", "restore"):
        from waymark_cli import backup

        return asyncio.run(backup.run(settings, arguments))
    from waymark_cli import registry

    return asyncio.run(registry.run(
        settings, arguments.task, arguments.file, arguments.format,
        dry_run=arguments.dry_run, crosswalks=arguments.crosswalk,
    ))


if __name__ == "__main__":
    main()
