"""Crosswalks a network admin uploads (CSV: taxonomy, code, category), beside the shipped
examples; an import or an HSDS source chooses them by name."""

from sqlalchemy.ext.asyncio import AsyncSession
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.problems import Conflict, Forbidden, NotFound, Problem

from waymark_registry.crosswalks import repository
from waymark_registry.crosswalks.models import StoredCrosswalk
from waymark_registry.crosswalks.schemas import CrosswalkRead
from waymark_registry.dataset.crosswalk import Crosswalk, shipped, shipped_texts
from waymark_registry.dataset.schemas import InvalidRow
from waymark_registry.sources import repository as sources
from waymark_registry.versions import check_if_match

MAX_CROSSWALK_BYTES = 1024 * 1024
SHIPPED = shipped_texts()


def ensure_network_admin(identity: Identity) -> None:
    if not identity.is_network_admin:
        raise Forbidden("Only a network_admin may manage crosswalks and HSDS sources.")


def _shipped_read(name: str) -> CrosswalkRead:
    mappings = len(Crosswalk.of({f"{name}.csv": SHIPPED[name]}).mappings)
    return CrosswalkRead(name=name, shipped=True, mappings=mappings, version=1)


def _read(stored: StoredCrosswalk) -> CrosswalkRead:
    return CrosswalkRead(name=stored.name, shipped=False, mappings=stored.mappings,
                         version=stored.version, updated_at=stored.updated_at)


async def list_crosswalks(session: AsyncSession) -> list[CrosswalkRead]:
    stored = [_read(row) for row in await repository.all_crosswalks(session)]
    return [_shipped_read(name) for name in SHIPPED] + stored


async def crosswalk_text(session: AsyncSession, name: str) -> tuple[str, int]:
    """The CSV text of a crosswalk and its version."""
    if name in SHIPPED:
        return SHIPPED[name], 1
    stored = await repository.crosswalk(session, name)
    if stored is None:
        raise NotFound("crosswalk")
    return stored.text, stored.version


def _parsed(name: str, text: str) -> Crosswalk:
    crosswalk = Crosswalk.of({f"{name}.csv": text})
    if not crosswalk.mappings:
        error = InvalidRow(file=f"{name}.csv", line=1, path="",
                           reason="give at least one row: taxonomy,code,category")
        raise Problem(422, "1 problem(s) in the crosswalk; nothing was changed.",
                      kind="invalid-crosswalk", extra={"errors": [error.model_dump()]})
    return crosswalk


def _refuse_shipped(name: str) -> None:
    if name in SHIPPED:
        raise Conflict(f"{name} is an example shipped with Waymark and cannot be changed; "
                       "upload yours under another name.", kind="shipped-crosswalk")


async def put_crosswalk(
    session: AsyncSession, name: str, text: str, if_match: str | None
) -> tuple[CrosswalkRead, bool]:
    """Creates or replaces a crosswalk; returns it and whether it was created."""
    _refuse_shipped(name)
    crosswalk = _parsed(name, text)
    stored = await repository.crosswalk(session, name, for_update=True)
    now = utcnow()
    if stored is None:
        if if_match is not None:
            raise Problem(412, "There is no crosswalk of this name to match.",
                          kind="precondition-failed")
        stored = StoredCrosswalk(name=name, text=text, mappings=len(crosswalk.mappings),
                                 created_at=now, updated_at=now)
        session.add(stored)
        await session.flush()
        return _read(stored), True
    check_if_match(if_match, stored.version, "the crosswalk")
    stored.text, stored.mappings = text, len(crosswalk.mappings)
    stored.version += 1
    stored.updated_at = now
    await session.flush()
    return _read(stored), False


async def delete_crosswalk(session: AsyncSession, name: str, if_match: str | None) -> None:
    _refuse_shipped(name)
    stored = await repository.crosswalk(session, name, for_update=True)
    if stored is None:
        raise NotFound("crosswalk")
    check_if_match(if_match, stored.version, "the crosswalk")
    using = [source.name for source in await sources.sources_using(session, name)]
    if using:
        raise Conflict(f"HSDS sources use this crosswalk ({', '.join(sorted(using))}); choose "
                       "another for them first.", kind="crosswalk-in-use")
    await session.delete(stored)
    await session.flush()


async def chosen(session: AsyncSession, names: list[str]) -> Crosswalk:
    """The crosswalks of these names together; none named: the shipped examples."""
    if not names:
        return shipped()
    texts = {}
    for name in dict.fromkeys(names):
        if name in SHIPPED:
            texts[f"{name}.csv"] = SHIPPED[name]
            continue
        stored = await repository.crosswalk(session, name)
        if stored is None:
            raise Problem(422, f"No crosswalk is named {name!r} (GET /v1/hsds/crosswalks).",
                          kind="unknown-crosswalk")
        texts[f"{name}.csv"] = stored.text
    return Crosswalk.of(texts)


async def check_names(session: AsyncSession, names: list[str]) -> None:
    """Refuses (422) a name that is no crosswalk."""
    await chosen(session, names)
