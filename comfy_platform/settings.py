"""The one settings object. Nothing else in the project reads os.environ."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=True)

    # --- general
    DATA_DIR: Path = Path("./var")
    ENVIRONMENT: str = "development"  # development | production
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "json"  # json | console
    SECRET_KEY: str = "dev-insecure-secret-change-me"  # signs local-disk file URLs
    # Fernet keys (comma-separated; the first encrypts, all decrypt, so keys can be rotated) for secrets kept
    # at rest. Empty: one derived from SECRET_KEY, which production refuses.
    ENCRYPTION_KEY: str = ""

    # --- Temporal
    TEMPORAL_PORT: int = 7233
    TEMPORAL_UI_PORT: int = 8233
    TEMPORAL_ADDRESS: str = ""  # host:port; default 127.0.0.1:TEMPORAL_PORT
    TEMPORAL_NAMESPACE: str = "default"

    # --- database
    DATABASE_URL: str = ""  # default sqlite+aiosqlite under DATA_DIR

    # --- object storage
    STORAGE_URL: str = ""  # "" = local disk under DATA_DIR/blobs; "s3://bucket[/prefix]" = S3
    S3_ENDPOINT: str = "127.0.0.1:9000"  # host:port of the S3 API
    S3_ACCESS_KEY: str = ""
    S3_SECRET_KEY: str = ""
    S3_REGION: str = "us-east-1"
    S3_SECURE: bool = False
    # host:port clients use to fetch presigned output URLs, when it differs from S3_ENDPOINT (docker-compose:
    # the API reaches minio:9000, browsers reach localhost:9000). Presigning signs for this host.
    S3_PUBLIC_ENDPOINT: str = ""
    OUTPUT_URL_TTL_S: int = 3600

    # --- ComfyUI
    COMFYUI_URL: str = ""  # comma-separated base URLs; "" = the bundled emulator on EMULATOR_PORT
    COMFY_TASK_QUEUE: str = "comfy"  # the task queue this deployment's ComfyUI workers poll
    COMFY_SLOTS_PER_BACKEND: int = 2  # prompts kept queued on each backend (2 keeps the GPU busy between jobs)
    COMFY_HEARTBEAT_TIMEOUT_S: float = 20.0
    COMFY_JOB_TIMEOUT_S: float = 3600.0
    # A prompt ComfyUI lost (a restart empties its queue) is queued again at most this often, then the job fails.
    COMFY_MAX_REQUEUES: int = 3
    # A backend that may still hold a job's prompt but does not answer is waited for this long before the prompt
    # is taken as lost with it and queued elsewhere (a prompt is never queued twice while a copy may still run).
    COMFY_BACKEND_LOST_AFTER_S: float = 120.0
    # How often a comfy worker reads each backend's /object_info into the registry of what it can run (also read
    # whenever a backend comes back after not answering).
    COMFY_REGISTRY_REFRESH_S: float = 60.0
    # Prefer a backend whose loaded checkpoint is the job's (no model load); false: model-blind, the least busy
    # backend that can run it.
    COMFY_AFFINITY: bool = True
    # The longest a job waits for a backend with its checkpoint loaded while another backend that can run it has
    # a free slot.
    COMFY_AFFINITY_WAIT_S: float = 1.5
    EMULATOR_PORT: int = 8188

    # --- API
    API_HOST: str = "127.0.0.1"
    API_PORT: int = 8000
    PUBLIC_BASE_URL: str = ""  # how clients reach the API; default http://API_HOST:API_PORT

    # --- developer API limits
    MAX_INPUT_BYTES: int = 20 * 1024 * 1024  # one input image (upload, base64 or URL)
    MAX_IMAGES_PER_JOB: int = 8
    MAX_REQUEST_BYTES: int = 32 * 1024 * 1024  # a whole request body (base64 inputs included)
    # Decoded pixels that input checks of one process hold at a time (comfy_platform/images.py); an image that
    # alone needs more is refused. 256 MiB admits one 64-megapixel RGB image, whose check once cost that much each.
    IMAGE_DECODE_BUDGET_BYTES: int = 256 * 1024 * 1024
    # Hosts or CIDRs that URL inputs and webhooks may reach although they are loopback, private or link-local
    # (comma-separated; empty: none). Tests and on-premise deployments set it.
    URL_ALLOWLIST: str = ""
    URL_FETCH_TIMEOUT_S: float = 20.0
    WEBHOOK_TIMEOUT_S: float = 10.0

    # --- creator product: Google sign-in (OpenID Connect) and Drive. Endpoints default to Google's; tests and
    # `make dev` point them at local stand-ins (oidc-provider-mock and the project's Drive test server).
    GOOGLE_CLIENT_ID: str = ""
    GOOGLE_CLIENT_SECRET: str = ""
    GOOGLE_ISSUER: str = "https://accounts.google.com"
    GOOGLE_AUTH_URL: str = "https://accounts.google.com/o/oauth2/v2/auth"
    GOOGLE_TOKEN_URL: str = "https://oauth2.googleapis.com/token"
    GOOGLE_CERTS_URL: str = "https://www.googleapis.com/oauth2/v3/certs"  # JWKS that signs id_tokens
    GOOGLE_REVOKE_URL: str = "https://oauth2.googleapis.com/revoke"  # "" = do not revoke at Google on delete
    GOOGLE_DRIVE_URL: str = "https://www.googleapis.com/"  # Drive API root (files, upload and changes endpoints)
    GOOGLE_DRIVE_WEB_URL: str = "https://drive.google.com"  # links to outputs in emails and the dashboard
    SESSION_COOKIE_NAME: str = "cp_session"
    SESSION_TTL_DAYS: int = 7
    # --- Drive folder automation (one Temporal Schedule per creator)
    DRIVE_SYNC_INTERVAL_S: int = 300
    DRIVE_SYNC_JITTER_S: int = 30  # spreads thousands of creators' ticks
    DRIVE_SYNC_CATCHUP_S: int = 60  # after an outage, a missed tick older than this is skipped
    DRIVE_SYNC_PARALLEL_FILES: int = 4  # files of one creator in flight at once (sliding window)
    DRIVE_SYNC_FILES_PER_RUN: int = 200  # then the sync run continues as new (bounded history)
    DRIVE_OUTPUT_FOLDER_NAME: str = "Edited Photos"
    # Set by `make dev` when it runs the creator product against local stand-ins; every page then says so.
    CREATOR_LOCAL_STANDINS: bool = False
    # Ports of the local stand-ins `make dev` starts when GOOGLE_CLIENT_ID is empty.
    DEV_OIDC_PORT: int = 9400
    DEV_DRIVE_PORT: int = 9500
    # --- email (SMTP). SMTP_HOST "" = emails are logged, not sent (make dev runs a local SMTP sink instead).
    SMTP_HOST: str = ""
    SMTP_PORT: int = 25
    SMTP_USERNAME: str = ""
    SMTP_PASSWORD: str = ""
    SMTP_STARTTLS: bool = False
    SMTP_TIMEOUT_S: float = 20.0
    EMAIL_FROM: str = "Comfy Platform <noreply@localhost>"
    DEV_SMTP_PORT: int = 8025

    # --- billing (Stripe). STRIPE_SECRET_KEY "" = no Stripe: make dev runs the project's Stripe test server.
    STRIPE_SECRET_KEY: str = ""
    STRIPE_PUBLIC_KEY: str = ""
    STRIPE_WEBHOOK_SECRET: str = ""  # the `whsec_` secret of the endpoint Stripe posts events to
    STRIPE_API_BASE: str = ""  # "" = Stripe's own; the test server's URL in make dev and tests
    BILLING_PLANS_FILE: str = ""  # "" = the plans shipped in services/billing/plans.json
    BILLING_GRACE_DAYS: float = 7.0  # a past-due subscription keeps its plan this long after a failed payment
    DEV_STRIPE_PORT: int = 9600  # port of the Stripe test server make dev starts

    # --- operations: metrics, traces, encrypted workflow payloads, backpressure
    METRICS_ENABLED: bool = True  # the API's /metrics and its per-request series
    WORKER_METRICS_HOST: str = "127.0.0.1"  # where a worker serves /metrics (0.0.0.0 in containers)
    WORKER_METRICS_PORT: int = 9464  # 0: no metrics server; workers sharing a host each need their own
    BACKEND_POLL_S: float = 5.0  # how often a comfy worker asks each backend's queue (up, depth, busy ratio)
    # Traces go to this OTLP/HTTP collector (e.g. http://otel-collector:4318) when set; empty: none are kept.
    OTEL_EXPORTER_OTLP_ENDPOINT: str = ""
    OTEL_SERVICE_NAME: str = "comfy-platform"  # each process adds its role: comfy-platform-api, -worker-io ...
    # AES keys (urlsafe base64, 32 bytes; comma-separated, the first encrypts) for workflow payloads in Temporal.
    # Empty: derived from each ENCRYPTION_KEY entry, so rotating that rotates these.
    TEMPORAL_PAYLOAD_KEYS: str = ""
    # The codec server (`comfy-platform codec-server`) the Temporal Web UI decodes payloads through.
    CODEC_HOST: str = "127.0.0.1"
    CODEC_PORT: int = 8234
    CODEC_CORS_ORIGINS: str = ""  # the Web UI's origin(s); default http://127.0.0.1:$TEMPORAL_UI_PORT
    # With the UI behind its own OIDC sign-in, the codec server asks this userinfo endpoint about the token the UI
    # passes, and decodes only for these emails (comma-separated). Empty: no token asked (loopback-only setups).
    CODEC_OIDC_USERINFO_URL: str = ""
    CODEC_ALLOWED_EMAILS: str = ""
    # 503 `overloaded` for new jobs once the ComfyUI task queue's backlog passes this many per backend slot of the
    # fleet (COMFYUI_URL x COMFY_SLOTS_PER_BACKEND); 0: never.
    BACKLOG_PER_SLOT_LIMIT: float = 20.0
    # A ComfyUI slot lease nobody renews (its worker died) is free again after this long.
    COMFY_SLOT_LEASE_S: float = 60.0

    # --- CLI as a client of a remote API (`comfy-platform submit --api URL`)
    COMFY_API_KEY: str = ""

    @field_validator("DATABASE_URL")
    @classmethod
    def _use_async_driver(cls, value: str) -> str:
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite:///"):
            return "sqlite+aiosqlite:///" + value.split(":///", 1)[1]
        return value

    @property
    def temporal_address(self) -> str:
        return self.TEMPORAL_ADDRESS or f"127.0.0.1:{self.TEMPORAL_PORT}"

    @property
    def database_url(self) -> str:
        return self.DATABASE_URL or f"sqlite+aiosqlite:///{(self.DATA_DIR / 'platform.db').resolve()}"

    @property
    def comfyui_urls(self) -> list[str]:
        urls = [u.strip().rstrip("/") for u in self.COMFYUI_URL.split(",") if u.strip()]
        return urls or [f"http://127.0.0.1:{self.EMULATOR_PORT}"]

    @property
    def uses_emulator(self) -> bool:
        return not self.COMFYUI_URL.strip()

    @property
    def public_base_url(self) -> str:
        return (self.PUBLIC_BASE_URL or f"http://{self.API_HOST}:{self.API_PORT}").rstrip("/")

    @property
    def is_dev(self) -> bool:
        return self.ENVIRONMENT != "production"

    def check_production_secrets(self) -> None:
        if self.ENVIRONMENT == "production" and self.SECRET_KEY.startswith("dev-insecure"):
            raise ValueError("SECRET_KEY must be set to a real secret when ENVIRONMENT=production")
        if self.ENVIRONMENT == "production" and not self.ENCRYPTION_KEY:
            raise ValueError("ENCRYPTION_KEY must be set when ENVIRONMENT=production")


@lru_cache
def get_settings() -> Settings:
    settings = Settings()
    settings.check_production_secrets()
    return settings
