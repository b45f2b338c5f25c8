"""What one harvest did, per source and in total (``tickerml news harvest`` prints it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

SourceStatus = Literal["ok", "not_modified", "skipped", "error"]


@dataclass
class SourceReport:
    """One source in one harvest."""

    name: str
    url: str
    status: SourceStatus
    """ok: fetched and parsed; not_modified: 304; skipped: backing off; error: failed."""
    http_status: int | None = None
    entries: int = 0
    """Articles the document held (after dropping ones without a title or link)."""
    new: int = 0
    """Articles stored by this harvest."""
    duplicates: int = 0
    """Articles already stored, or seen earlier in this harvest (by URL or title)."""
    dropped: int = 0
    """Entries without a title or a usable link."""
    problem: str | None = None
    """A usable document's defect (broken XML, a wrong encoding), logged."""
    error: str | None = None
    """Why the source failed (names the source and URL)."""
    failures: int = 0
    """Consecutive failures so far."""
    next_try_ns: int = 0
    """When a source that failed (or is backing off) will be tried again."""
    seconds: float = 0.0
    """Fetch and parse time."""


@dataclass
class HarvestReport:
    """A whole harvest: every configured source, and the ids of the articles stored."""

    started_ns: int
    finished_ns: int = 0
    sources: list[SourceReport] = field(default_factory=list)
    article_ids: list[int] = field(default_factory=list)
    """Ids (``news_articles.id``) of the articles this harvest stored, ascending."""

    def _count(self, status: SourceStatus) -> int:
        return sum(1 for s in self.sources if s.status == status)

    @property
    def new(self) -> int:
        """Articles stored."""
        return sum(s.new for s in self.sources)

    @property
    def duplicates(self) -> int:
        """Articles already known."""
        return sum(s.duplicates for s in self.sources)

    @property
    def errors(self) -> int:
        """Sources that failed."""
        return self._count("error")

    @property
    def skipped(self) -> int:
        """Sources skipped while backing off."""
        return self._count("skipped")

    @property
    def not_modified(self) -> int:
        """Sources that answered 304."""
        return self._count("not_modified")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: every source, the totals and the stored ids."""
        return {
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "sources": [asdict(s) for s in self.sources],
            "totals": {
                "sources": len(self.sources),
                "new": self.new,
                "duplicates": self.duplicates,
                "not_modified": self.not_modified,
                "skipped": self.skipped,
                "errors": self.errors,
            },
            "article_ids": list(self.article_ids),
        }
