"""Configuration from FABRIEK_* environment variables, built once at start-up and passed down."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="FABRIEK_", extra="ignore")

    data_dir: Path = Field(
        default=Path("data"), description="Where the embedded SQLite database and logs live."
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; PostgreSQL in production. Empty: SQLite in data_dir.",
    )
    policy_dir: Path | None = Field(
        default=None, description="Directory with policy files overriding the packaged ones."
    )
    # At least the API's 40 worker threads, so no request waits for a connection while it
    # holds another resource (FastAPI runs dependencies and the route in separate threads).
    db_pool_size: int = Field(default=40, ge=1)
    write_concurrency: int = Field(
        default=2, ge=1,
        description="Write requests that run at once in one API process; more wait their turn "
                    "before they start. Writes meet at the database's locks anyway (SQLite's "
                    "single writer, a partition's capacity rows), and a lock holder waits for "
                    "the interpreter behind every runnable request thread, so a short queue "
                    "keeps locks held for less time.")
    switch_interval_ms: float = Field(
        default=0.5, gt=0, le=100,
        description="The interpreter's thread switch interval in an API process (Python's own "
                    "default is 5 ms). A request thread that holds a database lock gives up "
                    "the interpreter at every statement and waits up to this long to get it "
                    "back from a busy thread.")
    reconciler: bool = Field(default=True, description="Run the job reconciler inside serve.")
    reconcile_interval_seconds: float = Field(default=1.0, gt=0)
    slurm_rest_url: str | None = Field(default=None, description="slurmrestd, e.g. http://127.0.0.1:6820")
    slurm_user: str = "root"
    slurm_jwt: str | None = None
    slurm_jwt_key: Path | None = None
    slurm_api_version: str = "0.0.38"
    slurm_scratch_dir: Path = Field(
        default=Path("/tmp/fabriek-slurm"),
        description="Job directories and logs; a file system the nodes and the broker share.")
    slurm_cluster: str | None = Field(default=None, description="ClusterName, for accounting.")
    slurm_cli_fallback: bool = Field(
        default=True, description="Use scontrol/sacct/sacctmgr where REST cannot do the work.")
    log_level: str = "info"
    # The web portal.
    public_url: str | None = Field(
        default=None, description="The portal's address as browsers see it, e.g. "
        "https://fabriek.example.eu; used for the OpenID redirect. Empty: from each request.")
    secure_cookies: bool = Field(
        default=True, description="Mark the portal's cookies Secure (sent over HTTPS only; "
        "browsers also send them to http://127.0.0.1 and localhost).")
    web_session_hours: float = Field(default=12.0, gt=0, description="Portal sign-in lifetime.")
    sign_in_failures_allowed: int = Field(
        default=5, ge=1, description="Failed sign-ins per e-mail address within "
        "sign_in_window_minutes before further tries are refused (per client: four times it).")
    sign_in_window_minutes: float = Field(default=15.0, gt=0)
    oidc_issuer: str | None = Field(
        default=None, description="OpenID Connect provider, e.g. the research federation's "
        "(MyAccessID). Empty: the portal offers local accounts only.")
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_label: str = Field(default="OpenID Connect", description="The sign-in button's name.")
    observatory_cache_seconds: float = Field(
        default=60, ge=0, description="How old the public observatory figures may be before "
                                      "they are recomputed (in the background); 0: every "
                                      "request computes them.")
    # Data labs.
    datalab_max_upload_mb: int = Field(
        default=2048, gt=0, description="The largest file a data steward may upload as one "
                                        "distribution (MiB); a bigger upload is refused and "
                                        "nothing of it is kept.")
    datalab_blob_dir: Path | None = Field(
        default=None, description="Where the data labs' files live (content-addressed). "
                                  "Empty: <data_dir>/blobs.")

    datalab_services: bool = Field(
        default=True, description="Run the data-lab services (profile, validate, convert, "
                                  "detect-personal-data, synthesize) in a background thread of "
                                  "serve; several processes may (runs are leased).")
    datalab_service_memory: str = Field(
        default="1GB", pattern=r"^[0-9]+(\.[0-9]+)?\s*(KB|MB|GB|TB|KiB|MiB|GiB|TiB)$",
        description="DuckDB's memory limit for one service run; beyond it DuckDB spills to "
                    "disk under <data_dir>/datalab-work.")
    datalab_service_threads: int = Field(default=2, ge=1, le=256,
                                         description="DuckDB threads for one service run.")

    @property
    def datalab_max_upload_bytes(self) -> int:
        return self.datalab_max_upload_mb * 1024 * 1024

    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'fabriek.db').resolve()}"
