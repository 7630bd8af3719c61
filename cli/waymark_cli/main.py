"""The `waymark` command."""

import argparse
import asyncio
import sys

from waymark_kernel.logging import configure_logging
from waymark_kernel.settings import RunMode, Settings

from waymark_cli import referrals, registry
from waymark_cli.parts import PARTS


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="waymark", description=__doc__)
    verbs = parser.add_subparsers(dest="verb", required=True)
    verbs.add_parser("run", help="the standalone network in one process (SQLite, demo data)")
    verbs.add_parser("up", help="the distributed network on this machine, one process a part")
    serve = verbs.add_parser("serve", help="one part of the distributed network")
    serve.add_argument("part", choices=PARTS)
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    migrate = verbs.add_parser("migrate", help="create the databases and run the migrations")
    migrate.add_argument("parts", nargs="*", metavar="PART", help=f"any of {', '.join(PARTS)} (default: all)")
    referrals.add_commands(verbs)
    registry.add_commands(verbs)
    arguments = parser.parse_args(argv)

    settings = Settings()
    configure_logging(settings.log_level)
    if arguments.verb == "run":
        from waymark_cli.standalone import run_standalone

        asyncio.run(run_standalone(settings.model_copy(update={"mode": RunMode.standalone})))
        return
    if arguments.verb == "referrals":  # in the mode the environment says, where the data is
        sys.exit(asyncio.run(referrals.run(settings, arguments.task)))
    if arguments.verb == "registry":
        sys.exit(asyncio.run(registry.run(
            settings, arguments.task, arguments.file, arguments.format,
            dry_run=arguments.dry_run, crosswalks=arguments.crosswalk,
        )))
    from waymark_cli import distributed

    settings = settings.model_copy(update={"mode": RunMode.distributed})
    if arguments.verb == "up":
        asyncio.run(distributed.up(settings))
    elif arguments.verb == "serve":
        distributed.serve(settings, arguments.part, arguments.host, arguments.port)
    else:
        unknown = set(arguments.parts) - set(PARTS)
        if unknown:
            parser.error(f"unknown part(s): {', '.join(sorted(unknown))}")
        asyncio.run(distributed.migrate(settings, arguments.parts or list(PARTS)))


if __name__ == "__main__":
    main()
