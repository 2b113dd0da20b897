"""What the command-line tools share: one-line errors and loading the training data."""

from __future__ import annotations

import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ml.artifacts import ArtifactError
from ml.data import DataFormatError, Dataset, DownloadError, describe_sources, load_dataset
from ml.data import merge_datasets as merge


class CliError(Exception):
    """A user-facing error: printed as one line, exit status 2."""


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn expected failures into ``error: <message>`` on stderr and exit status 2."""
    try:
        yield
    except (CliError, DataFormatError, ArtifactError, DownloadError, FileNotFoundError,
            NotADirectoryError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        raise SystemExit(130) from None


def load_training_data(
    folders: Sequence[Path], links: Path | None,
) -> tuple[Dataset, list[dict[str, Any]]]:
    """Load one or several releases (merged, users namespaced) and describe their files."""
    if not folders:
        raise CliError("no data folder given (pass --data DIR)")
    for folder in folders:
        if not folder.is_dir():
            raise CliError(f"{folder}: no such data folder (pass --data DIR, or download one "
                           "with `python -m ml.data download ml-latest-small --to DIR`)")
    if links is not None and not links.is_file():
        raise CliError(f"{links}: no such links file")
    datasets = [load_dataset(folder, links=links) for folder in folders]
    dataset = datasets[0] if len(datasets) == 1 else merge(datasets)
    return dataset, list(describe_sources(folders, links))
