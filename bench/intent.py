"""How well plain-word requests are understood, and whether the lists honour them.

    .venv/bin/python bench/intent.py [--split dev|heldout|fresh|all] [--json PATH]
                                     [--show-misses] [--quick]

Set: ``tests/data/intents.jsonl``, requests written the way people ask (typos, negations,
moods, decades, British and American spelling, reference films), each labelled with the
genres, exclusions, years and reference film a person means. Parsed with the shipped
model's catalogue (``models/``). Three splits:
- ``dev`` (123 rows) and ``heldout`` (53, every row whose index ends in 2, 5 or 8) were
  written before the parser; ``heldout`` was evaluated only once the parser was done;
- ``fresh`` (40) was written after that, by the same author, and evaluated once before any
  change (first run: genres 95.0%, years 92.5%, whole 90.0%: "not an old one" read as old,
  "my 6 year old" read as an era, "sob" unknown); those three were then fixed, so it is no
  longer unseen either. The same person wrote the set and the parser: expect real requests
  to score lower than these figures.

Reports, per split:
- per-field accuracy: genres (the set), exclusions (the set), years (``year_from`` and
  ``year_to`` both), reference film (the list of ``"Title (year)"`` labels);
- whole-intent accuracy: all four fields right;
- the share of recommended films honouring the parsed constraints (genres all present, no
  excluded genre, year in range), over lists of 10 for a cold user and a personal user (20
  ratings of popular films) per request, counting relaxed constraints as not honoured;
- for requests naming a film: the share of listed films among the film's 100 nearest
  neighbours (``Recommender.similar``), with the pull and with the same filters alone;
- p50 and p99 parse latency over all requests (5 rounds after one warm-up pass), the cache of
  typo corrections and title look-ups emptied before each parse so every parse pays for them; as
  wall-clock time (what a caller waits, inflated when the machine is shared: the load average
  is printed beside it) and as the thread's CPU time (the parser's own cost).

Targets: ≥ 95% per field, ≥ 90% whole-intent, ≥ 95% honoured, p99 ≤ 5 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from ml.constraints import Constraints
from ml.intent import Intent, IntentParser
from ml.recommender import Recommender
from ml.search import MovieIndex

REPO = Path(__file__).resolve().parents[1]


SET = REPO / "tests" / "data" / "intents.jsonl"
MODELS = REPO / "models"
FIELDS = ("genres", "exclusions", "years", "reference film")


def load_set(path: Path = SET) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def parser_for(model_dir: Path = MODELS) -> tuple[Recommender, IntentParser]:
    recommender = Recommender.load(model_dir)
    return recommender, IntentParser(MovieIndex(recommender.movies()), recommender.genres())


def field_hits(intent: Intent, row: dict[str, Any]) -> dict[str, bool]:
    """Which of the four fields the parser got right for one labelled row."""
    films = [f"{f.title} ({f.year})" for f in intent.similar_to]
    return {
        "genres": sorted(intent.genres) == sorted(row["genres"]),
        "exclusions": sorted(intent.exclude_genres) == sorted(row["exclude_genres"]),
        "years": (intent.year_from, intent.year_to) == (row["year_from"], row["year_to"]),
        "reference film": films == row["similar_to"],
    }


def accuracy(parser: IntentParser, rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Per-field and whole-intent accuracy, and the rows that missed (for reading)."""
    rows = list(rows)
    totals = dict.fromkeys(FIELDS, 0)
    whole = 0
    misses = []
    for row in rows:
        intent = parser.parse(row["q"])
        hits = field_hits(intent, row)
        for name, hit in hits.items():
            totals[name] += hit
        whole += all(hits.values())
        if not all(hits.values()):
            misses.append({"q": row["q"], "wrong": [f for f, h in hits.items() if not h],
                           "parsed": _plain(intent)})
    n = max(len(rows), 1)
    return {
        "n": len(rows),
        "fields": {name: round(count / n, 4) for name, count in totals.items()},
        "whole": round(whole / n, 4),
        "misses": misses,
    }


def honoured(recommender: Recommender, parser: IntentParser,
             rows: Iterable[dict[str, Any]], n: int = 10) -> dict[str, Any]:
    """Share of recommended films meeting every constraint parsed from each request."""
    personal = {m.movie_id: 4.0 + (i % 3) / 2 for i, m in enumerate(recommender.movies()[:20])}
    good = total = relaxed_lists = 0
    for row in rows:
        intent = parser.parse(row["q"])
        constraints = Constraints.of(intent)
        for ratings in ({}, personal):
            result = recommender.recommend(ratings, n, constraints=constraints)
            relaxed_lists += bool(result.relaxed)
            for item in result.items:
                total += 1
                good += constraints.admits(recommender.movie(item.movie_id))
    return {"films": total, "honoured": round(good / max(total, 1), 4),
            "lists_relaxed": relaxed_lists}


