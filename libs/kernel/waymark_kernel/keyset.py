"""Keyset pages: a list ordered by a sort column then a unique one (an id), each page the rows
after the sort key of the previous page's last row (which its cursor holds, waymark_kernel.cursors).
Unlike an offset, a page stays right while rows are added before it, and costs one index range."""

from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.sql.elements import BindParameter

Query = TypeVar("Query", bound=Select[Any])


@dataclass(frozen=True)
class Keyset:
    """The order of one kind of page: `sort`, then `unique` among equal sort values, both
    ascending or both descending (so one index serves it)."""

    sort: ColumnElement[Any]
    unique: ColumnElement[Any]
    descending: bool = False

    def after(self, position: tuple[Any, Any]) -> ColumnElement[bool]:
        """The rows that come after `position` (a sort value and a unique value) in this order."""
        value, unique = position
        if self.descending:
            return or_(self.sort < value, and_(self.sort == value, self.unique < unique))
        return or_(self.sort > value, and_(self.sort == value, self.unique > unique))

    def page(
        self, query: Query, position: tuple[Any, Any] | None, limit: int | BindParameter[int]
    ) -> Query:
        """`query` in this order, from after `position` (None: from the start), `limit` rows."""
        if position is not None:
            query = query.where(self.after(position))
        if self.descending:
            return query.order_by(self.sort.desc(), self.unique.desc()).limit(limit)
        return query.order_by(self.sort, self.unique).limit(limit)
