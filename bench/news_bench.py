"""The built-in sentiment scorer (issue 5) against VADER and FinBERT on real headlines.

The data is CryptoLin (``sentimentscore/CryptoLin_IE.csv`` in ../shared/data/real,
see its SOURCES.md section 5): 2,683 crypto news headlines, each labelled
negative / neutral / positive by three human annotators (``final_manual_labelling``
∈ {-1, 0, 1}), with the outputs of VADER and FinBERT stored beside them. The file
has no licence, so it is read from ../shared at run time and never copied in.

* **Split**: rows with an even ``id`` are the development half, the only rows the
  scorer was tuned on; rows with an odd ``id`` are held out and only ever scored.
* **VADER** is the dataset's ``vader_class`` column, ``1``/``0``/``-1`` for
  positive/neutral/negative: it is VADER's ``vader`` compound score with the
  standard ±0.05 thresholds (checked row by row below).
* **FinBERT** is the argmax of the dataset's three FinBERT probabilities,
  ``finbert_positive``, ``finbert_neutral`` and ``finbert_negative`` (the last
  stored negated, so its absolute value is used): FinBERT's own label. The
  ``finbert_*_class`` columns are not used: each bins one probability on its own
  into -1/0/1 at cut points of the dataset's choosing, not a three-way verdict.

``python -m bench.news_bench`` prints the section on its own (pinned to one core).
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edge.news.builtin import VERSION, BuiltinScorer

REAL = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "real"
CSV = Path("sentimentscore") / "CryptoLin_IE.csv"
TARGET = 5_000
"""Headlines per second on one core the scorer must reach."""

CLASSES = (-1, 0, 1)
LABELS = {"negative": -1, "neutral": 0, "positive": 1}
NAMES = {-1: "negative", 0: "neutral", 1: "positive"}


@dataclass(frozen=True, slots=True)
class Headline:
    """One CryptoLin row: the text, the human label and the two models' verdicts."""

    id: int
    text: str
    label: int
    vader: int
    vader_compound: float
    finbert: int


def _finbert(row: dict[str, str]) -> int:
    probabilities = {
        1: float(row["finbert_positive"]),
        0: float(row["finbert_neutral"]),
        -1: abs(float(row["finbert_negative"])),
    }
    return max(probabilities, key=probabilities.__getitem__)


def load(real: Path = REAL) -> list[Headline]:
    """Every CryptoLin headline; FileNotFoundError when ../shared is absent."""
    with (real / CSV).open(encoding="utf-8", newline="") as handle:
        return [
            Headline(
                id=int(row["id"]), text=row["news"], label=int(row["final_manual_labelling"]),
                vader=int(row["vader_class"]), vader_compound=float(row["vader"]),
                finbert=_finbert(row),
            )
            for row in csv.DictReader(handle)
        ]


def development(rows: Sequence[Headline]) -> list[Headline]:
    """The even-``id`` rows: the only ones the scorer was tuned on."""
    return [row for row in rows if row.id % 2 == 0]


def held_out(rows: Sequence[Headline]) -> list[Headline]:
    """The odd-``id`` rows: never looked at while tuning."""
    return [row for row in rows if row.id % 2 == 1]


def accuracy(truth: Sequence[int], predicted: Sequence[int]) -> float:
    """Share of rows where the prediction is the label."""
    return sum(t == p for t, p in zip(truth, predicted, strict=True)) / len(truth)


def macro_f1(truth: Sequence[int], predicted: Sequence[int]) -> float:
    """Unweighted mean of the three classes' F1 (a class never predicted scores 0)."""
    scores = []
    for cls in CLASSES:
        pairs = list(zip(truth, predicted, strict=True))
        tp = sum(t == cls and p == cls for t, p in pairs)
        fp = sum(t != cls and p == cls for t, p in pairs)
        fn = sum(t == cls and p != cls for t, p in pairs)
        scores.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(scores) / len(scores)


def builtin_labels(rows: Sequence[Headline], scorer: BuiltinScorer | None = None) -> list[int]:
    """The built-in scorer's verdicts as -1/0/1."""
    scorer = scorer or BuiltinScorer()
    return [LABELS[result.label] for result in scorer.score_many(row.text for row in rows)]


@dataclass(frozen=True, slots=True)
class Result:
    """Accuracy and macro-F1 of one scorer on one half."""

    scorer: str
    accuracy: float
    macro_f1: float


