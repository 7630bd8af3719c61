"""`waymark registry export|import FILE`: the whole directory as an HSDS 3.0 JSON dataset."""

import argparse
import json
import sys
from pathlib import Path

from waymark_kernel.db import Database
from waymark_kernel.migrations import upgrade
from waymark_kernel.problems import Problem
from waymark_kernel.settings import Settings
from waymark_registry.dataset.service import export_dataset, import_dataset
from waymark_registry.main import MIGRATIONS


def add_commands(verbs: argparse._SubParsersAction) -> None:
    registry = verbs.add_parser("registry", help="bulk export and import of the directory")
    tasks = registry.add_subparsers(dest="task", required=True)
    export = tasks.add_parser("export", help="write the directory to FILE as HSDS JSON")
    export.add_argument("file", type=Path, metavar="FILE")
    imported = tasks.add_parser(
        "import", help="create or update organisations and services from an HSDS JSON FILE "
        "(all or nothing; by id, so importing twice changes nothing)",
    )
    imported.add_argument("file", type=Path, metavar="FILE")


async def run(settings: Settings, task: str, file: Path) -> int:
    """Returns the process's exit status: 0 when all is well."""
    url = settings.database_url("registry")
    if settings.is_standalone:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    await upgrade(url, MIGRATIONS)
    database = Database(url)
    try:
        if task == "export":
            async with database.transaction() as session:
                dataset = await export_dataset(session)
            file.write_text(json.dumps(dataset, ensure_ascii=False, indent=1), encoding="utf-8")
            services = sum(len(organization["services"]) for organization in dataset)
            print(f"exported {len(dataset)} organisations and {services} services to {file}")
            return 0
        try:
            async with database.transaction() as session:
                report = await import_dataset(session, file.read_text(encoding="utf-8"))
        except Problem as problem:
            print(f"{file}: {problem.detail}", file=sys.stderr)
            for error in problem.extra.get("errors", []):
                print(f"{file}:{error['line']}: {error['path']}: {error['reason']}",
                      file=sys.stderr)
            return 1
        except UnicodeDecodeError:
            print(f"{file}: not UTF-8 text; nothing was imported", file=sys.stderr)
            return 1
        for kind, counts in report.model_dump().items():
            print(f"{kind}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
        return 0
    finally:
        await database.dispose()
