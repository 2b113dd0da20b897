"""How well plain-word requests are understood, and whether the lists honour them.

    .venv/bin/python bench/intent.py [--split dev|heldout|fresh|all] [--json PATH]
                                     [--show-misses] [--quick]

Parses ``tests/data/intents.jsonl`` and ``tests/data/like_but.jsonl`` with the shipped
catalogue: per-field and whole-intent accuracy, the share of listed films honouring the
request, reference-film pull and parse latency (wall and CPU). Targets: ≥ 95% per field,
≥ 90% whole, ≥ 95% honoured, p99 ≤ 5 ms, ≥ 90% of "like X but Y" lists faithful.
Protocol: bench/README.md. Results: ``bench/results/intent.json``.
"""

from __future__ import annotations

import json
import os
import statistics
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.harness import REPO, arguments, write_json
from ml.serving.constraints import Constraints
from ml.serving.likeness import FORMAT_GENRES
from ml.serving.recommender import Movie, Recommender
from ml.text.intent import Intent, IntentParser
from ml.text.search import MovieIndex

SET = REPO / "tests" / "data" / "intents.jsonl"
LIKE_SET = REPO / "tests" / "data" / "like_but.jsonl"
#: A "like X but Y" list is faithful when at least this many of its films have Y and are near X...
FAITHFUL_FILMS = 6
#: ...and at most this many of them are on the plain "Y" list.
PLAIN_OVERLAP = 5
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


def people(recommender: Recommender) -> dict[str, dict[int, float]]:
    """The users every list is asked for: a newcomer with no ratings, and someone who rated
    the 20 most popular films 4 to 5."""
    return {"cold": {}, "personal": {m.movie_id: 4.0 + (i % 3) / 2
                                     for i, m in enumerate(recommender.movies()[:20])}}


def honoured(recommender: Recommender, parser: IntentParser,
             rows: Iterable[dict[str, Any]], n: int = 10) -> dict[str, Any]:
    """Share of recommended films meeting every constraint parsed from each request."""
    good = total = relaxed_lists = 0
    for row in rows:
        intent = parser.parse(row["q"])
        constraints = Constraints.of(intent)
        for ratings in people(recommender).values():
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
    pulled = plain = total = 0
    for row in rows:
        constraints = Constraints.of(parser.parse(row["q"]))
        if not constraints.similar_to:
            continue
        neighbours = {m.movie_id for ref in constraints.similar_to
                      for m, _ in recommender.similar(ref, near)}
        filters_only = replace(constraints, similar_to=())
        for ratings in people(recommender).values():
            with_pull = recommender.recommend(ratings, n, constraints=constraints).items
            without = recommender.recommend(ratings, n, constraints=filters_only).items
            pulled += sum(i.movie_id in neighbours for i in with_pull)
            plain += sum(i.movie_id in neighbours for i in without)
            total += n
    return {"films": total, "near_reference_with_pull": round(pulled / max(total, 1), 4),
            "near_reference_filters_only": round(plain / max(total, 1), 4)}


def load_like_set(path: Path = LIKE_SET) -> list[dict[str, Any]]:
    return load_set(path)


def like_but(recommender: Recommender, parser: IntentParser, rows: Iterable[dict[str, Any]],
             n: int = 10, near: int = 100) -> dict[str, Any]:
    """How many "like X but Y" lists keep both halves (bench/README.md), cold and personal."""
    by_label = {f"{m.title} ({m.year})": m for m in recommender.movies()}
    users = people(recommender)
    lists = faithful = parsed = 0
    near_films = model_near = shown = 0
    counts: list[int] = []
    plain_counts: list[int] = []
    misses = []
    rows = list(rows)
    for row in rows:
        intent = parser.parse(row["q"])
        reference = by_label[row["reference"]]
        asked = tuple(row["genres"])
        parsed += ([f"{f.title} ({f.year})" for f in intent.similar_to] == [row["reference"]]
                   and sorted(intent.genres) == sorted(asked))
        neighbours = {m.movie_id for m, _ in recommender.similar(reference.movie_id, near)}
        for who, ratings in users.items():
            films = [recommender.movie(i.movie_id) for i in recommender.recommend(
                ratings, n, constraints=Constraints.of(intent)).items]
            plain = [recommender.movie(i.movie_id) for i in recommender.recommend(
                ratings, n, constraints=Constraints(genres=asked)).items]
            good = sum(is_like(f, reference, asked) for f in films)
            common = len({f.movie_id for f in films} & {f.movie_id for f in plain})
            hit = good >= FAITHFUL_FILMS and common <= PLAIN_OVERLAP
            lists += 1
            faithful += hit
            near_films += good
            model_near += sum(f.movie_id in neighbours for f in films)
            shown += len(films)
            counts += [f.rating_count for f in films]
            plain_counts += [f.rating_count for f in plain]
            if not hit:
                misses.append({"q": row["q"], "user": who, "like_x_and_y": good,
                               "on_plain_list": common, "films": [f.title for f in films]})
    return {
        "requests": len(rows), "lists": lists,
        "parsed": round(parsed / max(len(rows), 1), 4),
        "faithful": round(faithful / max(lists, 1), 4),
        "films_with_y_near_x": round(near_films / max(shown, 1), 4),
        f"films_in_x_{near}_nearest": round(model_near / max(shown, 1), 4),
        "median_ratings_per_film": statistics.median(counts or [0]),
        "median_ratings_per_film_plain_y": statistics.median(plain_counts or [0]),
        "misses": misses,
    }


def is_like(film: Movie, reference: Movie, asked: Iterable[str]) -> bool:
    """``film`` has every asked genre and one of the reference's other (content) genres."""
    asked = set(asked)
    others = set(reference.genres) - asked - FORMAT_GENRES
    return asked <= set(film.genres) and bool(others & set(film.genres))


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
    args = arguments(__doc__, "one latency round instead of 5")
    args.add_argument("--split", choices=("dev", "heldout", "fresh", "all"), default="all")
    args.add_argument("--json", type=Path, help="write the figures here")
    args.add_argument("--show-misses", action="store_true")
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
    like_rows = load_like_set()
    report["like_but"] = {split: like_but(recommender, parser,
                                          [r for r in like_rows if r["split"] == split])
                          for split in ("dev", "heldout")}
    report["like_but"]["all"] = like_but(recommender, parser, like_rows)
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
    for split, like in report["like_but"].items():
        print(f"like X but Y ({split:7}) {like['faithful']:.1%} of {like['lists']} lists "
              f"faithful (parsed {like['parsed']:.1%}); films with Y near X "
              f"{like['films_with_y_near_x']:.1%}, in X's 100 nearest "
              f"{like['films_in_x_100_nearest']:.1%}; median ratings per film "
              f"{like['median_ratings_per_film']} (plain Y list "
              f"{like['median_ratings_per_film_plain_y']})")
        if options.show_misses and split != "all":
            for miss in like["misses"]:
                print("   miss:", miss)
    lat = report["latency"]
    print(f"parse latency p50 {lat['p50_ms']} ms  p99 {lat['p99_ms']} ms  "
          f"max {lat['max_ms']} ms over {lat['parses']} parses (wall clock, load "
          f"{lat['load_average_1min']}); CPU time p50 {lat['cpu_p50_ms']} ms  "
          f"p99 {lat['cpu_p99_ms']} ms")
    write_json(options.json, report)


if __name__ == "__main__":
    main()
