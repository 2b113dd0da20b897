"""``python -m ml.data``: ``download NAME --to DIR`` fetches a release, ``info PATH`` describes one.

Errors go through the CLIs' one error path (``ml.training.cli.cli_errors``): one line naming the
file and line, exit status 2.
"""

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from ml.data.download import DOWNLOADABLE, download
from ml.data.formats import Dataset, detect_format, load_dataset
from ml.training.cli import exit_code_of


@dataclass(frozen=True)
class DatasetSummary:
    """What ``python -m ml.data info`` reports about a dataset."""

    name: str
    ratings: int
    users: int
    movies: int
    rated_movies: int
    rating_values: tuple[float, ...]
    first_day: str | None
    last_day: str | None
    with_tmdb_id: int


def _utc_day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def summarize(dataset: Dataset) -> DatasetSummary:
    """Counts, rating values and date range of a dataset."""
    ratings, movies = dataset.ratings, dataset.movies
    stamps = ratings["timestamp"]
    return DatasetSummary(
        name=dataset.name,
        ratings=len(ratings),
        users=int(ratings["user_id"].nunique()),
        movies=len(movies),
        rated_movies=int(ratings["movie_id"].nunique()),
        rating_values=tuple(sorted(float(r) for r in ratings["rating"].unique())),
        first_day=_utc_day(int(stamps.min())) if len(stamps) else None,
        last_day=_utc_day(int(stamps.max())) if len(stamps) else None,
        with_tmdb_id=int(movies["tmdb_id"].notna().sum()),
    )


def _info_lines(summary: DatasetSummary, layout_format: str) -> list[str]:
    values = summary.rating_values
    scale = (
        f"{values[0]:g}–{values[-1]:g} ({', '.join(f'{v:g}' for v in values)})" if values else "-"
    )
    return [
        f"{summary.name}: format {layout_format}",
        f"ratings: {summary.ratings}",
        f"users: {summary.users}",
        f"movies: {summary.movies} in the catalogue, {summary.rated_movies} rated",
        f"rating scale: {scale}",
        f"dates: {summary.first_day or '-'} to {summary.last_day or '-'} (UTC)",
        f"tmdb ids: {summary.with_tmdb_id} of {summary.movies} movies",
    ]


class _OneLineParser(argparse.ArgumentParser):
    """Usage mistakes are reported like every other CLI error: one line, exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"error: {message} (see --help)\n")


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineParser(prog="python -m ml.data",
                            description="Fetch or describe a MovieLens release.")
    commands = parser.add_subparsers(dest="command", required=True)
    fetch = commands.add_parser("download", help="fetch and unpack a release from GroupLens")
    fetch.add_argument("name", choices=DOWNLOADABLE)
    fetch.add_argument(
        "--to", type=Path, default=Path("data"), help="folder to unpack into (default: data)"
    )
    info = commands.add_parser("info", help="describe a release folder")
    info.add_argument("path", type=Path)
    info.add_argument("--links", type=Path, help="links.csv mapping movie ids to TMDB/IMDb")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m ml.data``; returns the exit code (2 on any error)."""
    args = _parser().parse_args(argv)

    def run() -> None:
        if args.command == "download":
            release = download(args.name, args.to)
            print(f"{args.name} is in {release} (format {detect_format(release)})")
        else:
            dataset = load_dataset(args.path, links=args.links)
            print("\n".join(_info_lines(summarize(dataset), detect_format(args.path))))

    return exit_code_of(run)
