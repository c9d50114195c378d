"""The command line of `comfy-platform`: every subcommand and its flags, and nothing heavy.

This module imports only the standard library (and the light list of API key scopes), so `--help` and a mistyped
flag answer at once; the module that runs a subcommand is imported by cli/main.py once the arguments parse
(bench/cli.py measures it).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from comfy_platform.api_scopes import SCOPES

DESCRIPTION = "Comfy Platform: one console script, a subcommand per process or task."
# The stand-in servers parse their own flags: everything after their name is theirs.
OWN_FLAGS = ("emulator", "drive-emulator", "stripe-emulator")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="comfy-platform", description=DESCRIPTION)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("dev", help="run the whole stack on embedded defaults (Temporal, emulator, worker, API)")
    worker = commands.add_parser("worker", help="run a Temporal worker")
    worker.add_argument("--role", choices=["all", "io", "comfy"], default="all",
                        help="io: workflows, storage and database activities; comfy: ComfyUI activities")
    commands.add_parser("api", help="run the HTTP API")
    commands.add_parser("migrate", help="apply database migrations")
    commands.add_parser("codec-server", help="decode workflow payloads for the Temporal Web UI (operators only)")
    commands.add_parser("emulator", help="run the ComfyUI emulator (a stand-in, not a real ComfyUI)", add_help=False)
    commands.add_parser("drive-emulator", help="run the Google Drive v3 test server (a stand-in, not Google)",
                        add_help=False)
    commands.add_parser("stripe-emulator", help="run the Stripe stand-in (billing API, hosted pages, webhooks; "
                                                "not Stripe)", add_help=False)
    sink = commands.add_parser("smtp-sink", help="run a local SMTP server that keeps each email as a .eml file")
    sink.add_argument("--host", default="127.0.0.1")
    sink.add_argument("--port", type=int, default=8025)
    sink.add_argument("--maildir", default=None, help="where emails land (default: $DATA_DIR/mail)")
    _add_submit(commands)
    for name, what in (("presets", "presets"), ("templates", "workflow templates")):
        listing = commands.add_parser(name, help=f"list the {what} with their parameters (type, bounds, default)")
        listing.add_argument("--json", action="store_true", help="print JSON (the API's catalog objects)")
    _add_keys(commands)
    billing = commands.add_parser("billing", help="set up billing at Stripe")
    billing.add_subparsers(dest="billing_command", required=True).add_parser(
        "setup", help="make the products, prices, meters and portal configuration the plans name")
    return parser


def _add_submit(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser(
        "submit", help="run a job and save its outputs",
        description="Run a job and save its outputs as OUT/<job id>_<n>.<ext> (never over an existing file). "
                    "Inputs are checked before a job exists, as the API checks them.")
    what = submit.add_mutually_exclusive_group(required=True)
    what.add_argument("--graph", type=Path, help="a ComfyUI API-format graph (JSON file)")
    what.add_argument("--preset", help="a preset name (comfy-platform presets)")
    # --workflow, the API's word for a template, keeps working.
    what.add_argument("--template", "--workflow", dest="template",
                      help="a template name (comfy-platform templates)")
    submit.add_argument("--image", action="append", default=[], metavar="[NAME=]PATH",
                        help="an input image; NAME is the template's image or the file name a graph loads "
                             "(default: the template's one image, or the file's own name for a graph)")
    submit.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="a template parameter")
    submit.add_argument("--out", type=Path, required=True, help="folder to write the outputs into")
    submit.add_argument("--no-progress", action="store_true", help="no progress bar")
    submit.add_argument("--api", metavar="URL",
                        help="submit through this Developer API instead of straight to Temporal and the database")
    submit.add_argument("--api-key", metavar="KEY", help="the API key for --api (default: COMFY_API_KEY)")


def _add_keys(commands: argparse._SubParsersAction) -> None:
    keys = commands.add_parser("keys", help="manage developer API keys")
    actions = keys.add_subparsers(dest="keys_command", required=True)
    create = actions.add_parser("create", help="create a key; its secret is printed once, on the last line")
    create.add_argument("--account", required=True, metavar="EMAIL",
                        help="the email address of the account the key belongs to (made if it does not exist)")
    create.add_argument("--name", required=True, help="what the key is for")
    create.add_argument("--scopes", type=scopes, default=list(SCOPES),
                        help=f"comma-separated, from {', '.join(SCOPES)} (default: all)")
    create.add_argument("--expires-in", type=positive_int, metavar="DAYS",
                        help="days until it expires (default: never)")
    create.add_argument("--rate-limit", type=positive_int, metavar="N",
                        help="requests per minute (default: the account's plan's)")
    create.add_argument("--max-concurrent", type=positive_int, metavar="N",
                        help="unfinished jobs at once (default: the account's plan's)")
    actions.add_parser("list", help="list keys (never their secrets)")
    reassign = actions.add_parser("reassign", help="move a key to another account")
    reassign.add_argument("key_id", metavar="ID")
    reassign.add_argument("--account", required=True, metavar="EMAIL", help="the account it belongs to from now on")
    revoke = actions.add_parser("revoke", help="revoke a key; revoking twice is harmless")
    revoke.add_argument("key_id", metavar="ID")


def scopes(value: str) -> list[str]:
    chosen = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in chosen if s not in SCOPES]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(
            f"unknown scope '{unknown[0]}'; scopes are {', '.join(SCOPES)}" if unknown
            else f"give at least one scope of {', '.join(SCOPES)}")
    return chosen


def positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{value}' is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value} must be at least 1")
    return number
