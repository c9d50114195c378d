"""`python -m standins.drive` / `comfy-platform drive-emulator`: run the Drive test server in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..serving import configure_logging
from .runner import run
from .state import DriveConfig


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="standins.drive",
        description="A Google Drive v3 test server (not Google): the files, upload and changes endpoints "
                    "google-api-python-client calls, per-user drives in memory, controls under /_drive/.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9500)
    parser.add_argument("--userinfo-url", default=None,
                        help="OpenID Connect userinfo endpoint: bearer tokens it accepts act for the user `sub` "
                             "(answers cached for at most 1 s, so revoked tokens stop working quickly)")
    parser.add_argument("--web-url", default="https://drive.google.com", help="base of files' webViewLink")
    parser.add_argument("--data-dir", type=Path, default=None,
                        help="keep the users' drives in DATA_DIR/drive.pickle across restarts (default: in memory)")
    parser.add_argument("--log-level", default="INFO")
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, "drive-emulator")
    run(args.host, args.port, DriveConfig(userinfo_url=args.userinfo_url, web_url=args.web_url, data_dir=args.data_dir))
