"""The agent's news jobs: harvest → score → roll up, on an APScheduler schedule.

:func:`news_cycle` is one pass: harvest every due source, score what has no score
yet, let the LLM rescore built-in-only articles when it is back, then roll up the
closed hours. Each stage runs even when an earlier one failed (a dead feed must not
stop the roll-up of news already stored); failures are logged and land in the
report.

:class:`NewsJobs` runs that cycle every ``news.interval_s`` and the roll-up alone at
minute 1 of every hour, so closed hours get their row even when no new article
arrives. ``tickerml edge run`` starts it when ``news.enabled``; ``tickerml news
run`` runs it on its own; ``tickerml news harvest`` / ``rollup`` are the one-shot
commands for cron.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from edge.news.rollup import RollupReport, roll_up
from edge.store.errors import StoreFullError
from edge.store.full_disk import iso_utc
from edge.store.writer import StoreWriter
from shared.clock import Clock
from shared.config.edge import EdgeConfig

if TYPE_CHECKING:
    from apscheduler.triggers.base import BaseTrigger

    from edge.news.harvest import Harvester
    from edge.news.pending import PendingReport
    from edge.news.report import HarvestReport
    from edge.news.scoring import NewsScorer

log = logging.getLogger(__name__)

CYCLE_JOB = "news-cycle"
ROLLUP_JOB = "news-rollup"

FIRST_CYCLE_S = 5.0
"""The first cycle runs this long after start: soon, but after the agent's feeds and
writer are up, not competing with their start-up."""

_T = TypeVar("_T")


@dataclass
class CycleReport:
    """What one :func:`news_cycle` did; a stage that failed has its error instead."""

    started_ns: int
    finished_ns: int = 0
    harvest: HarvestReport | None = None
    scoring: PendingReport | None = None
    rescoring: PendingReport | None = None
    rollup: RollupReport | None = None
    errors: dict[str, str] = field(default_factory=dict)
    """Stage → ``ExceptionType: message`` for each stage that raised."""
    stopped: bool = False
    """The agent was stopping: the stages after the current one were skipped."""

    @property
    def ok(self) -> bool:
        return not self.errors

    def line(self) -> str:
        """One log line: what each stage did, and which failed."""
        parts = []
        if self.harvest is not None:
            parts.append(f"{self.harvest.new} new, {self.harvest.errors} source(s) failed")
        for name, scoring in (("scored", self.scoring), ("rescored", self.rescoring)):
            if scoring is not None and not scoring.skipped:
                parts.append(
                    f"{name} {scoring.scored_llm} by LLM, {scoring.scored_builtin} built-in, "
                    f"{scoring.pending} pending"
                )
        if self.rollup is not None:
            parts.append(f"{self.rollup.rows} hourly row(s)")
        if self.errors:
            parts.append("failed: " + ", ".join(sorted(self.errors)))
        if self.stopped:
            parts.append("stopped early")
        return "news cycle: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "started_ns": self.started_ns,
            "finished_ns": self.finished_ns,
            "harvest": None if self.harvest is None else self.harvest.as_dict(),
            "scoring": None if self.scoring is None else self.scoring.as_dict(),
            "rescoring": None if self.rescoring is None else self.rescoring.as_dict(),
            "rollup": None if self.rollup is None else self.rollup.as_dict(),
            "errors": dict(self.errors),
            "stopped": self.stopped,
        }


def news_cycle(
    config: EdgeConfig,
    writer: StoreWriter,
    db_path: Path,
    clock: Clock,
    *,
    harvester: Harvester | None = None,
    scorer: NewsScorer | None = None,
    stop: threading.Event | None = None,
) -> CycleReport:
    """Harvest, score pending, rescore with the LLM, roll up; see the module docstring.

    Pass a long-lived ``harvester`` and ``scorer`` to keep their state between cycles
    (the scorer remembers that the LLM is down and when to try it again); otherwise
    fresh ones are made and the scorer is closed at the end. ``stop`` set between
    stages skips the rest, so an agent shutting down is not held up by the LLM.
    """
    from edge.news.harvest import Harvester
    from edge.news.pending import rescore_with_llm, score_pending
    from edge.news.scoring import NewsScorer

    report = CycleReport(started_ns=clock.time_ns())
    owned = scorer is None
    harvester = harvester or Harvester(config, writer, db_path, clock)
    scorer = scorer or NewsScorer(config.news, clock)
    stages: list[tuple[str, Callable[[], Any], str]] = [
        ("harvest", harvester.harvest_once, "harvest"),
        ("score", lambda: score_pending(db_path, writer, scorer, clock), "scoring"),
        ("rescore", lambda: rescore_with_llm(db_path, writer, scorer, clock), "rescoring"),
        ("rollup", lambda: roll_up(db_path, writer, clock, config.news), "rollup"),
    ]
    try:
        for name, run, attribute in stages:
            if stop is not None and stop.is_set():
                report.stopped = True
                break
            try:
                setattr(report, attribute, run())
            except Exception as exc:
                # One stage's failure (a writer hiccup, a bug in a parser) must not
                # cost the others: stored news still gets scored and rolled up.
                log.exception("news cycle: %s failed", name)
                report.errors[name] = f"{type(exc).__name__}: {exc}"
    finally:
        if owned:
            scorer.close()
    report.finished_ns = clock.time_ns()
    return report


class NewsJobs:
    """The news cycle and the hourly roll-up on a background scheduler (UTC).

    Jobs run one at a time (one worker thread): they share the writer and the LLM,
    and two roll-ups at once would compute the same rows twice. A job that raises
    is logged with its name and counted; the scheduler keeps its next run.
    """

    def __init__(
        self,
        config: EdgeConfig,
        writer: StoreWriter,
        db_path: Path,
        clock: Clock,
        *,
        interval_s: float | None = None,
        first_run_s: float = FIRST_CYCLE_S,
        rollup_trigger: BaseTrigger | None = None,
    ) -> None:
        """``interval_s`` overrides ``news.interval_s``; ``rollup_trigger`` overrides
        the hourly cron (minute 1, UTC) — tests use both to run in seconds."""
        self.config = config
        self.writer = writer
        self.db_path = Path(db_path)
        self.clock = clock
        self.interval_s = interval_s if interval_s is not None else config.news.interval_s
        self.first_run_s = first_run_s
        self._rollup_trigger = rollup_trigger
        self.runs: Counter[str] = Counter()
        """Runs per job, failed ones included."""
        self.failures: Counter[str] = Counter()
        self.last_error: dict[str, str] = {}
        self.last_cycle: CycleReport | None = None
        self.last_rollup: RollupReport | None = None
        self._stop = threading.Event()
        self._done = threading.Condition()
        self._harvester: Harvester | None = None
        self._scorer: NewsScorer | None = None
        self._scheduler: Any = None

    def start(self) -> None:
        """Start the scheduler thread; the first cycle runs ``first_run_s`` later."""
        from apscheduler.executors.pool import ThreadPoolExecutor
        from apscheduler.schedulers.background import BackgroundScheduler
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        scheduler = BackgroundScheduler(
            timezone=UTC, executors={"default": ThreadPoolExecutor(max_workers=1)}
        )
        # Scheduling is wall-clock by nature (APScheduler's own); the data the jobs
        # write is stamped by the injected clock.
        first = datetime.now(UTC) + timedelta(seconds=self.first_run_s)
        # coalesce + max_instances=1: a cycle that overran its interval (a slow LLM)
        # runs once more, not once per missed slot. The grace lets a run delayed by
        # the other job still happen.
        scheduler.add_job(
            self.run_cycle, IntervalTrigger(seconds=self.interval_s, timezone=UTC),
            id=CYCLE_JOB, name=CYCLE_JOB, next_run_time=first, max_instances=1,
            coalesce=True, misfire_grace_time=max(1, int(self.interval_s)),
        )
        scheduler.add_job(
            self.run_rollup,
            self._rollup_trigger or CronTrigger(minute=1, second=0, timezone=UTC),
            id=ROLLUP_JOB, name=ROLLUP_JOB, max_instances=1, coalesce=True,
            misfire_grace_time=1800,
        )
        scheduler.start()
        self._scheduler = scheduler
        log.info(
            "news jobs: cycle every %.0f s (first in %.0f s), roll-up hourly at minute 1 UTC",
            self.interval_s, self.first_run_s,
        )

    def shutdown(self, wait: bool = True) -> None:
        """Stop scheduling; a running cycle skips its remaining stages. With ``wait``,
        return only once it has finished (its rows are then in the writer's queue)."""
        self._stop.set()
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=wait)
        # Without wait a cycle may still be using the scorer: leave it to the collector.
        if wait and self._scorer is not None:
            self._scorer.close()
            self._scorer = None

    def run_cycle(self) -> CycleReport | None:
        """One news cycle now (the cycle job); ``None`` when it raised."""
        return self._guard(CYCLE_JOB, self._cycle)

    def run_rollup(self) -> RollupReport | None:
        """One roll-up now (the hourly job); ``None`` when it raised."""
        return self._guard(ROLLUP_JOB, self._rollup)

    def wait_for_runs(self, job: str, runs: int, timeout: float) -> bool:
        """Block until ``job`` has run ``runs`` times (or ``timeout`` passed)."""
        with self._done:
            return self._done.wait_for(lambda: self.runs[job] >= runs, timeout)

    def _cycle(self) -> CycleReport:
        from edge.news.harvest import Harvester
        from edge.news.scoring import NewsScorer

        if self._harvester is None:
            self._harvester = Harvester(self.config, self.writer, self.db_path, self.clock)
        if self._scorer is None:
            self._scorer = NewsScorer(self.config.news, self.clock)
        report = news_cycle(
            self.config, self.writer, self.db_path, self.clock,
            harvester=self._harvester, scorer=self._scorer, stop=self._stop,
        )
        self.last_cycle = report
        log.info("%s", report.line())
        return report

    def _rollup(self) -> RollupReport:
        report = roll_up(self.db_path, self.writer, self.clock, self.config.news)
        self.last_rollup = report
        if report.rows:
            log.info("news roll-up: %d row(s) for %s", report.rows, ", ".join(report.symbols))
        return report

    def _guard(self, job: str, run: Callable[[], _T]) -> _T | None:
        try:
            full = self.writer.disk_full_since_ns
            if full is not None:
                # Its rows could only wait in memory, and the articles go first when
                # the queue is at its bound: harvest when they can be stored.
                log.warning(
                    "news job %s skipped: the store cannot write (disk full since %s)",
                    job, iso_utc(full),
                )
                return None
            return run()
        except StoreFullError as exc:
            log.warning("news job %s stopped: %s; it runs again at its next time", job, exc)
            with self._done:
                self.failures[job] += 1
                self.last_error[job] = f"{type(exc).__name__}: {exc}"
            return None
        except Exception as exc:
            # Never let a job's error reach the scheduler thread or the agent: log it
            # with the job's name, keep the schedule, try again next time.
            log.exception("news job %s failed; it runs again at its next time", job)
            with self._done:
                self.failures[job] += 1
                self.last_error[job] = f"{type(exc).__name__}: {exc}"
            return None
        finally:
            with self._done:
                self.runs[job] += 1
                self._done.notify_all()
