"""The hub's commands to this agent: parse, run once, answer.

Every message on ``hub_command(agent)`` gets exactly one
:class:`~shared.sync.messages.CommandResult`: ``done``, ``refused`` (malformed,
unknown kind, not possible here — with the reason), ``failed`` (the handler
raised) or ``expired`` (it arrived after its ``expires_ns``: the broker kept it
while the agent was offline, or delivered it late, and a "pause trading" must not
take effect long after it was meant; it is not run). A command redelivered with
the same ``command_id`` (QoS 1 delivers at least once) is answered with the first
result and not run again.

What a command does belongs to the process that owns the thing: the agent
(:mod:`edge.agent.commands`) hands in :class:`CommandHandlers`; a kind without a
handler is refused with the reason this process cannot do it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from shared.clock import Clock
from shared.errors import MessageError
from shared.sync.messages import COMMAND_KINDS, Command, CommandResult

log = logging.getLogger("edge.sync")

REMEMBERED_COMMANDS = 1024
"""Results kept for answering redeliveries; far more than a hub sends between two."""

NO_MODEL = "no model is deployed on agents yet (model deployment is a later issue)"


class CommandRefused(Exception):
    """Raised by a handler that will not do it; the message is the reason the hub gets."""


@dataclass(frozen=True, slots=True)
class CommandHandlers:
    """What the owner of the agent process can do for the hub.

    Each handler returns a short detail for the result, or raises
    :class:`CommandRefused`; ``None`` means this process cannot do it at all, and
    the command is refused with the matching ``*_refusal``.
    """

    resync: Callable[[str, str | None], str] | None = None
    """``resync(symbol, exchange or None)``: distrust that book and fetch a fresh snapshot."""
    pause_trading: Callable[[], str] | None = None
    """Pause every paper-trading strategy."""
    resume_trading: Callable[[], str] | None = None
    """Resume what ``pause_trading`` paused."""
    rollback_model: Callable[[], str] | None = None
    """Go back to the previous model version."""
    trading_paused: Callable[[], bool] | None = None
    """Whether trading is paused now (reported in the status)."""
    resync_refusal: str = "this process keeps no order books (the sync runs on its own)"
    trading_refusal: str = "paper trading is not running in this process"
    rollback_refusal: str = NO_MODEL


def _raw_fields(payload: bytes) -> tuple[str, str]:
    """The command id and kind of a payload that failed validation, where readable."""
    try:
        raw = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return "", ""
    if not isinstance(raw, dict):
        return "", ""
    command_id, kind = raw.get("command_id"), raw.get("kind")
    return (
        command_id if isinstance(command_id, str) and len(command_id) <= 64 else "",
        kind[:64] if isinstance(kind, str) else "",
    )


class CommandProcessor:
    """Turns one command payload into its result, running each command id once."""

    def __init__(
        self,
        agent_id: str,
        handlers: CommandHandlers,
        clock: Clock,
        *,
        send_status: Callable[[], None],
    ) -> None:
        self.agent_id = agent_id
        self.handlers = handlers
        self.clock = clock
        self.send_status = send_status
        self._results: OrderedDict[str, CommandResult] = OrderedDict()
        self.handled = 0
        self.duplicates = 0
        self.expired = 0

    def handle(self, payload: bytes) -> CommandResult:
        """Validate and run one command; never raises."""
        try:
            command = Command.from_bytes(payload, where="command")
        except MessageError as exc:
            command_id, kind = _raw_fields(payload)
            if kind and kind not in COMMAND_KINDS:
                reason = f"unknown command kind {kind!r} (known: {', '.join(COMMAND_KINDS)})"
            else:
                reason = str(exc)
            log.warning("sync: refusing a command: %s", reason)
            return self._result(command_id, kind, "refused", reason)
        if command.agent_id != self.agent_id:
            reason = f"addressed to agent {command.agent_id!r}, this is {self.agent_id!r}"
            log.warning("sync: refusing command %s: %s", command.command_id, reason)
            return self._result(command.command_id, command.kind, "refused", reason)
        known = self._results.get(command.command_id)
        if known is not None:
            self.duplicates += 1
            log.info("sync: command %s seen before, answering it again", command.command_id)
            return known
        now_ns = self.clock.time_ns()
        if command.expires_ns is not None and now_ns > command.expires_ns:
            self.expired += 1
            late_s = (now_ns - command.expires_ns) / 1e9
            detail = f"arrived {late_s:.1f} s after it expired; not run"
            log.warning("sync: command %s (%s) %s", command.command_id, command.kind, detail)
            return self._remember(
                self._result(command.command_id, command.kind, "expired", detail)
            )
        self.handled += 1
        try:
            detail = self._run(command)
            outcome = "done"
        except CommandRefused as exc:
            outcome, detail = "refused", str(exc)
        except Exception as exc:  # a handler's bug is reported to the hub, not raised here
            log.exception("sync: command %s (%s) failed", command.command_id, command.kind)
            outcome, detail = "failed", f"{type(exc).__name__}: {exc}"
        log.info("sync: command %s (%s): %s %s", command.command_id, command.kind, outcome,
                 detail)
        return self._remember(self._result(command.command_id, command.kind, outcome, detail))

    def _remember(self, result: CommandResult) -> CommandResult:
        """Keep ``result`` for answering a redelivery of its command; returns it."""
        self._results[result.command_id] = result
        while len(self._results) > REMEMBERED_COMMANDS:
            self._results.popitem(last=False)
        return result

    def _run(self, command: Command) -> str:
        h = self.handlers
        if command.kind == "resync":
            symbol = command.args.get("symbol")
            if not symbol:
                raise CommandRefused("resync needs args.symbol, e.g. {'symbol': 'BTC/USDT'}")
            if h.resync is None:
                raise CommandRefused(h.resync_refusal)
            return h.resync(symbol, command.args.get("exchange"))
        if command.kind in ("pause_trading", "resume_trading"):
            handler = h.pause_trading if command.kind == "pause_trading" else h.resume_trading
            if handler is None:
                raise CommandRefused(h.trading_refusal)
            return handler()
        if command.kind == "rollback_model":
            if h.rollback_model is None:
                raise CommandRefused(h.rollback_refusal)
            return h.rollback_model()
        # send_status: Command.kind is a closed Literal, so it is the only kind left.
        self.send_status()
        return "status published"

    def _result(self, command_id: str, kind: str, outcome: str, detail: str) -> CommandResult:
        return CommandResult.model_validate({
            "agent_id": self.agent_id, "command_id": command_id, "kind": kind,
            "outcome": outcome, "detail": detail, "ts_ns": self.clock.time_ns(),
        })
