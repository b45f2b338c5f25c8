"""Config files: the examples validate, and every mistake names the file and key path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.cli import main
from shared.config.base import ConfigModel, is_secret_key, load_config, validate_config
from shared.config.docs import ROLES, sections
from shared.config.edge import EdgeConfig
from shared.config.hub import HubConfig
from shared.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]
EDGE_EXAMPLE = REPO / "config" / "edge.example.yaml"
HUB_EXAMPLE = REPO / "config" / "hub.example.yaml"
TICKERML = Path(sys.executable).parent / "tickerml"

MINIMAL_EDGE = "agent_id: pi-1\nexchanges:\n  - name: kraken\n    symbols: [BTC/USD]\n"


def write(tmp_path: Path, text: str, name: str = "edge.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def config_error(model: type[ConfigModel], path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_config(model, path)
    return str(caught.value)


def _paths_in(data: Any, prefix: str = "") -> set[str]:
    """Key paths present in parsed YAML, lists written as ``[]`` like the reference."""
    found: set[str] = set()
    if isinstance(data, dict):
        for key, value in data.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            found.add(path)
            if not isinstance(value, list) or any(isinstance(item, dict) for item in value):
                found |= _paths_in(value, path)
    elif isinstance(data, list):
        for item in data:
            found |= _paths_in(item, prefix + "[]")
    return found


# --- the examples -------------------------------------------------------------------


def test_the_edge_example_is_a_valid_config() -> None:
    config = load_config(EdgeConfig, EDGE_EXAMPLE)

    assert config.exchanges, "the example should collect from at least one exchange"


def test_the_hub_example_is_a_valid_config() -> None:
    load_config(HubConfig, HUB_EXAMPLE)


def test_the_edge_example_points_at_the_local_simulator() -> None:
    config = load_config(EdgeConfig, EDGE_EXAMPLE)

    for exchange in config.exchanges:
        assert exchange.ws_url is not None, f"{exchange.name}: no ws_url, would go to the internet"
        assert exchange.ws_url.startswith("ws://127.0.0.1:"), exchange.ws_url


@pytest.mark.parametrize(("filename", "model", "example"), ROLES, ids=[r[0] for r in ROLES])
def test_every_key_is_set_in_the_example(
    filename: str, model: type[ConfigModel], example: str
) -> None:
    data = yaml.safe_load((REPO / example).read_text(encoding="utf-8"))
    present = _paths_in(data)

    missing = [
        doc.path for _, _, fields in sections(model) for doc in fields if doc.path not in present
    ]

    assert not missing, f"{example} does not show {missing}: add each with a comment"


@pytest.mark.parametrize(("filename", "model", "example"), ROLES, ids=[r[0] for r in ROLES])
def test_every_config_field_has_a_description(
    filename: str, model: type[ConfigModel], example: str
) -> None:
    undocumented = [
        doc.path for _, _, fields in sections(model) for doc in fields if not doc.description
    ]

    assert not undocumented, f"{filename}: fields without a description: {undocumented}"


@pytest.mark.parametrize("model", [EdgeConfig, HubConfig])
def test_no_config_field_is_named_like_a_secret(model: type[ConfigModel]) -> None:
    secret_named = [
        doc.path
        for _, _, fields in sections(model)
        for doc in fields
        if is_secret_key(doc.path.rsplit(".", 1)[-1])
    ]

    assert not secret_named, "secrets come from the environment, never a config field"


@pytest.mark.parametrize("model", [EdgeConfig, HubConfig])
def test_every_section_is_frozen_and_rejects_unknown_keys(model: type[ConfigModel]) -> None:
    for path, section, _ in sections(model):
        assert section.model_config.get("extra") == "forbid", path or "(top level)"
        assert section.model_config.get("frozen") is True, path or "(top level)"


# --- mistakes are reported with the file and the key path ---------------------------


def test_an_unknown_key_is_named_with_its_file_and_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_EDGE + "    depht: 10\n")

    message = config_error(EdgeConfig, path)

    assert "edge.yaml: exchanges[0].depht: unknown key" in message


def test_an_unknown_top_level_section_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_EDGE + "stroe:\n  path: x.db\n")

    assert "edge.yaml: stroe: unknown key" in config_error(EdgeConfig, path)


def test_a_wrong_type_names_the_nested_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_EDGE + "store:\n  retention:\n    trades_days: forever\n")

    message = config_error(EdgeConfig, path)

    assert "edge.yaml: store.retention.trades_days:" in message
    assert "valid number" in message


def test_an_out_of_range_value_names_the_path(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_EDGE + "    depth: 0\n")

    assert "edge.yaml: exchanges[0].depth: Input should be greater than 0" in config_error(
        EdgeConfig, path
    )


def test_a_missing_required_key_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, "exchanges:\n  - name: kraken\n")

    message = config_error(EdgeConfig, path)

    assert "edge.yaml: agent_id: required key is missing" in message
    assert "edge.yaml: exchanges[0].symbols: required key is missing" in message


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, "agent_id: 'no spaces allowed'\nlogging:\n  level: LOUD\n")

    message = config_error(EdgeConfig, path)

    assert "(2 problem(s))" in message
    assert "edge.yaml: agent_id:" in message
    assert "edge.yaml: logging.level:" in message


def test_bad_yaml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, "agent_id: pi-1\nexchanges: [\n")

    message = config_error(EdgeConfig, path)

    assert message.startswith(f"{path}: not valid YAML (line 3")


def test_a_key_given_twice_is_an_error(tmp_path: Path) -> None:
    path = write(tmp_path, "agent_id: pi-1\nagent_id: pi-2\n")

    message = config_error(EdgeConfig, path)

    assert f"{path}: not valid YAML (line 2, column 1)" in message
    assert "duplicate key 'agent_id'" in message


def test_a_top_level_list_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- agent_id: pi-1\n")

    assert "edge.yaml: top level must be a mapping, got list" in config_error(EdgeConfig, path)


def test_a_missing_file_is_named(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"

    assert f"{path}: cannot read config" in config_error(EdgeConfig, path)


def test_an_empty_hub_file_takes_every_default(tmp_path: Path) -> None:
    path = write(tmp_path, "", "hub.yaml")

    assert load_config(HubConfig, path) == HubConfig()


# --- secrets come only from the environment -----------------------------------------


@pytest.mark.parametrize(
    ("yaml_text", "key_path"),
    [
        (MINIMAL_EDGE + "    api_key: abc\n", "exchanges[0].api_key"),
        (MINIMAL_EDGE + "    apiSecret: abc\n", "exchanges[0].apiSecret"),
        (MINIMAL_EDGE + "    passphrase: abc\n", "exchanges[0].passphrase"),
        (MINIMAL_EDGE + "mqtt_password: hunter2\n", "mqtt_password"),
        (MINIMAL_EDGE + "store:\n  auth-token: abc\n", "store.auth-token"),
        (MINIMAL_EDGE + "signing:\n  private_key: abc\n", "signing.private_key"),
    ],
)
def test_a_secret_in_a_file_is_refused_with_its_path(
    tmp_path: Path, yaml_text: str, key_path: str
) -> None:
    path = write(tmp_path, yaml_text)

    message = config_error(EdgeConfig, path)

    assert f"edge.yaml: {key_path}: looks like a secret; set it in the environment" in message


def test_a_secret_is_refused_before_it_is_called_an_unknown_key(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_EDGE + "    secret: abc\n")

    message = config_error(EdgeConfig, path)

    assert "secrets are not allowed in config files" in message
    assert "unknown key" not in message


@pytest.mark.parametrize(
    "key", ["api_key", "API_KEY", "apiKey", "client_secret", "db_password", "token", "passwd"]
)
def test_secret_like_keys_are_recognized(key: str) -> None:
    assert is_secret_key(key)


@pytest.mark.parametrize(
    "key", ["api_key_env", "password_env", "symbols", "depth", "ws_url", "keys", "backups"]
)
def test_ordinary_keys_and_env_variable_names_are_allowed(key: str) -> None:
    assert not is_secret_key(key)


def test_the_edge_example_with_trading_enabled_trades_only_markets_it_collects() -> None:
    """Tried: the example with `trading.enabled: true`, as its comments invite. Before
    the fix its strategies named binanceus while it collects binance and kraken, so
    they never saw a book. Kept: valid, and every strategy's exchange and symbols
    among those collected."""
    data = yaml.safe_load(EDGE_EXAMPLE.read_text())
    data["trading"]["enabled"] = True

    config = validate_config(EdgeConfig, data, str(EDGE_EXAMPLE))

    collected = {(e.name, s) for e in config.exchanges for s in e.symbols}
    assert config.trading.strategies
    for strategy in config.trading.strategies:
        assert {(strategy.exchange, s) for s in strategy.symbols} <= collected, strategy.name


def test_a_strategy_on_a_market_not_collected_is_refused_naming_the_key_and_the_markets(
    tmp_path: Path,
) -> None:
    """Tried: trading enabled with one strategy on binanceus (not collected) and one on
    kraken ETH/USD (kraken collected, that symbol not). Before the fix both were
    accepted and traded nothing. Kept: one problem each, by file and key path (the
    exchange; the symbol's index), both listing the markets that are collected."""
    path = write(tmp_path, MINIMAL_EDGE + (
        "trading:\n  enabled: true\n  strategies:\n"
        "    - {name: a, kind: trend, exchange: binanceus, symbols: [BTC/USDT]}\n"
        "    - {name: b, kind: trend, exchange: kraken, symbols: [BTC/USD, ETH/USD]}\n"
    ))

    lines = config_error(EdgeConfig, path).splitlines()

    assert lines == [
        f"{path}: invalid config (2 problem(s))",
        f"  {path}: trading.strategies[0].exchange: 'binanceus' is not collected by this "
        "agent, so strategy 'a' would never trade (collected: kraken BTC/USD)",
        f"  {path}: trading.strategies[1].symbols[1]: ETH/USD is not collected from kraken, "
        "so strategy 'b' would never trade it (collected: kraken BTC/USD)",
    ]


def test_strategies_of_disabled_trading_may_name_any_market(tmp_path: Path) -> None:
    """Kept: with trading off, strategies stay templates for backtests of any market
    (`tickerml backtest` picks them by name), so nothing is checked against exchanges."""
    path = write(tmp_path, MINIMAL_EDGE + (
        "trading:\n  enabled: false\n  strategies:\n"
        "    - {name: a, kind: trend, exchange: binanceus, symbols: [BTC/USDT]}\n"
    ))

    assert load_config(EdgeConfig, path).trading.strategies[0].exchange == "binanceus"


def test_trading_enabled_without_strategies_or_with_two_quotes_is_a_config_error(
    tmp_path: Path,
) -> None:
    """Tried: trading on with no strategy, then a strategy over BTC/USD and ETH/BTC.
    Before the fix the file passed and the agent refused at start. Kept: each refused
    by the config model at its key path, so check-config says it too."""
    empty = write(tmp_path, MINIMAL_EDGE + "trading: {enabled: true}\n", "empty.yaml")
    mixed = write(tmp_path, MINIMAL_EDGE + (
        "trading:\n  enabled: true\n  strategies:\n"
        "    - {name: a, kind: trend, exchange: kraken, symbols: [BTC/USD, ETH/BTC]}\n"
    ), "mixed.yaml")

    assert (f"{empty}: trading.strategies: trading is enabled but no strategy is listed"
            in config_error(EdgeConfig, empty))
    assert (f"{mixed}: trading.strategies[0].symbols: Value error, one quote currency per "
            "portfolio, got BTC, USD" in config_error(EdgeConfig, mixed))


# --- check-config commands ----------------------------------------------------------


def test_edge_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    main(["edge", "check-config", "-c", str(EDGE_EXAMPLE)])

    assert f"{EDGE_EXAMPLE}: ok" in capsys.readouterr().out


def test_hub_check_config_accepts_the_example(capsys: pytest.CaptureFixture[str]) -> None:
    main(["hub", "check-config", "-c", str(HUB_EXAMPLE)])

    assert f"{HUB_EXAMPLE}: ok" in capsys.readouterr().out


@pytest.mark.parametrize("role", ["edge", "hub"])
def test_check_config_exits_2_naming_the_file_and_key(
    tmp_path: Path, role: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, "agent_id: pi-1\nlogging:\n  levle: INFO\n", f"{role}.yaml")

    with pytest.raises(SystemExit) as caught:
        main([role, "check-config", "-c", str(path)])

    assert caught.value.code == 2
    assert f"{role}.yaml: logging.levle: unknown key" in capsys.readouterr().err


@pytest.mark.slow
def test_the_installed_command_reports_a_bad_config(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL_EDGE + "    depht: 10\n")

    result = subprocess.run(
        [str(TICKERML), "edge", "check-config", "-c", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert result.stderr.startswith(f"error: {path}: invalid config")
    assert f"{path}: exchanges[0].depht: unknown key" in result.stderr


@pytest.mark.parametrize("model", [EdgeConfig, HubConfig], ids=["edge", "hub"])
def test_a_binary_config_file_is_a_config_error_naming_it(
    tmp_path: Path, model: type[ConfigModel]
) -> None:
    """Tried: load_config on a file of binary bytes (a PNG header). Kept: ConfigError
    naming the file as not YAML text (was: UnicodeDecodeError escaping the loader)."""
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\x89PNG\r\n\x1a\n\x00\xff")

    with pytest.raises(ConfigError) as caught:
        load_config(model, path)

    assert str(caught.value).startswith(f"{path}: not a YAML text file (byte 0 is not UTF-8)")
