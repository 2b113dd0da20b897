"""nginx's body limits, written from the API's own settings: one setting for both.

``deploy/nginx.conf`` marks each ``client_max_body_size`` with the setting it comes from
(``client_max_body_size 64k;  # from CINEMATCH_MAX_BODY_BYTES``); ``render`` rewrites every
marked line with what the API accepts, so the proxy never refuses a body the API would take,
nor passes one it would refuse. The committed values are the defaults' (a test checks it); the
deployment renders the file with the replicas' environment (``python -m api.proxy_conf``).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable
from pathlib import Path

from api.settings import Settings, get_settings

#: Room for the multipart envelope around an imported file (boundaries, part headers).
IMPORT_ENVELOPE_BYTES = 64 * 1024

_MARKED = re.compile(
    r"^(?P<indent>\s*)client_max_body_size\s+\S+;(?P<gap>\s*)# from (?P<setting>CINEMATCH_\w+)$",
    flags=re.MULTILINE,
)


def import_body_bytes(settings: Settings) -> int:
    """The largest import request the API reads: the file limit plus its envelope."""
    return settings.import_max_bytes + IMPORT_ENVELOPE_BYTES


#: The setting a marked line names -> the body size the API accepts because of it.
BODY_LIMITS: dict[str, Callable[[Settings], int]] = {
    "CINEMATCH_MAX_BODY_BYTES": lambda settings: settings.max_body_bytes,
    "CINEMATCH_IMPORT_MAX_BYTES": import_body_bytes,
}


def render(config: str, settings: Settings) -> str:
    """``config`` with every marked ``client_max_body_size`` set from ``settings``."""

    def line(match: re.Match[str]) -> str:
        setting = match["setting"]
        if setting not in BODY_LIMITS:
            raise ValueError(f"nginx.conf names an unknown body-size setting: {setting}")
        size = BODY_LIMITS[setting](settings)
        return f"{match['indent']}client_max_body_size {size};{match['gap']}# from {setting}"

    rendered, found = _MARKED.subn(line, config)
    if found == 0:
        raise ValueError("nginx.conf has no 'client_max_body_size ...;  # from SETTING' line")
    return rendered


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m api.proxy_conf",
        description="Write nginx.conf with the body limits of the API's settings "
        "(read from the environment, as the replicas read them).",
    )
    parser.add_argument("template", type=Path, help="deploy/nginx.conf")
    parser.add_argument("-o", "--output", type=Path, help="where to write (default: stdout)")
    args = parser.parse_args(argv)
    rendered = render(args.template.read_text(), get_settings())
    if args.output is None:
        sys.stdout.write(rendered)
    else:
        args.output.write_text(rendered)


if __name__ == "__main__":
    main()
