"""Stand-ins for outside systems no real one of can run here: a ComfyUI emulator and a Google Drive v3 test
server. Not product code: only the CLI (`make dev`) and the tests start them."""