def evaluate(rows: Sequence[Headline]) -> list[Result]:
    """Built-in, VADER and FinBERT on ``rows``, against the human labels."""
    truth = [row.label for row in rows]
    verdicts = {
        f"built-in {VERSION}": builtin_labels(rows),
        "VADER (dataset `vader_class`)": [row.vader for row in rows],
        "FinBERT (dataset, argmax of probabilities)": [row.finbert for row in rows],
    }
    return [
        Result(name, accuracy(truth, labels), macro_f1(truth, labels))
        for name, labels in verdicts.items()
    ]


def vader_agreement(rows: Sequence[Headline]) -> int:
    """Rows whose ``vader_class`` is the compound score with ±0.05 thresholds."""

    def cls(compound: float) -> int:
        return 1 if compound >= 0.05 else -1 if compound <= -0.05 else 0

    return sum(cls(row.vader_compound) == row.vader for row in rows)


def speed(texts: Sequence[str], min_seconds: float = 2.0, runs: int = 5) -> float:
    """Median headlines per second over ``runs`` runs, each scoring ``texts``
    repeatedly for at least ``min_seconds``."""
    scorer = BuiltinScorer()
    rates = []
    for _ in range(runs):
        count = 0
        start = time.perf_counter()
        while (elapsed := time.perf_counter() - start) < min_seconds:
            scorer.score_many(texts)
            count += len(texts)
        rates.append(count / elapsed)
    return statistics.median(rates)


def _distribution(rows: Sequence[Headline]) -> str:
    counts = Counter(row.label for row in rows)
    return " / ".join(f"{counts[cls]:,}" for cls in (1, 0, -1))


def section(real: Path = REAL, runs: int = 5) -> list[str]:
    """The Markdown section for docs/benchmarks.md."""
    title = "## News sentiment: the built-in scorer (issue 5)"
    try:
        rows = load(real)
    except FileNotFoundError:
        return [title, "", f"Skipped: {real / CSV} not found (clone ../shared beside "
                "the project).", ""]
    dev, odd = development(rows), held_out(rows)
    dev_texts = {row.text for row in dev}
    repeated = sum(row.text in dev_texts for row in odd)
    results = {"development": evaluate(dev), "held out": evaluate(odd)}
    rate = speed([row.text for row in rows], runs=runs)
    verdict = "meets" if rate >= TARGET else "is below"
    lines = [
        title,
        "",
        f"CryptoLin: {len(rows):,} real crypto headlines (2018-07 → 2022-01), each labelled "
        "by three human annotators; the VADER and FinBERT verdicts are the dataset's own "
        "columns. The built-in scorer (`edge.news.builtin`, version "
        f"{VERSION}: weighted lexicon, phrase rules, negation, intensifiers, contrast and "
        "percent moves, no model, no network) was tuned on the even-`id` rows only; the "
        "odd-`id` rows are held out.",
        "",
        "| rows | count | positive / neutral / negative |",
        "| --- | ---: | ---: |",
        f"| development (even id) | {len(dev):,} | {_distribution(dev)} |",
        f"| held out (odd id) | {len(odd):,} | {_distribution(odd)} |",
        "",
        "| scorer | development accuracy | development macro-F1 | held-out accuracy "
        "| held-out macro-F1 |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for dev_result, odd_result in zip(results["development"], results["held out"], strict=True):
        lines.append(
            f"| {dev_result.scorer} | {dev_result.accuracy:.3f} | {dev_result.macro_f1:.3f} "
            f"| {odd_result.accuracy:.3f} | {odd_result.macro_f1:.3f} |"
        )
    lines += [
        "",
        "Macro-F1 is the unweighted mean of the three classes' F1. VADER is `vader_class` "
        f"(1/0/-1), which matches its `vader` compound score at ±0.05 on "
        f"{vader_agreement(rows):,} of {len(rows):,} rows. FinBERT is the argmax of "
        "`finbert_positive`, `finbert_neutral` and |`finbert_negative`| (the dataset stores "
        "the negative probability negated); its `finbert_*_class` columns each bin one "
        f"probability on its own and are not a verdict. Held-out headlines that also appear "
        f"word for word among the development rows: {repeated:,}.",
        "",
        f"Speed: {rate:,.0f} headlines/s on one core (all {len(rows):,} headlines scored "
        f"over and over for ≥ 2 s, median of {runs} runs); it {verdict} the target of "
        f"≥ {TARGET:,}/s.",
        "",
    ]
    return lines


if __name__ == "__main__":
    import os

    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {0})
    print("\n".join(section()))
