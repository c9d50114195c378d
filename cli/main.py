"""`comfy-platform`: one console script, a subcommand per process or task."""

from __future__ import annotations

import sys

from cli.parser import OWN_FLAGS, build_parser

# Nothing heavy is imported before the arguments parse: `--help` and a mistyped flag answer at once, and each
# subcommand imports what it runs (bench/cli.py measures it).


def main(argv: list[str] | None = None) -> int:
    if argv is None:
        argv = sys.argv[1:]
    if argv[:1] and argv[0] in OWN_FLAGS:  # the stand-in servers parse their own flags
        return _run_standin(argv[0], argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in ("presets", "templates"):  # reads the catalog files: no settings, no logs
        from cli.catalog import run_catalog

        return run_catalog(args.command, as_json=args.json)
    import asyncio

    from comfy_platform.logs import configure_logging
    from comfy_platform.settings import get_settings

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


def _run_standin(name: str, argv: list[str]) -> int:
    if name == "emulator":
        from standins.comfyui.cli import main as run
    elif name == "drive-emulator":
        from standins.drive.cli import main as run
    else:
        from standins.stripe.cli import main as run
    return run(argv) or 0


if __name__ == "__main__":
    sys.exit(main())
