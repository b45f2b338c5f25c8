"""The agent's process, ``tickerml edge run``: feeds, store, paper trading, news, sync."""

from edge.agent.service import AgentService, RunSummary, ServiceStatus, run_agent

__all__ = ["AgentService", "RunSummary", "ServiceStatus", "run_agent"]
