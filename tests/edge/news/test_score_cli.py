"""``tickerml news score`` through click's CliRunner, against the loopback Ollama server."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from edge.news.builtin import BuiltinScorer
from edge.news.prompt import prompt_hash
from edge.news.score_cli import score_command
from tests.edge.news.ollama_server import OllamaServer, closed_port_url, running


@pytest.fixture()
def server() -> Iterator[OllamaServer]:
    with running() as srv:
        yield srv


def invoke(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(score_command, list(args), input=stdin)


def write_config(tmp_path: Path, host: str, scorer: str = "auto") -> Path:
    path = tmp_path / "edge.yaml"
    path.write_text(
        f"agent_id: pi-test\nnews:\n  scorer: {scorer}\n  ollama:\n    host: {host}\n"
        "    model: test-model\n    timeout_s: 3\n    budget_s: 2\n    retries: 0\n"
        "  aliases:\n    BTC: [bitcoin, btc]\n    ETH: [ethereum, ether]\n"
    )
    return path


def port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


def test_without_a_config_or_ollama_it_falls_back_to_builtin_and_says_so() -> None:
    """Tried: the default config (Ollama at 127.0.0.1:11434), nothing listening there.
    Kept: exit 0, a table of built-in scores tagged by the default aliases, and a note
    that the LLM is unreachable and the built-in scorer was used."""
    if port_open("127.0.0.1", 11434):
        pytest.skip("something listens on Ollama's default port here")
    result = invoke("Bitcoin surges to a record high", "Ethereum exchange hacked")

    assert result.exit_code == 0, result.output
    assert "builtin" in result.output and "positive" in result.output
    assert "BTC" in result.output and "ETH" in result.output
    flat = " ".join(result.output.split())
    assert "not reachable" in flat and "scored with the built-in scorer" in flat


def test_json_output_carries_llm_scores_model_and_prompt_hash(
    tmp_path: Path, server: OllamaServer,
) -> None:
    """Tried: two headlines with --json and a config pointing at the loopback server.
    Kept: JSON with the LLM's verdicts, per-symbol scores for the alias-tagged coins,
    the model and prompt hash, and no note."""
    config = write_config(tmp_path, server.url)
    result = invoke("Bitcoin rallies", "Ether plunges after hack", "--json", "-c", str(config))

    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["scorer"] == "auto" and data["note"] is None
    first, second = data["results"]
    assert (first["scorer"], first["label"], first["score"]) == ("llm", "positive", 0.8)
    assert first["model"] == "test-model" and first["prompt_hash"] == prompt_hash()
    assert list(first["per_symbol"]) == ["BTC"]
    assert second["label"] == "negative" and list(second["per_symbol"]) == ["ETH"]


def test_headlines_from_stdin_with_an_extra_symbol_and_the_builtin_scorer(
    tmp_path: Path, server: OllamaServer,
) -> None:
    """Tried: --file - with two lines (and a blank one), --symbol sol, --scorer builtin.
    Kept: two results, SOL added to every headline, the built-in version as model, and
    no request to the server."""
    config = write_config(tmp_path, server.url)
    result = invoke(
        "--file", "-", "--symbol", "sol", "--scorer", "builtin", "--json", "-c", str(config),
        stdin="Bitcoin ETF approved\n\nMarkets drift sideways\n",
    )

    assert result.exit_code == 0, result.output
    results = json.loads(result.stdout)["results"]
    assert [r["symbols"] for r in results] == [["BTC", "SOL"], ["SOL"]]
    assert {r["model"] for r in results} == {BuiltinScorer.version}
    assert server.requests == []


def test_llm_only_with_ollama_down_leaves_headlines_unscored_and_exits_1(
    tmp_path: Path,
) -> None:
    """Tried: --scorer llm against a closed port. Kept: exit 1, label "pending", and the
    reason on stderr."""
    config = write_config(tmp_path, closed_port_url())
    result = invoke("Bitcoin rallies", "--scorer", "llm", "--json", "-c", str(config))

    assert result.exit_code == 1
    [only] = json.loads(result.stdout)["results"]
    assert only["label"] == "pending" and only["scorer"] is None
    assert "headlines left unscored" in result.stderr


def test_no_headlines_is_a_usage_error() -> None:
    """Tried: no arguments and no --file. Kept: click's usage error (exit 2)."""
    result = invoke()
    assert result.exit_code == 2
    assert "give headlines" in result.output


def test_a_headline_with_square_brackets_is_printed_verbatim() -> None:
    """Tried: a headline holding "[finally]", which rich would read as markup. Kept: the
    headline as written in the table."""
    result = CliRunner().invoke(score_command, ["--scorer", "builtin", "SEC [finally] approves"],
                                terminal_width=200)

    assert result.exit_code == 0, result.output
    assert "SEC [finally] approves" in result.output
