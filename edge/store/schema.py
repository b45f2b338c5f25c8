"""Named migrations of the agent's database, applied in order.

Every table has ``id INTEGER PRIMARY KEY AUTOINCREMENT``: a local id that only
ever grows, never reused even after rows are pruned. The sync to the hub sends
rows after an acknowledged id, so this is a contract, not a detail.
Prices and sizes are stored as exact decimal strings; ``REAL`` columns are
conveniences for queries and are never the source of truth.
"""

from __future__ import annotations

from shared.sync.tables import EPOCH_TABLE

MIGRATIONS: list[tuple[str, str]] = [
    (
        "0001_market_data",
        """
        CREATE TABLE trades (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            trade_id TEXT,
            price TEXT NOT NULL,
            size TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            ts_exchange_ns INTEGER NOT NULL,
            ts_recv_ns INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'live'
        );
        CREATE UNIQUE INDEX trades_unique ON trades (exchange, symbol, trade_id);
        CREATE INDEX trades_time ON trades (exchange, symbol, ts_exchange_ns);

        CREATE TABLE candles_1m (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            open_time_ms INTEGER NOT NULL,
            open TEXT NOT NULL,
            high TEXT NOT NULL,
            low TEXT NOT NULL,
            close TEXT NOT NULL,
            volume TEXT NOT NULL,
            trades INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'live'
        );
        CREATE UNIQUE INDEX candles_1m_unique ON candles_1m (exchange, symbol, open_time_ms);

        CREATE TABLE book_snapshots (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            ts_ns INTEGER NOT NULL,
            sequence INTEGER NOT NULL,
            best_bid REAL,
            best_ask REAL,
            bids TEXT NOT NULL,
            asks TEXT NOT NULL
        );
        CREATE INDEX book_snapshots_time ON book_snapshots (exchange, symbol, ts_ns);

        CREATE TABLE feed_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            kind TEXT NOT NULL,
            detail TEXT NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX feed_events_time ON feed_events (ts_ns);

        CREATE TABLE raw_messages (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            kind TEXT NOT NULL,
            url TEXT NOT NULL,
            ts_recv_ns INTEGER NOT NULL,
            data TEXT NOT NULL
        );
        CREATE INDEX raw_messages_time ON raw_messages (ts_recv_ns);
        """,
    ),
    (
        "0002_paper_trading",
        # The paper-trading ledger. Append-only: an order's every change is a new
        # order_events row (its state is the last one), so the sync's "rows after
        # id N" sees every change and a crash can only lose whole trailing groups.
        """
        CREATE TABLE paper_portfolios (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            strategy TEXT NOT NULL,
            quote TEXT NOT NULL,
            starting_balance TEXT NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX paper_portfolios_strategy ON paper_portfolios (strategy);

        CREATE TABLE order_events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            order_id INTEGER NOT NULL,
            strategy TEXT NOT NULL,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            type TEXT NOT NULL,
            tif TEXT NOT NULL,
            post_only INTEGER NOT NULL,
            qty TEXT NOT NULL,
            price TEXT,
            stop_price TEXT,
            status TEXT NOT NULL,
            filled_qty TEXT NOT NULL,
            avg_price TEXT NOT NULL,
            fees TEXT NOT NULL,
            queue_ahead TEXT NOT NULL,
            parent_id INTEGER,
            oco_id INTEGER,
            bracket_stop TEXT,
            bracket_take TEXT,
            tag TEXT NOT NULL,
            reason TEXT NOT NULL,
            created_ns INTEGER NOT NULL,
            arrive_ns INTEGER NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX order_events_order ON order_events (order_id);
        CREATE INDEX order_events_time ON order_events (strategy, ts_ns);

        CREATE TABLE fills (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            order_id INTEGER NOT NULL,
            strategy TEXT NOT NULL,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('buy', 'sell')),
            price TEXT NOT NULL,
            qty TEXT NOT NULL,
            fee TEXT NOT NULL,
            liquidity TEXT NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX fills_order ON fills (order_id);
        CREATE INDEX fills_time ON fills (strategy, ts_ns);

        CREATE TABLE risk_rejections (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            strategy TEXT NOT NULL,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            reason TEXT NOT NULL,
            detail TEXT NOT NULL,
            order_id INTEGER,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX risk_rejections_time ON risk_rejections (strategy, ts_ns);

        CREATE TABLE portfolio_state (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            strategy TEXT NOT NULL,
            ts_ns INTEGER NOT NULL,
            cash TEXT NOT NULL,
            positions_value TEXT NOT NULL,
            equity TEXT NOT NULL,
            realized TEXT NOT NULL,
            unrealized TEXT NOT NULL,
            fees TEXT NOT NULL,
            drawdown TEXT NOT NULL,
            exposure TEXT NOT NULL,
            peak_equity TEXT NOT NULL,
            open_positions INTEGER NOT NULL
        );
        CREATE INDEX portfolio_state_time ON portfolio_state (strategy, ts_ns);
        """,
    ),
    (
        "0003_arbitrage",
        """
        CREATE TABLE arbitrage_opportunities (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            symbol TEXT NOT NULL,
            buy_exchange TEXT NOT NULL,
            sell_exchange TEXT NOT NULL,
            start_ns INTEGER NOT NULL,
            end_ns INTEGER,
            duration_ns INTEGER,
            buy_price TEXT NOT NULL,
            sell_price TEXT NOT NULL,
            size TEXT NOT NULL,
            edge_bps REAL NOT NULL,
            profit TEXT NOT NULL,
            max_edge_bps REAL NOT NULL,
            max_size TEXT NOT NULL,
            max_profit TEXT NOT NULL,
            updates INTEGER NOT NULL
        );
        CREATE INDEX arbitrage_time ON arbitrage_opportunities (symbol, start_ns);
        """,
    ),
    (
        "0004_sync",
        # The sync's own bookkeeping. sync_cursors holds, per synced table, the newest
        # id the hub acknowledged; sync_drops records every range of rows the disk
        # budget deleted before the hub had them (it is itself synced, so the hub
        # learns of every gap it will never fill).
        """
        CREATE TABLE sync_cursors (
            table_name TEXT PRIMARY KEY,
            acked_id INTEGER NOT NULL,
            ts_ns INTEGER NOT NULL
        );

        CREATE TABLE sync_drops (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            table_name TEXT NOT NULL,
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        CREATE INDEX sync_drops_time ON sync_drops (ts_ns);
        """,
    ),
    (
        "0005_news",
        # News and its sentiment. Append-only like the rest, so all three sync: an
        # article is stored once (its URL and its normalized title are unique), every
        # score is a new row naming its scorer, model and prompt hash (a rescore by the
        # LLM adds a row, it never overwrites the offline scorer's), and an hour's
        # roll-up row is written once, after the hour closed. news_sources is the
        # harvester's own state per feed (conditional GET, backoff): not synced.
        """
        CREATE TABLE news_articles (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            url TEXT NOT NULL,
            title TEXT NOT NULL,
            title_key TEXT NOT NULL,
            summary TEXT NOT NULL,
            source TEXT NOT NULL,
            symbols TEXT NOT NULL,
            published_ns INTEGER,
            fetched_ns INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX news_articles_url ON news_articles (url);
        CREATE UNIQUE INDEX news_articles_title ON news_articles (title_key);
        CREATE INDEX news_articles_time ON news_articles (fetched_ns);

        CREATE TABLE news_scores (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            article_id INTEGER NOT NULL,
            symbol TEXT NOT NULL,
            scorer TEXT NOT NULL CHECK (scorer IN ('llm', 'builtin')),
            model TEXT NOT NULL,
            prompt_hash TEXT NOT NULL,
            score REAL NOT NULL,
            label TEXT NOT NULL CHECK (label IN ('negative', 'neutral', 'positive')),
            confidence REAL NOT NULL,
            relevance REAL NOT NULL,
            scored_ns INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX news_scores_unique
            ON news_scores (article_id, symbol, scorer, model, prompt_hash);
        CREATE INDEX news_scores_time ON news_scores (scored_ns);

        CREATE TABLE news_sentiment_hourly (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            symbol TEXT NOT NULL,
            hour_start_ns INTEGER NOT NULL,
            articles INTEGER NOT NULL,
            mean REAL NOT NULL,
            weighted REAL NOT NULL,
            dispersion REAL NOT NULL,
            negative_share REAL NOT NULL,
            llm_share REAL NOT NULL,
            regime TEXT NOT NULL,
            regime_score REAL NOT NULL,
            computed_ns INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX news_sentiment_hourly_unique
            ON news_sentiment_hourly (symbol, hour_start_ns);

        CREATE TABLE news_sources (
            name TEXT PRIMARY KEY,
            url TEXT NOT NULL,
            etag TEXT,
            last_modified TEXT,
            failures INTEGER NOT NULL DEFAULT 0,
            next_try_ns INTEGER NOT NULL DEFAULT 0,
            last_status INTEGER,
            last_error TEXT,
            checked_ns INTEGER
        );
        """,
    ),
    (
        "0006_epoch",
        # The database's epoch: a random id made once, by this migration, whether it
        # runs on a new database or on one made by an older version. Every batch, the
        # status and the hub's acks carry it, and the hub keys rows on (agent, epoch,
        # local id): a database that starts its ids again (an SD card replaced, the
        # data_dir moved) is a new series at the hub, never mistaken for rows it has.
        # A copy of the file keeps the epoch: the hub then tells its rows apart by
        # content. sync_conflicts records every batch the hub answered "conflict"
        # (rows whose content differs from the hub's copy): the agent moves on, and
        # this is where it remembers why. Not synced.
        f"""
        CREATE TABLE {EPOCH_TABLE} (
            singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
            epoch TEXT NOT NULL CHECK (length(epoch) = 32),
            created_ns INTEGER NOT NULL
        );
        INSERT INTO {EPOCH_TABLE} (singleton, epoch, created_ns)
            VALUES (1, lower(hex(randomblob(16))),
                    CAST(strftime('%s', 'now') AS INTEGER) * 1000000000);

        CREATE TABLE sync_conflicts (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            table_name TEXT NOT NULL,
            first_id INTEGER NOT NULL,
            last_id INTEGER NOT NULL,
            rows INTEGER NOT NULL,
            reason TEXT NOT NULL,
            ts_ns INTEGER NOT NULL
        );
        """,
    ),
    (
        "0007_candles_tf",
        # Candles of timeframes other than one minute (5m, 1h, 1d...), as imported from
        # exchange files by `tickerml data import`; one table, keyed by timeframe
        # (written 5m, 1h, 1d: shared.candles.timeframe_name). The agent builds and
        # syncs only 1-minute candles (candles_1m), from which every longer timeframe
        # can be resampled; this table is local to the agent and not synced.
        """
        CREATE TABLE candles_tf (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            timeframe TEXT NOT NULL,
            open_time_ms INTEGER NOT NULL,
            open TEXT NOT NULL,
            high TEXT NOT NULL,
            low TEXT NOT NULL,
            close TEXT NOT NULL,
            volume TEXT NOT NULL,
            trades INTEGER NOT NULL,
            source TEXT NOT NULL DEFAULT 'import'
        );
        CREATE UNIQUE INDEX candles_tf_unique
            ON candles_tf (exchange, symbol, timeframe, open_time_ms);
        """,
    ),
]
