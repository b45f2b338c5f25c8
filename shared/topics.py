"""Every MQTT topic TickerML uses, built here and nowhere else.

One versioned namespace, ``tickerml/v1``, split by owner so the broker's ACL can
say who may publish what with two patterns:

* ``tickerml/v1/agent/<agent_id>/...`` — owned by that agent (it publishes, the hub
  reads): data batches, its retained status, the outcomes of commands.
* ``tickerml/v1/hub/<agent_id>/...`` — owned by the hub, addressed to one agent (the
  hub publishes, only that agent reads): batch acknowledgements and commands.
* ``tickerml/v1/models/...`` — owned by the hub, read by every agent (model releases,
  in the model-deployment issue).

An agent's MQTT username is its agent id (the CN of its client certificate), so the
ACL patterns ``write tickerml/v1/agent/%u/#`` and ``read tickerml/v1/hub/%u/#`` are the
whole rule "an agent may only ever speak for itself".
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.errors import MessageError

NAMESPACE = "tickerml/v1"

AgentTopicKind = Literal["data", "status", "cmd-result"]

_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_TABLE = re.compile(r"[a-z][a-z0-9_]{0,63}")


def _agent(agent_id: str) -> str:
    if not _ID.fullmatch(agent_id):
        raise MessageError(f"agent id {agent_id!r} is not 1-64 letters, digits, '-' or '_'")
    return agent_id


def agent_data(agent_id: str, table: str) -> str:
    """Where an agent publishes batches of ``table``'s rows (QoS 1)."""
    if not _TABLE.fullmatch(table):
        raise MessageError(f"table name {table!r} is not a plain lower-case identifier")
    return f"{NAMESPACE}/agent/{_agent(agent_id)}/data/{table}"


def agent_status(agent_id: str) -> str:
    """An agent's retained status (its last will sets it ``offline``)."""
    return f"{NAMESPACE}/agent/{_agent(agent_id)}/status"


def agent_command_result(agent_id: str) -> str:
    """Where an agent answers each command with its outcome."""
    return f"{NAMESPACE}/agent/{_agent(agent_id)}/cmd-result"


def hub_ack(agent_id: str) -> str:
    """Where the hub acknowledges an agent's batches after its durable commit."""
    return f"{NAMESPACE}/hub/{_agent(agent_id)}/ack"


def hub_command(agent_id: str) -> str:
    """Where the hub sends commands to one agent."""
    return f"{NAMESPACE}/hub/{_agent(agent_id)}/cmd"


MODELS = f"{NAMESPACE}/models/#"
"""Model releases (the model-deployment issue publishes under it); every agent reads it."""

HUB_SUBSCRIPTIONS: tuple[str, ...] = (
    f"{NAMESPACE}/agent/+/data/+",
    f"{NAMESPACE}/agent/+/status",
    f"{NAMESPACE}/agent/+/cmd-result",
)
"""What the hub's ingest subscribes to."""


def is_agent_data(topic: str) -> bool:
    """Whether ``topic`` is some agent's data topic (cheap: no validation of its parts)."""
    parts = topic.split("/")
    return (len(parts) == 6 and parts[2] == "agent" and parts[4] == "data"
            and f"{parts[0]}/{parts[1]}" == NAMESPACE)


def topic_agent(topic: str) -> str | None:
    """The agent id an agent-owned topic names, or None when it names no valid one
    (cheap: the rest of the topic is not checked; :func:`parse_agent_topic` does that)."""
    parts = topic.split("/", 4)
    if len(parts) < 4 or parts[2] != "agent" or f"{parts[0]}/{parts[1]}" != NAMESPACE:
        return None
    return parts[3] if _ID.fullmatch(parts[3]) else None


def agent_subscriptions(agent_id: str) -> tuple[str, ...]:
    """What an agent subscribes to: its acknowledgements, its commands, the models."""
    return (hub_ack(agent_id), hub_command(agent_id), MODELS)


@dataclass(frozen=True, slots=True)
class AgentTopic:
    """A parsed agent-owned topic."""

    agent_id: str
    kind: AgentTopicKind
    table: str | None = None


def parse_agent_topic(topic: str) -> AgentTopic:
    """The agent, kind and (for data) table of an agent-owned topic; MessageError if not one."""
    parts = topic.split("/")
    if len(parts) < 4 or "/".join(parts[:2]) != NAMESPACE or parts[2] != "agent":
        raise MessageError(f"topic {topic!r} is not under {NAMESPACE}/agent/")
    agent_id = parts[3]
    if not _ID.fullmatch(agent_id):
        raise MessageError(f"topic {topic!r}: bad agent id {agent_id!r}")
    rest = parts[4:]
    if len(rest) == 2 and rest[0] == "data" and _TABLE.fullmatch(rest[1]):
        return AgentTopic(agent_id, "data", rest[1])
    if rest == ["status"]:
        return AgentTopic(agent_id, "status")
    if rest == ["cmd-result"]:
        return AgentTopic(agent_id, "cmd-result")
    raise MessageError(f"topic {topic!r}: unknown agent topic")


TOPICS: tuple[tuple[str, str, str], ...] = (
    (f"{NAMESPACE}/agent/<agent>/data/<table>", "agent → hub",
     "a batch of one table's rows (QoS 1, compressed, schema-versioned)"),
    (f"{NAMESPACE}/agent/<agent>/status", "agent → hub",
     "retained status: online/offline (last will), versions, backlog, feed health"),
    (f"{NAMESPACE}/agent/<agent>/cmd-result", "agent → hub", "a command's outcome"),
    (f"{NAMESPACE}/hub/<agent>/ack", "hub → agent",
     "a batch acknowledged after the hub's durable commit (or rejected, with the reason)"),
    (f"{NAMESPACE}/hub/<agent>/cmd", "hub → agent",
     "a command: resync, pause_trading, resume_trading, rollback_model, send_status"),
    (f"{NAMESPACE}/models/#", "hub → agents", "model releases (model-deployment issue)"),
)
"""(topic, direction, what it carries): the documented list (docs/sync.md)."""
