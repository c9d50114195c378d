"""`comfy-platform`: one console script, a subcommand per process or task."""

from __future__ import annotations

import argparse
import asyncio
import sys

from comfy_platform.logs import configure_logging
from comfy_platform.settings import get_settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="comfy-platform", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
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
    from cli.submit import add_submit_parser

    add_submit_parser(commands)
    from cli.keys import add_keys_parser

    add_keys_parser(commands)
    from cli.billing import add_billing_parser

    add_billing_parser(commands)

    # The emulator parses its own flags.
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] == ["emulator"]:
        from standins.comfyui.cli import main as emulator_main

        return emulator_main(argv[1:]) or 0
    if argv[:1] == ["drive-emulator"]:
        from standins.drive.cli import main as drive_emulator_main

        return drive_emulator_main(argv[1:]) or 0
    if argv[:1] == ["stripe-emulator"]:
        from standins.stripe.cli import main as stripe_emulator_main

        return stripe_emulator_main(argv[1:]) or 0
    args = parser.parse_args(argv)
    settings = get_settings()
    # `submit` and `keys` talk to a person: their output is the result, not the service logs.
    quiet = args.command in ("submit", "keys") and settings.LOG_LEVEL.upper() == "INFO"
    level = "WARNING" if quiet else settings.LOG_LEVEL
    configure_logging(level, settings.LOG_FORMAT, service=args.command)

    if args.command == "dev":
        from cli.devstack import run_dev

        return run_dev(settings)
    if args.command == "worker":
        from workers.main import run_worker

        asyncio.run(run_worker(settings, args.role))
        return 0
    if args.command == "api":
        import uvicorn

        from api.main import create_app
        from comfy_platform.tracing import setup_tracing

        setup_tracing(settings, "api")
        uvicorn.run(create_app(settings), host=settings.API_HOST, port=settings.API_PORT, log_config=None,
                    access_log=False)
        return 0
    if args.command == "codec-server":
        import uvicorn

        from api.codec import create_codec_app

        uvicorn.run(create_codec_app(settings), host=settings.CODEC_HOST, port=settings.CODEC_PORT, log_config=None,
                    access_log=False)
        return 0
    if args.command == "migrate":
        from db.session import migrate

        asyncio.run(migrate(settings.database_url))
        return 0
    if args.command == "smtp-sink":
        from pathlib import Path

        from comfy_platform.mail import run_dev_sink

        maildir = Path(args.maildir) if args.maildir else settings.DATA_DIR / "mail"
        try:
            asyncio.run(run_dev_sink(args.host, args.port, maildir))
        except KeyboardInterrupt:
            pass
        return 0
    if args.command == "submit":
        from cli.submit import run_submit

        return run_submit(settings, args)
    if args.command == "billing":
        from cli.billing import run_billing

        return run_billing(settings, args)
    if args.command == "keys":
        from cli.keys import run_keys

        return run_keys(settings, args)
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
