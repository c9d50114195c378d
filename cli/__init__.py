"""The command line, top floor: `comfy-platform` (dev, api, worker, submit, keys, the stand-ins)."""
