"""Comfy Platform's own room: settings, clients of outside systems (ComfyUI, storage), the CLI and the dev launcher.

None of the product folders (workflows/, activities/, api/ ...) is the right home for code that every one of
them imports, so it lives here; see README.md, "Layout".
"""
