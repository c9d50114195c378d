"""ComfyUI emulator: a stand-in server that speaks the protocol of a real ComfyUI 0.33.0, or of
the older 0.3.33 and 0.3.64 (see /work/shared/reference/comfyui_protocol.md and versions.py),
so the platform can be developed and tested without torch or model weights. It labels itself
everywhere as an emulator."""

from .config import EmulatorConfig
from .runner import RunningEmulator, run, start_emulator
from .server import create_app


def main(argv: list[str] | None = None) -> None:
    from .cli import main as cli_main

    cli_main(argv)


__all__ = ["EmulatorConfig", "RunningEmulator", "create_app", "main", "run", "start_emulator"]
