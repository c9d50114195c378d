"""`python -m standins.comfyui` / `comfy-platform emulator`: run the emulator in the foreground."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..serving import configure_logging
from .config import DEFAULT_CHECKPOINTS, EmulatorConfig, parse_latency, parse_names
from .runner import run
from .versions import DEFAULT_VERSION, VERSIONS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="standins.comfyui",
        description="A ComfyUI emulator (not a real ComfyUI): same HTTP/WebSocket protocol as a chosen "
                    "ComfyUI version, model-free Pillow nodes, and a labelled stand-in for the "
                    "text-to-image chain.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8188)
    parser.add_argument("--data-dir", type=Path, default=Path("./var/standins.comfyui"),
                        help="holds input/, output/ and temp/ (temp/ is wiped at start)")
    parser.add_argument("--node-latency", action="append", default=[], metavar="Class=seconds",
                        help="extra seconds per node class, repeatable or comma-separated, e.g. KSampler=0.5")
    parser.add_argument("--prompt-latency", type=float, default=0.0, help="extra seconds per prompt")
    parser.add_argument("--checkpoints", default=",".join(DEFAULT_CHECKPOINTS),
                        help="comma-separated fake checkpoint names offered by CheckpointLoaderSimple")
    parser.add_argument("--loras", default="", help="comma-separated fake LoRA names offered by LoraLoader")
    parser.add_argument("--nodes", default=None, metavar="Class,Class",
                        help="the node classes installed (a subset of the emulator's); default: all")
    parser.add_argument("--model-load", type=float, default=0.0, metavar="SECONDS",
                        help="seconds a checkpoint other than the loaded one takes to load (one stays loaded)")
    parser.add_argument("--comfyui-version", choices=list(VERSIONS), default=DEFAULT_VERSION,
                        help="which real ComfyUI to behave like (default %(default)s)")
    parser.add_argument("--stats-file", type=Path, default=None, metavar="PATH",
                        help="append /_emulator/stats events to this JSON-lines file and replay it at "
                             "start, so stats survive the process")
    parser.add_argument("--log-level", default="INFO")
    return parser


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    return EmulatorConfig(
        data_dir=args.data_dir,
        node_latency=parse_latency(args.node_latency),
        prompt_latency_s=args.prompt_latency,
        checkpoints=parse_names(args.checkpoints),
        loras=parse_names(args.loras),
        node_classes=parse_names(args.nodes) if args.nodes is not None else None,
        model_load_s=args.model_load,
        comfyui_version=args.comfyui_version,
        stats_path=args.stats_file,
    )


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    try:
        config = config_from_args(args)
    except ValueError as error:
        build_parser().error(str(error))
    configure_logging(args.log_level, "comfy-emulator")
    run(args.host, args.port, config)
