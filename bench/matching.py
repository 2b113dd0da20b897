"""How well Letterboxd titles find their MovieLens films: correct, wrong and unmatched.

    .venv/bin/python bench/matching.py [--catalogue models/catalogue.csv] [--show]

Matches ``tests/data/letterboxd_labelled.csv`` as an import does. Targets: ≥ 97% of the films
the catalogue has matched correctly, none wrong, every absent film unmatched (exit 1 if missed).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

from bench.harness import REPO, arguments
from ml.serving.artifacts import CatalogueEntry, read_catalogue
from ml.text.imports import Catalogue, plan_import
from ml.text.matching import TitleMatcher

LABELLED = Path("tests/data/letterboxd_labelled.csv")
TARGET_CORRECT = 0.97


def evaluate(matcher: TitleMatcher, labelled: Path, *, show: bool = False) -> dict[str, int]:
    counts = dict.fromkeys(
        ("present", "correct", "wrong", "unmatched", "absent", "absent_unmatched"), 0
    )
    with labelled.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            year = int(row["Year"]) if row["Year"] else None
            expected = int(row["expected_movie_id"]) if row["expected_movie_id"] else None
            got = matcher.match(row["Name"], year)
            label = f"{row['Name']} ({row['Year']})"
            if expected is None:
                counts["absent"] += 1
                if got.movie_id is None:
                    counts["absent_unmatched"] += 1
                else:
                    counts["wrong"] += 1
                    print(f"WRONG  {label}: matched {got.movie_id}, the catalogue lacks it")
                continue
            counts["present"] += 1
            if got.movie_id == expected:
                counts["correct"] += 1
            elif got.movie_id is None:
                counts["unmatched"] += 1
                if show:
                    print(f"MISSED {label}: expected {expected} ({got.reason})")
            else:
                counts["wrong"] += 1
                print(f"WRONG  {label}: matched {got.movie_id}, expected {expected}")
    return counts


def imdb_by_id(films: tuple[CatalogueEntry, ...]) -> tuple[int, int]:
    """(films found, films with an IMDb id): an IMDb export of every catalogue film that has
    an id, as IMDb writes it (``tt`` + 7 digits, 1–10 stars), imported by the real reader."""
    with_id = [f for f in films if f.imdb_id]
    lines = ["Const,Your Rating,Date Rated,Title,URL,Title Type,Year"]
    lines += [
        f"tt{int(f.imdb_id or 0):07d},8,2024-01-01,x,u,Movie,{f.year or ''}" for f in with_id
    ]
    plan = plan_import("\n".join(lines).encode(), "imdb", Catalogue(films))
    found = {m.movie_id for m in plan.matched} & {f.movie_id for f in with_id}
    return len(found), len(with_id)


def main(argv: list[str] | None = None) -> int:
    parser = arguments(__doc__, "accepted; the run is short")
    parser.add_argument("--catalogue", type=Path, default=REPO / "models" / "catalogue.csv")
    parser.add_argument("--labelled", type=Path, default=REPO / LABELLED)
    parser.add_argument("--show", action="store_true", help="list the films left unmatched")
    args = parser.parse_args(argv)
    films = read_catalogue(args.catalogue)
    matcher = TitleMatcher(films)
    c = evaluate(matcher, args.labelled, show=args.show)
    share = c["correct"] / c["present"] if c["present"] else 0.0
    print(f"{c['present']} films in the catalogue: {c['correct']} correct ({share:.1%}), "
          f"{c['unmatched']} unmatched; {c['wrong']} wrong in all; "
          f"{c['absent_unmatched']}/{c['absent']} absent films unmatched")
    found, with_id = imdb_by_id(films)
    print(f"IMDb export of every catalogue film with an IMDb id: {found}/{with_id} found by id")
    ok = share >= TARGET_CORRECT and c["wrong"] == 0 and c["absent_unmatched"] == c["absent"]
    ok = ok and found == with_id
    print("targets met" if ok else "TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
