"""Comments between the sender and the receiver of a referral; nobody else reads them, not
even the network admin, since they may speak of the person."""

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from waymark_kernel.api import Page, page_of, position_after
from waymark_kernel.auth import Identity
from waymark_kernel.clock import utcnow
from waymark_kernel.events import ReferralCommentAdded
from waymark_kernel.messaging import record_event
from waymark_kernel.problems import Conflict, NotFound
from waymark_referrals.actors import service as actors
from waymark_referrals.cases import service as cases
from waymark_referrals.comments import repository
from waymark_referrals.comments.models import Comment
from waymark_referrals.comments.schemas import CommentCreate, CommentRead
from waymark_referrals.crypto import EnvelopeCipher
from waymark_referrals.referrals import service as referrals
from waymark_referrals.referrals.repository import Located
from waymark_referrals.referrals.states import Party


async def _thread_of(
    session: AsyncSession, identity: Identity, referral_id: uuid.UUID
) -> tuple[Located, Party]:
    located, party = await referrals.visible(session, identity, referral_id)
    if party is None:
        raise NotFound("referral")
    return located, party


async def _present(
    session: AsyncSession, cipher: EnvelopeCipher, comments: list[Comment], readable: bool
) -> list[CommentRead]:
    authors = await actors.present(session, cipher, [comment.actor for comment in comments])
    reads = []
    for comment, author in zip(comments, authors, strict=True):
        text = comment.opened(cipher, record=str(comment.id)).get("text") if readable else None
        reads.append(CommentRead(
            id=comment.id, referral_id=comment.referral_id, author_org_id=comment.author_org_id,
            author_subject=comment.author_subject, actor=author, text=text,
            created_at=comment.created_at,
        ))
    return reads


async def add_comment(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, referral_id: uuid.UUID,
    body: CommentCreate,
) -> CommentRead:
    located, party = await _thread_of(session, identity, referral_id)
    cases.require_case_writer(identity)
    if not referrals.may_read_texts(located, identity):
        raise Conflict(
            "The person's data is no longer shared with you (withdrawn or erased), and with it "
            "the conversation on this referral.", kind="no-legal-basis",
        )
    referral = located.referral
    comment = Comment(
        id=uuid.uuid4(), referral_id=referral.id,
        author_org_id=referrals.organization_of(party, referral),
        created_at=utcnow(), **Comment.acted_by(await actors.recorded(session, cipher, identity)),
    )
    comment.store(cipher.seal({"text": body.text}, record=str(comment.id)))
    session.add(comment)
    await record_event(session, referrals.EVENT_SOURCE, "referral.comment_added",
                       ReferralCommentAdded(
        referral_id=referral.id, comment_id=comment.id, sender_org_id=referral.sender_org_id,
        receiver_org_id=referral.receiver_org_id, author_org_id=comment.author_org_id,
    ))
    await session.flush()
    # The author reads back what it wrote.
    (added,) = await _present(session, cipher, [comment], readable=True)
    return added


async def list_comments(
    session: AsyncSession, cipher: EnvelopeCipher, identity: Identity, referral_id: uuid.UUID, *,
    cursor: str | None, limit: int,
) -> Page[CommentRead]:
    located, _ = await _thread_of(session, identity, referral_id)
    readable = referrals.may_read_texts(located, identity)
    rows = await repository.thread(
        session, located.referral.id, after=position_after(cursor), limit=limit + 1
    )
    shown = iter(await _present(session, cipher, rows[:limit], readable))
    return page_of(
        rows, limit, lambda _: next(shown), lambda comment: (comment.created_at, comment.id)
    )
