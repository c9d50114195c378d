"""The data folders (input/, output/, temp/) and ComfyUI's rules for naming files in them."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import time
from pathlib import Path

FOLDER_TYPES = ("input", "output", "temp")


class DataDirs:
    def __init__(self, root: Path) -> None:
        self.root = Path(root).resolve()
        self.input = self.root / "input"
        self.output = self.root / "output"
        self.temp = self.root / "temp"

    def prepare(self) -> None:
        # ComfyUI wipes temp/ at start; output numbering continues by scanning output/.
        shutil.rmtree(self.temp, ignore_errors=True)
        for folder in (self.input, self.output, self.temp):
            folder.mkdir(parents=True, exist_ok=True)

    def by_type(self, folder_type: str | None) -> Path | None:
        return {"input": self.input, "output": self.output, "temp": self.temp}.get(folder_type or "")

    # --- annotated names: "sub/name.png [output]" picks the folder (ComfyUI's annotated_filepath)
    def annotated(self, name: str) -> tuple[str, Path | None]:
        for folder_type in FOLDER_TYPES:
            suffix = f"[{folder_type}]"
            if name.endswith(suffix):
                return name[: -len(suffix) - 1], self.by_type(folder_type)
        return name, None

    def resolve_image(self, name: str) -> Path | None:
        """Path of a LoadImage value, or None if it would leave its folder."""
        name, base = self.annotated(name)
        base = base or self.input
        path = Path(os.path.abspath(base / name))
        if not is_inside(base, path):
            return None
        return path

    def input_images(self) -> list[str]:
        """LoadImage's combo: image files directly in input/ (ComfyUI filters by mimetype)."""
        try:
            names = [e.name for e in os.scandir(self.input) if e.is_file()]
        except FileNotFoundError:
            return []
        return sorted(n for n in names if (mimetypes.guess_type(n)[0] or "").startswith("image"))


def is_inside(base: Path, path: Path) -> bool:
    base_s = os.path.abspath(base)
    return os.path.commonpath((base_s, os.path.abspath(path))) == base_s


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _compute_vars(prefix: str, width: int, height: int) -> str:
    now = time.localtime()
    for key, value in {
        "%width%": str(width), "%height%": str(height), "%year%": str(now.tm_year),
        "%month%": f"{now.tm_mon:02}", "%day%": f"{now.tm_mday:02}",
        "%hour%": f"{now.tm_hour:02}", "%minute%": f"{now.tm_min:02}", "%second%": f"{now.tm_sec:02}",
    }.items():
        prefix = prefix.replace(key, value)
    return prefix


def save_image_path(prefix: str, out_dir: Path, width: int, height: int) -> tuple[Path, str, int, str]:
    """ComfyUI's folder_paths.get_save_image_path: (folder, filename, next counter, subfolder).

    The counter is one more than the highest existing "<filename>_NNNNN_" in the folder, so
    numbering survives restarts. A prefix escaping the folder raises at execution time.
    """
    if "%" in prefix:
        prefix = _compute_vars(prefix, width, height)
    out_s = os.path.abspath(out_dir)
    subfolder = os.path.dirname(os.path.normpath(prefix))
    filename = os.path.basename(os.path.normpath(prefix))
    full = os.path.abspath(os.path.join(out_s, subfolder))
    common = os.path.commonpath((out_s, full))
    if common != out_s:
        raise Exception(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {full}\n         output_dir: {out_s}\n         commonpath: {common}"
        )
    counter = 1
    try:
        plen = len(filename)
        best = 0
        for entry in os.listdir(full):
            head = entry[: plen + 1]
            if os.path.normcase(head[:-1]) != os.path.normcase(filename) or head[-1:] != "_":
                continue
            try:
                best = max(best, int(entry[plen + 1 :].split("_")[0]))
            except ValueError:
                continue
        counter = best + 1
    except FileNotFoundError:
        os.makedirs(full, exist_ok=True)
    return Path(full), filename, counter, subfolder


def store_upload(base: Path, subfolder: str, filename: str, data: bytes, overwrite: bool) -> str | None:
    """Write an upload the way ComfyUI does; returns the final name, or None if the path escapes.

    Same bytes under an existing name reuse that name; different bytes get " (1)", " (2)", ...
    unless overwrite is set.
    """
    folder = Path(os.path.join(base, os.path.normpath(subfolder)))
    path = Path(os.path.abspath(folder / filename))
    if not is_inside(base, path):
        return None
    folder.mkdir(parents=True, exist_ok=True)
    stem, ext = os.path.splitext(filename)
    if not overwrite:
        digest = hashlib.sha256(data).hexdigest()
        i = 1
        while path.exists():
            if file_sha256(path) == digest:
                return filename  # duplicate: keep the existing file and name
            filename = f"{stem} ({i}){ext}"
            path = folder / filename
            i += 1
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return filename
