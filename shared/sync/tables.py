"""The tables an agent syncs to the hub, column by column.

Every synced table is append-only at the edge with ``id INTEGER PRIMARY KEY
AUTOINCREMENT`` first: a local id that only grows. The agent sends rows after its
acknowledged id; the hub keys each row on (agent, table, local id), so a row sent
twice is stored once. The column lists here are the contract both sides check:
the agent refuses to start syncing a table whose columns differ from these (a
migration that forgot the contract), and the hub refuses a batch that names other
columns. Changing one means bumping :data:`~shared.sync.messages.SCHEMA_VERSION`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class SyncedTable:
    """One synced table: its columns (``id`` first), the column that dates a row, and
    what the agent's insert does with a repeated row."""

    name: str
    columns: tuple[str, ...]
    time_column: str
    time_unit_ns: int = 1
    """Nanoseconds per unit of ``time_column`` (1 for ``*_ns``, 1e6 for ``*_ms``)."""
    on_conflict: Literal["ABORT", "IGNORE"] = "ABORT"
    """What the agent's insert does with a row that repeats a unique key beyond ``id``
    (SQLite's conflict clause): ``IGNORE`` keeps the stored row, for tables whose rows
    can honestly arrive twice (a trade after a reconnect, a rebuilt candle, an article
    fetched again); ``ABORT``, a plain ``INSERT``, everywhere else."""

    @property
    def data_columns(self) -> tuple[str, ...]:
        """The columns after ``id``: what the hub stores beside (agent, local id)."""
        return self.columns[1:]


def _table(
    name: str,
    columns: str,
    time_column: str,
    time_unit_ns: int = 1,
    on_conflict: Literal["ABORT", "IGNORE"] = "ABORT",
) -> SyncedTable:
    return SyncedTable(name, ("id", *columns.split()), time_column, time_unit_ns, on_conflict)


TABLES: dict[str, SyncedTable] = {
    t.name: t
    for t in (
        _table("trades", "exchange symbol trade_id price size side ts_exchange_ns ts_recv_ns "
               "source", "ts_recv_ns", on_conflict="IGNORE"),
        _table("candles_1m", "exchange symbol open_time_ms open high low close volume trades "
               "source", "open_time_ms", 1_000_000, on_conflict="IGNORE"),
        _table("book_snapshots", "exchange symbol ts_ns sequence best_bid best_ask bids asks",
               "ts_ns"),
        _table("feed_events", "exchange symbol kind detail ts_ns", "ts_ns"),
        _table("raw_messages", "exchange kind url ts_recv_ns data", "ts_recv_ns"),
        _table("paper_portfolios", "strategy quote starting_balance ts_ns", "ts_ns"),
        _table("order_events", "order_id strategy exchange symbol side type tif post_only qty "
               "price stop_price status filled_qty avg_price fees queue_ahead parent_id oco_id "
               "bracket_stop bracket_take tag reason created_ns arrive_ns ts_ns", "ts_ns"),
        _table("fills", "order_id strategy exchange symbol side price qty fee liquidity ts_ns",
               "ts_ns"),
        _table("risk_rejections", "strategy exchange symbol reason detail order_id ts_ns",
               "ts_ns"),
        _table("portfolio_state", "strategy ts_ns cash positions_value equity realized "
               "unrealized fees drawdown exposure peak_equity open_positions", "ts_ns"),
        _table("arbitrage_opportunities", "symbol buy_exchange sell_exchange start_ns end_ns "
               "duration_ns buy_price sell_price size edge_bps profit max_edge_bps max_size "
               "max_profit updates", "start_ns"),
        _table("news_articles", "url title title_key summary source symbols published_ns "
               "fetched_ns", "fetched_ns", on_conflict="IGNORE"),
        _table("news_scores", "article_id symbol scorer model prompt_hash score label "
               "confidence relevance scored_ns", "scored_ns", on_conflict="IGNORE"),
        _table("news_sentiment_hourly", "symbol hour_start_ns articles mean weighted dispersion "
               "negative_share llm_share regime regime_score computed_ns", "computed_ns",
               on_conflict="IGNORE"),
        # What the agent deleted unsynced when its disk budget ran out: the hub learns
        # of every gap it will never fill, with its id range and reason.
        _table("sync_drops", "table_name first_id last_id rows reason ts_ns", "ts_ns"),
    )
}
"""Every synced table by name, in the order a fresh agent drains them."""