def reference_pull(recommender: Recommender, parser: IntentParser,
                   rows: Iterable[dict[str, Any]], n: int = 10, near: int = 100) -> dict[str, Any]:
    """Share of listed films among each reference film's ``near`` nearest neighbours, with the
    request's pull and with its filters alone (same lists otherwise), cold and personal."""
    personal = {m.movie_id: 4.0 + (i % 3) / 2 for i, m in enumerate(recommender.movies()[:20])}
    pulled = plain = total = 0
    for row in rows:
        constraints = Constraints.of(parser.parse(row["q"]))
        if not constraints.similar_to:
            continue
        neighbours = {m.movie_id for ref in constraints.similar_to
                      for m, _ in recommender.similar(ref, near)}
        filters_only = replace(constraints, similar_to=())
        for ratings in ({}, personal):
            with_pull = recommender.recommend(ratings, n, constraints=constraints).items
            without = recommender.recommend(ratings, n, constraints=filters_only).items
            pulled += sum(i.movie_id in neighbours for i in with_pull)
            plain += sum(i.movie_id in neighbours for i in without)
            total += n
    return {"films": total, "near_reference_with_pull": round(pulled / max(total, 1), 4),
            "near_reference_filters_only": round(plain / max(total, 1), 4)}


def latency(parser: IntentParser, rows: list[dict[str, Any]], rounds: int = 5) -> dict[str, float]:
    for row in rows:  # warm-up: first calls of every code path
        parser.parse(row["q"])
    wall: list[float] = []
    cpu: list[float] = []
    for _ in range(rounds):
        for row in rows:
            parser.clear_caches()  # every parse pays for its typo corrections and title searches
            start, start_cpu = time.perf_counter(), time.thread_time()
            parser.parse(row["q"])
            cpu.append((time.thread_time() - start_cpu) * 1000)
            wall.append((time.perf_counter() - start) * 1000)
    wall.sort()
    cpu.sort()
    return {"p50_ms": round(statistics.median(wall), 3), "p99_ms": _p99(wall),
            "max_ms": round(wall[-1], 3), "cpu_p50_ms": round(statistics.median(cpu), 3),
            "cpu_p99_ms": _p99(cpu), "parses": len(wall),
            "load_average_1min": round(os.getloadavg()[0], 2)}


def _p99(ordered: list[float]) -> float:
    return round(ordered[int(0.99 * (len(ordered) - 1))], 3)


def _plain(intent: Intent) -> dict[str, Any]:
    return {"genres": intent.genres, "exclude": intent.exclude_genres,
            "years": [intent.year_from, intent.year_to],
            "similar_to": [f"{f.title} ({f.year})" for f in intent.similar_to],
            "unparsed": intent.unparsed}


def main() -> None:
    args = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    args.add_argument("--split", choices=("dev", "heldout", "fresh", "all"), default="all")
    args.add_argument("--json", type=Path, help="write the figures here")
    args.add_argument("--show-misses", action="store_true")
    args.add_argument("--quick", action="store_true", help="one latency round instead of 5")
    options = args.parse_args()
    rows = load_set()
    recommender, parser = parser_for()
    splits = ("dev", "heldout", "fresh") if options.split == "all" else (options.split,)
    report: dict[str, Any] = {}
    for split in splits:
        chosen = [r for r in rows if r["split"] == split]
        report[split] = accuracy(parser, chosen)
        report[split]["honoured"] = honoured(recommender, parser, chosen)
    report["reference_pull"] = reference_pull(recommender, parser, rows)
    report["latency"] = latency(parser, rows, rounds=1 if options.quick else 5)
    for split in splits:
        figures = report[split]
        fields = "  ".join(f"{k} {v:.1%}" for k, v in figures["fields"].items())
        print(f"{split:8} n={figures['n']:3}  {fields}  whole {figures['whole']:.1%}  "
              f"honoured {figures['honoured']['honoured']:.1%} of "
              f"{figures['honoured']['films']} films")
        if options.show_misses:
            for miss in figures["misses"]:
                print("   miss:", miss)
    pull = report["reference_pull"]
    print(f"reference films: {pull['near_reference_with_pull']:.1%} of listed films are among "
          f"a reference's 100 nearest with the pull, "
          f"{pull['near_reference_filters_only']:.1%} with the filters alone "
          f"({pull['films']} films)")
    lat = report["latency"]
    print(f"parse latency p50 {lat['p50_ms']} ms  p99 {lat['p99_ms']} ms  "
          f"max {lat['max_ms']} ms over {lat['parses']} parses (wall clock, load "
          f"{lat['load_average_1min']}); CPU time p50 {lat['cpu_p50_ms']} ms  "
          f"p99 {lat['cpu_p99_ms']} ms")
    if options.json:
        options.json.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
