"""`waymark registry export|import|sync`: the whole directory as an HSDS 3.0 JSON dataset or an
HSDS tabular data package (CSV files with datapackage.json, in a folder or a zip), and the
services of an HSDS 3.0 API pulled into it."""

import argparse
import json
import sys
import zipfile
from pathlib import Path

from waymark_kernel.db import Database
from waymark_kernel.files import make_data_folder_private
from waymark_kernel.migrations import upgrade
from waymark_kernel.problems import Problem
from waymark_kernel.settings import Settings
from waymark_registry.dataset import tabular
from waymark_registry.dataset.crosswalk import Crosswalk
from waymark_registry.dataset.schemas import ImportReport
from waymark_registry.dataset.service import (
    ImportOptions, export_dataset, export_package, import_dataset, import_package, settle,
)
from waymark_registry.main import MIGRATIONS
from waymark_registry.organizations.announcements import announce_all
from waymark_registry.sources.publisher import SourceFailed, SourceGuard
from waymark_registry.sources.service import synchronise


def add_commands(verbs: argparse._SubParsersAction) -> None:
    registry = verbs.add_parser("registry", help="bulk export and import of the directory")
    registry.set_defaults(format="json", dry_run=False, crosswalk=[])
    tasks = registry.add_subparsers(dest="task", required=True)
    export = tasks.add_parser(
        "export", help="write the directory to FILE as HSDS JSON, or with --format csv as an "
        "HSDS tabular data package: a zip when FILE ends in .zip, else a folder",
    )
    export.add_argument("--format", choices=["json", "csv"], default="json")
    export.add_argument("file", type=Path, metavar="FILE")
    imported = tasks.add_parser(
        "import", help="create or update organisations and services from an HSDS JSON FILE, "
        "or a tabular data package (a folder or a .zip); all or nothing, by id, so importing "
        "twice changes nothing",
    )
    imported.add_argument("file", type=Path, metavar="FILE")
    imported.add_argument(
        "--dry-run", action="store_true",
        help="report what the import would create, update and leave unchanged; change nothing",
    )
    imported.add_argument(
        "--crosswalk", type=Path, action="append", default=[], metavar="CSV",
        help="map terms of other taxonomies to Waymark categories (columns taxonomy, code, "
        "category); instead of the shipped Open Eligibility and 211 examples; repeatable",
    )
    sync = tasks.add_parser(
        "sync", help="pull every service (following the pages) and organisation of the HSDS "
        "3.0 API at URL and apply them as an import: its services keep its ids, and those it no "
        "longer lists are made inactive; a source failing mid-way changes nothing; https and public "
        "addresses only, unless WAYMARK_HSDS_SOURCE_ALLOW_INSECURE is set",
    )
    sync.add_argument("file", metavar="URL")
    tasks.add_parser(
        "announce-organizations", help="publish every organisation again as "
        "organization.updated (through the outbox), for services that started after they were "
        "created, such as notifications learning contact addresses",
    ).set_defaults(file=None)


def _package(path: Path) -> tabular.Package:
    return tabular.FolderPackage(path) if path.is_dir() else tabular.ZipPackage(path.read_bytes())


async def _export(database: Database, file: Path, format: str) -> None:
    async with database.transaction() as session:
        if format == "json":
            dataset = await export_dataset(session)
        else:
            files = await export_package(session)
    if format == "json":
        file.write_text(json.dumps(dataset, ensure_ascii=False, indent=1), encoding="utf-8")
        services = sum(len(organization["services"]) for organization in dataset)
        print(f"exported {len(dataset)} organisations and {services} services to {file}")
        return
    if file.suffix == ".zip":
        file.write_bytes(tabular.zipped(files))
    else:
        file.mkdir(parents=True, exist_ok=True)
        for name, content in files.items():
            (file / name).write_bytes(content)
    print(f"exported the directory as an HSDS tabular data package to {file}")


async def _import(database: Database, file: Path, options: ImportOptions) -> ImportReport:
    async with database.transaction() as session:
        if file.is_dir() or zipfile.is_zipfile(file):
            report = await import_package(session, _package(file), options)
        else:
            report = await import_dataset(session, file.read_bytes(), options)
    await settle(database.engine, report)
    return report


def _print_report(report: ImportReport) -> None:
    if report.dry_run:
        print("dry run: nothing was changed")
    for kind in ("organizations", "services"):
        counts = getattr(report, kind).model_dump()
        print(f"{kind}: " + ", ".join(f"{n} {what}" for what, n in counts.items()))
    for warning in report.warnings:
        print(f"warning: {warning.path}: {warning.kind}: {warning.detail}")
    for table, count in report.not_kept.items():
        print(f"not kept: {count} {table}")
    if report.withdrawn:
        print(f"withdrawn: {report.withdrawn} services the source no longer lists")


def _print_problem(problem: Problem, file: Path | None) -> None:
    """Each error at its place: FILE, or FILE/member of a package, then line and path."""
    print(f"{file or 'crosswalk'}: {problem.detail}", file=sys.stderr)
    for error in problem.extra.get("errors", []):
        places = [str(place) for place in (file, error.get("file")) if place]
        path = f" {error['path']}:" if error["path"] else ""
        print(f"{'/'.join(places)}:{error['line']}:{path} {error['reason']}", file=sys.stderr)


def _options(dry_run: bool, crosswalks: list[Path]) -> ImportOptions:
    if not crosswalks:
        return ImportOptions(dry_run=dry_run)
    texts = {str(path): path.read_text(encoding="utf-8") for path in crosswalks}
    return ImportOptions(dry_run=dry_run, crosswalk=Crosswalk.of(texts))


async def run(
    settings: Settings, task: str, file: Path, format: str = "json", *, dry_run: bool = False,
    crosswalks: list[Path] | None = None,
) -> int:
    """Returns the process's exit status: 0 when all is well."""
    url = settings.database_url("registry")
    if settings.is_standalone:
        make_data_folder_private(settings.data_dir)
    await upgrade(url, MIGRATIONS)
    database = Database(url)
    try:
        if task == "export":
            await _export(database, file, format)
            return 0
        if task == "announce-organizations":
            print(f"announced {await announce_all(database)} organisations")
            return 0
        if task == "sync":
            try:
                guard = SourceGuard(allow_insecure=settings.hsds_source_allow_insecure)
                report = await synchronise(database, str(file), guard, [])
            except SourceFailed as failure:
                print(f"the source failed, nothing was changed: {failure}", file=sys.stderr)
                return 1
            except Problem as problem:
                _print_problem(problem, None)
                return 1
            _print_report(report)
            return 0
        try:
            options = _options(dry_run, crosswalks or [])
        except Problem as problem:  # its errors name the crosswalk's files
            _print_problem(problem, None)
            return 1
        try:
            report = await _import(database, file, options)
        except Problem as problem:
            _print_problem(problem, file)
            return 1
        except UnicodeDecodeError:
            print(f"{file}: not UTF-8 text; nothing was imported", file=sys.stderr)
            return 1
        _print_report(report)
        return 0
    finally:
        await database.dispose()
