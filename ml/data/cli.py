"""``python -m ml.data``: ``download NAME --to DIR`` fetches a release, ``info PATH`` describes one.

Errors go through the CLIs' one error path (``ml.training.cli.cli_errors``): one line naming the
file and line, exit status 2.
"""

import argparse
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import NoReturn

from ml.data.download import DOWNLOADABLE, download
from ml.data.formats import Dataset, detect_format, load_dataset
from ml.training.cli import exit_code_of


def _utc_day(timestamp: int) -> str:
    return datetime.fromtimestamp(timestamp, UTC).date().isoformat()


def info_lines(dataset: Dataset, layout_format: str) -> list[str]:
    """Counts, rating scale, date range and TMDB ids of a dataset, as ``info`` prints them."""
    ratings, movies = dataset.ratings, dataset.movies
    values = sorted(float(r) for r in ratings["rating"].unique())
    scale = "-"
    if values:
        scale = f"{values[0]:g}–{values[-1]:g} ({', '.join(f'{v:g}' for v in values)})"
    stamps = ratings["timestamp"]
    dates = "- to -"
    if len(stamps):
        dates = f"{_utc_day(int(stamps.min()))} to {_utc_day(int(stamps.max()))}"
    return [
        f"{dataset.name}: format {layout_format}",
        f"ratings: {len(ratings)}",
        f"users: {ratings['user_id'].nunique()}",
        f"movies: {len(movies)} in the catalogue, {ratings['movie_id'].nunique()} rated",
        f"rating scale: {scale}",
        f"dates: {dates} (UTC)",
        f"tmdb ids: {int(movies['tmdb_id'].notna().sum())} of {len(movies)} movies",
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
    fetch.add_argument("--to", type=Path, default=Path("data"),
                       help="folder to unpack into (default: data)")
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
            print("\n".join(info_lines(dataset, detect_format(args.path))))

    return exit_code_of(run)
