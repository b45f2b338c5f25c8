"""Logging: one line per event, to stderr and to a file that rotates."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from shared.config.logging import LoggingConfig
from shared.logs import one_line, setup_logging

LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (DEBUG|INFO|WARNING|ERROR) \S+ ")


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    """setup_logging configures the process's root logger: put it back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
            handler.close()
    root.setLevel(level)


def lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def log_to_file(config: LoggingConfig, data_dir: Path | None = None) -> Path:
    path = setup_logging(config, data_dir)
    assert path is not None
    return path


def test_the_log_file_is_relative_to_the_data_dir(tmp_path: Path) -> None:
    path = log_to_file(LoggingConfig(file="logs/agent.log"), data_dir=tmp_path)

    logging.getLogger("tickerml.test").info("hello")

    assert path == tmp_path / "logs" / "agent.log"
    assert lines(path)[-1].endswith("INFO tickerml.test hello")


def test_a_multi_line_message_stays_on_one_line(tmp_path: Path) -> None:
    path = log_to_file(LoggingConfig(file=str(tmp_path / "t.log")))

    logging.getLogger("tickerml.test").warning("first\nsecond\r\nthird")

    (line,) = lines(path)
    assert LINE.match(line)
    assert line.endswith("WARNING tickerml.test first\\nsecond\\r\\nthird")


def test_a_traceback_is_escaped_onto_its_event_line(tmp_path: Path) -> None:
    path = log_to_file(LoggingConfig(file=str(tmp_path / "t.log")))
    log = logging.getLogger("tickerml.test")

    try:
        raise ValueError("bad\nvalue")
    except ValueError:
        log.exception("it failed")
    log.info("after")

    first, second = lines(path)
    assert LINE.match(first)
    assert "it failed\\nTraceback (most recent call last):\\n" in first
    assert first.endswith("ValueError: bad\\nvalue")
    assert second.endswith("INFO tickerml.test after")


def test_escaping_is_unambiguous() -> None:
    assert one_line("a\\nb") == "a\\\\nb"
    assert one_line("a\nb") == "a\\nb"


def test_each_event_also_goes_to_stderr_as_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    setup_logging(LoggingConfig(file=None))

    logging.getLogger("tickerml.test").error("line one\nline two")

    (line,) = capsys.readouterr().err.splitlines()
    assert LINE.match(line)
    assert line.endswith("ERROR tickerml.test line one\\nline two")


def test_events_below_the_level_are_dropped(tmp_path: Path) -> None:
    path = log_to_file(LoggingConfig(level="WARNING", file=str(tmp_path / "t.log")))
    log = logging.getLogger("tickerml.test")

    log.info("quiet")
    log.warning("loud")

    assert [line.rsplit(" ", 1)[-1] for line in lines(path)] == ["loud"]


def test_the_file_rotates_at_max_bytes_and_keeps_backups_files(tmp_path: Path) -> None:
    max_bytes, backups = 1_000, 2
    log_to_file(LoggingConfig(file=str(tmp_path / "t.log"), max_bytes=max_bytes, backups=backups))
    log = logging.getLogger("tickerml.test")

    for i in range(200):
        log.info("event %03d %s", i, "x" * 40)

    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["t.log", "t.log.1", "t.log.2"]
    for name in files:
        assert (tmp_path / name).stat().st_size <= max_bytes
    # The newest events are kept, in order, across the files.
    kept = [line for name in reversed(files) for line in lines(tmp_path / name)]
    numbers = [int(line.split("event ")[1][:3]) for line in kept]
    assert numbers == list(range(numbers[0], 200))
    assert all(LINE.match(line) for line in kept)


def test_zero_backups_keeps_only_the_current_file(tmp_path: Path) -> None:
    path = log_to_file(LoggingConfig(file=str(tmp_path / "t.log"), max_bytes=500, backups=0))

    for i in range(100):
        logging.getLogger("tickerml.test").info("event %d", i)

    assert [p.name for p in tmp_path.iterdir()] == ["t.log"]
    assert path.stat().st_size <= 500
    assert lines(path)[-1].endswith("event 99")


def test_setting_up_again_replaces_its_own_handlers_only(tmp_path: Path) -> None:
    other = logging.NullHandler()
    logging.getLogger().addHandler(other)

    log_to_file(LoggingConfig(file=str(tmp_path / "a.log")))
    path = log_to_file(LoggingConfig(file=str(tmp_path / "b.log")))
    logging.getLogger("tickerml.test").info("once")

    assert other in logging.getLogger().handlers
    assert len(lines(path)) == 1
    assert lines(tmp_path / "a.log") == []


def test_a_log_folder_that_cannot_be_made_is_one_error_naming_it(tmp_path: Path) -> None:
    """Tried: logging.file under a data_dir that is a regular file. Kept: an
    OperationalError naming the folder, the file in the way and the setting (was:
    NotADirectoryError from mkdir, a traceback); no handler is left installed."""
    from shared.errors import OperationalError

    blocker = tmp_path / "data"
    blocker.write_text("x")
    handlers = list(logging.getLogger().handlers)

    with pytest.raises(OperationalError) as caught:
        setup_logging(LoggingConfig(file="logs/agent.log"), data_dir=blocker)

    assert str(caught.value) == (
        f"{blocker / 'logs'}: not a folder ({blocker} is a file): point logging.file (or "
        "data_dir) at a folder"
    )
    assert list(logging.getLogger().handlers) == handlers
