"""Which Drive folders a creator may watch: never a folder edited photos go to, nor one inside it (watching it
would edit the edited photos, and their edits, and so on)."""

from __future__ import annotations

from dataclasses import dataclass

from comfy_platform.settings import Settings
from db.models import DriveWatch


@dataclass(frozen=True)
class FolderChoice:
    id: str
    name: str
    path: str  # "Shoot / Day 1": where it is, for folders of the same name


def output_folder_name(watch: DriveWatch | None, settings: Settings) -> str:
    return (watch.output_folder_name if watch and watch.output_folder_name else settings.DRIVE_OUTPUT_FOLDER_NAME)


def output_folders(folders: list[dict], watch: DriveWatch | None, settings: Settings) -> set[str]:
    """Ids of the folders that hold edited photos (the watch's output folder, and any folder named as output
    folders are: an earlier watch's), and of every folder inside one."""
    names = {settings.DRIVE_OUTPUT_FOLDER_NAME, output_folder_name(watch, settings)}
    outputs = {f["id"] for f in folders if f["name"] in names}
    if watch is not None:
        outputs.add(watch.output_folder_id)
    children: dict[str, list[str]] = {}
    for folder in folders:
        for parent in folder.get("parents") or []:
            children.setdefault(parent, []).append(folder["id"])
    inside, todo = set(outputs), list(outputs)
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in inside:
                inside.add(child)
                todo.append(child)
    return inside


def watchable_folders(folders: list[dict], watch: DriveWatch | None, settings: Settings) -> list[FolderChoice]:
    """The folders a creator may pick, by their path, output folders and what is inside them left out."""
    excluded = output_folders(folders, watch, settings)
    by_id = {f["id"]: f for f in folders}

    def path(folder: dict, depth: int = 0) -> str:
        parent = next((by_id[p] for p in folder.get("parents") or [] if p in by_id), None)
        return folder["name"] if parent is None or depth > 20 else f"{path(parent, depth + 1)} / {folder['name']}"

    choices = [FolderChoice(f["id"], f["name"], path(f)) for f in folders if f["id"] not in excluded]
    return sorted(choices, key=lambda c: c.path.lower())
