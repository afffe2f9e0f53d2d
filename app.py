"""Start nover_ui: open the database, start the training worker process(es), serve the dashboard.

    python app.py [--host 127.0.0.1] [--port 7860] [--home ./.nover_ui] [--db URL] [--workers 1] [--share]
                  [--root-path /prefix] [--read-only] [--interrupted fail|resume] [--demo]
                  [--auth user:password,...] [--hf-users name,...] [--max-upload-mb 50] [--max-upload-rows N]
                  [--data-dir DIR,...] [--trusted-proxies N] [--login-hours 12] [--max-experiment-runs 24]
                  [--artifacts s3://bucket/prefix]
    python app.py --export RUN_ID [--out run-RUN_ID.zip]    # write a run to one file, then exit
    python app.py --import run-RUN_ID.zip                   # read it back as a new run; prints its id
    python app.py --import-trl OUTPUT_DIR                   # a plain TRL GRPO run as a new run; prints its id

Every flag has an environment variable (NOVER_UI_HOST, NOVER_UI_PORT, NOVER_UI_HOME, NOVER_UI_DB,
NOVER_UI_WORKERS, NOVER_UI_ROOT_PATH, NOVER_UI_READ_ONLY, NOVER_UI_INTERRUPTED, NOVER_UI_DEMO, NOVER_UI_AUTH,
NOVER_UI_HF_USERS, NOVER_UI_MAX_UPLOAD_MB, NOVER_UI_MAX_UPLOAD_ROWS, NOVER_UI_DATA_DIRS, NOVER_UI_TRUSTED_PROXIES,
NOVER_UI_LOGIN_HOURS, NOVER_UI_MAX_EXPERIMENT_RUNS, NOVER_ALERT_WEBHOOK, NOVER_UI_ARTIFACTS); a flag wins over its
variable. The artifact store's credentials come from the environment only (e.g. AWS_ACCESS_KEY_ID).
In the Docker image (a Hugging Face Space) NOVER_UI_PERSISTENT_DIR=/data: the data lives under /data/nover_ui.
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no calls home; must precede the gradio import

from nover_ui.access import LOGIN_TTL_S, READ_ONLY_MESSAGE, Access, LoginSessions, parse_auth  # noqa: E402
from nover_ui.app import APP_CSS, APP_JS, build_app  # noqa: E402
from nover_ui.archive import archive_command  # noqa: E402
from nover_ui.experiment_grid import DEFAULT_MAX_RUNS  # noqa: E402
from nover_ui.flag_backfill import start_flag_backfill  # noqa: E402
from nover_ui.login_routes import server_extensions  # noqa: E402
from nover_ui.places import parse_data_dirs  # noqa: E402
from nover_ui.run_import import trl_import_command  # noqa: E402
from nover_ui.supervisor import WorkerSupervisor, watch_stale_runs  # noqa: E402
from nover_ui.uploads import UPLOAD_LIMIT_BYTES, UPLOAD_ROW_LIMIT, UploadLimits  # noqa: E402
from storage import StorageError, Store  # noqa: E402
from training.alert_notify import NO_WEBHOOK, PUBLIC_URL_ENV, WEBHOOK_ENV, AlertSettings, webhook_url_problem  # noqa: E402
from training.artifacts import ARTIFACTS_ENV, ArtifactError, Artifacts  # noqa: E402
from training.commands import DB_ENV  # noqa: E402
from training.config import HEARTBEAT_TIMEOUT_S, INTERRUPTED_POLICIES  # noqa: E402

DEMO_MESSAGE = "this is a read-only demo: duplicate this Space (or run nover_ui yourself) to train"


@dataclass(frozen=True)
class Settings:
    host: str
    port: int
    home: Path
    db: str
    workers: int
    share: bool
    root_path: str
    heartbeat_timeout_s: float
    interrupted: str
    """fail or resume: what becomes of a run whose worker went away (--interrupted)."""
    read_only: bool
    demo: bool
    """A read-only showcase of an existing database: no workers, no writes at all, "Duplicate this Space"."""
    auth: dict[str, str]
    hf_users: tuple[str, ...] | None
    """Hugging Face accounts allowed to write after OAuth sign-in; None when not on a Space with OAuth."""
    upload_limits: UploadLimits
    data_dirs: tuple[Path, ...]
    """Folders besides HOME/uploads and HOME/models whose files the dashboard may open (--data-dir)."""
    trusted_proxies: int
    login_ttl_s: float
    max_experiment_runs: int
    """The most runs one experiment may queue from the Train tab (--max-experiment-runs)."""
    embedded: bool
    """Shown inside another site's frame (a Hugging Face Space): the login cookie must be cross-site."""
    public_host: str | None
    """A Space's own host name (SPACE_HOST), accepted as the Origin of writes whatever Host the proxy sends."""
    notices: tuple[str, ...]
    """Warnings for the top of the page (e.g. no persistent storage)."""
    export_run: int | None = None
    export_out: Path | None = None
    import_path: Path | None = None
    """--export / --import: write a run to a file or read one back, then exit without serving."""
    import_trl: Path | None = None
    """--import-trl: store a TRL GRPO output folder as a new run, then exit without serving."""
    artifacts: str | None = None
    """The artifact store's URL (--artifacts), without credentials; None keeps every file under HOME."""
    alerts: AlertSettings = NO_WEBHOOK
    """The operator's webhook for new alerts (--alert-webhook), and the address a posted alert links to: handed to
    the workers, never to the page."""

    def access(self) -> Access:
        return Access(
            read_only=self.read_only or self.demo,
            read_only_message=DEMO_MESSAGE if self.demo else READ_ONLY_MESSAGE,
            passwords=self.auth,
            hf_users=self.hf_users,
            trusted_proxies=self.trusted_proxies,
            public_host=self.public_host,
            sessions=LoginSessions(self.login_ttl_s),
        )


def parse_settings(argv: Sequence[str] | None = None, env: Mapping[str, str] = os.environ) -> Settings:
    parser = argparse.ArgumentParser(prog="python app.py", description="nover_ui: a dashboard for NOVER runs.")
    parser.add_argument(
        "--host",
        default=env.get("NOVER_UI_HOST", "127.0.0.1"),
        help="address to listen on; 0.0.0.0 for every interface (env NOVER_UI_HOST)",
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(env.get("NOVER_UI_PORT", "7860")),
        help="port of the dashboard (env NOVER_UI_PORT, default 7860)",
    )
    default_home, storage_warning = _default_home(env)
    parser.add_argument(
        "--home",
        type=Path,
        default=default_home,
        help="data directory: database, models, checkpoints (env NOVER_UI_HOME, default ./.nover_ui; "
        "/data/nover_ui in the Docker image)",
    )
    parser.add_argument(
        "--db",
        default=env.get("NOVER_UI_DB"),
        help="database URL (env NOVER_UI_DB); default sqlite:///HOME/nover_ui.db",
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=int(env.get("NOVER_UI_WORKERS", "1")),
        help="training worker processes to start; 0 serves the UI only (env NOVER_UI_WORKERS)",
    )
    parser.add_argument("--share", action="store_true", help="also serve through a public Gradio share link")
    parser.add_argument(
        "--root-path",
        default=env.get("NOVER_UI_ROOT_PATH", ""),
        help="URL prefix when served behind a reverse proxy (env NOVER_UI_ROOT_PATH)",
    )
    parser.add_argument(
        "--read-only",
        action="store_true",
        default=_true(env.get("NOVER_UI_READ_ONLY")),
        help="show runs but refuse to queue, cancel, resume or delete any (env NOVER_UI_READ_ONLY)",
    )
    parser.add_argument(
        "--heartbeat-timeout",
        type=float,
        default=HEARTBEAT_TIMEOUT_S,
        help="seconds without a heartbeat after which a running run is marked failed",
    )
    parser.add_argument(
        "--interrupted",
        default=env.get("NOVER_UI_INTERRUPTED", "fail"),
        help="a run whose worker went away (app stopped or killed, worker silent past the "
        "heartbeat timeout) is failed (fail), or failed and continued by a new linked "
        "run from its last checkpoint (resume) (env NOVER_UI_INTERRUPTED, default fail)",
    )
    parser.add_argument(
        "--demo",
        action="store_true",
        default=_true(env.get("NOVER_UI_DEMO")),
        help="a read-only showcase of an existing database: no workers, a 'Duplicate this Space "
        "to train' notice (env NOVER_UI_DEMO)",
    )
    parser.add_argument(
        "--auth",
        default=env.get("NOVER_UI_AUTH", ""),
        metavar="USER:PASSWORD,...",
        help="reading stays public, but queueing, cancelling, deleting and uploads need one of "
        "these logins (env NOVER_UI_AUTH)",
    )
    parser.add_argument(
        "--hf-users",
        default=env.get("NOVER_UI_HF_USERS", env.get("SPACE_AUTHOR_NAME", "")),
        help="on a Space with hf_oauth: Hugging Face accounts that may write after signing in "
        "(env NOVER_UI_HF_USERS, default the Space's owner)",
    )
    parser.add_argument(
        "--max-upload-mb",
        type=float,
        default=float(env.get("NOVER_UI_MAX_UPLOAD_MB", UPLOAD_LIMIT_BYTES / 2**20)),
        help="largest data file accepted from the browser (env NOVER_UI_MAX_UPLOAD_MB, default 50)",
    )
    parser.add_argument(
        "--max-upload-rows",
        type=int,
        default=int(env.get("NOVER_UI_MAX_UPLOAD_ROWS", UPLOAD_ROW_LIMIT)),
        help=f"most rows accepted in an uploaded file (env NOVER_UI_MAX_UPLOAD_ROWS, default {UPLOAD_ROW_LIMIT})",
    )
    parser.add_argument(
        "--data-dir",
        default=env.get("NOVER_UI_DATA_DIRS", ""),
        metavar="DIR,...",
        help="folders whose data files and models the dashboard may open besides its uploads "
        "(env NOVER_UI_DATA_DIRS; default none)",
    )
    parser.add_argument(
        "--trusted-proxies",
        type=int,
        default=int(env.get("NOVER_UI_TRUSTED_PROXIES", "1" if env.get("SPACE_ID") else "0")),
        help="reverse proxies in front of the app, whose X-Forwarded-For names the client for "
        "login throttling (env NOVER_UI_TRUSTED_PROXIES; default 1 on a Space, else 0)",
    )
    parser.add_argument(
        "--login-hours",
        type=float,
        default=float(env.get("NOVER_UI_LOGIN_HOURS", LOGIN_TTL_S / 3600)),
        help="how long a login lasts unless logged out (env NOVER_UI_LOGIN_HOURS, default 12)",
    )
    parser.add_argument(
        "--max-experiment-runs",
        type=int,
        default=int(env.get("NOVER_UI_MAX_EXPERIMENT_RUNS", DEFAULT_MAX_RUNS)),
        help=f"most runs one experiment may queue (env NOVER_UI_MAX_EXPERIMENT_RUNS, default {DEFAULT_MAX_RUNS})",
    )
    archive = parser.add_mutually_exclusive_group()
    archive.add_argument(
        "--export",
        type=int,
        metavar="RUN_ID",
        help="write the run's record, metrics and rollouts to one zip of Parquet files, then exit",
    )
    archive.add_argument(
        "--import",
        type=Path,
        dest="import_path",
        metavar="PATH",
        help="read a file written by --export back as a new run, print its id, then exit",
    )
    archive.add_argument(
        "--import-trl",
        type=Path,
        dest="import_trl",
        metavar="DIR",
        help="store the output_dir of a TRL GRPO run (log_completions=True writes its rollouts, its checkpoints' "
        "trainer_state.json its metrics) as a new run, print its id, then exit",
    )
    parser.add_argument("--out", type=Path, help="where --export writes (default ./run-RUN_ID.zip)")
    parser.add_argument(
        "--alert-webhook",
        default=env.get(WEBHOOK_ENV) or None,
        help=f"http(s) URL that receives each new alert of a run as JSON, posted by the workers (env {WEBHOOK_ENV}; "
        f"default none); never shown on the page",
    )
    parser.add_argument(
        "--artifacts",
        default=env.get(ARTIFACTS_ENV) or None,
        metavar="URL",
        help=f"an fsspec URL (s3://bucket/prefix, gs://..., hf://buckets/..., a folder) where uploads, checkpoints "
        f"and merged models go, for workers that share no disk (env {ARTIFACTS_ENV}; default none: all under HOME); "
        f"its credentials come from the environment (for s3://: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, "
        f"AWS_ENDPOINT_URL_S3), never the URL",
    )
    args = parser.parse_args(argv)
    if args.alert_webhook and (problem := webhook_url_problem(args.alert_webhook)):
        parser.error(f"--alert-webhook: {problem}")
    if args.out is not None and args.export is None:
        parser.error("--out is the file --export writes; give --export RUN_ID too")
    try:
        auth = parse_auth(args.auth)
    except ValueError as exc:
        parser.error(str(exc))
    if args.max_upload_mb <= 0 or args.max_upload_rows <= 0:
        parser.error("--max-upload-mb and --max-upload-rows must be > 0")
    if args.max_experiment_runs < 1:
        parser.error(f"--max-experiment-runs must be >= 1, got {args.max_experiment_runs}")
    if args.trusted_proxies < 0 or args.login_hours <= 0:
        parser.error("--trusted-proxies must be >= 0 and --login-hours > 0")
    try:
        data_dirs = parse_data_dirs(args.data_dir)
    except ValueError as exc:
        parser.error(str(exc))
    # Hugging Face sign-in exists only on a Space whose README asks for it (hf_oauth: true sets OAUTH_CLIENT_ID);
    # passwords, when given, take its place.
    hf_oauth = bool(env.get("SPACE_ID") and env.get("OAUTH_CLIENT_ID")) and not auth
    hf_users = tuple(name.strip() for name in args.hf_users.split(",") if name.strip()) if hf_oauth else None
    if args.interrupted not in INTERRUPTED_POLICIES:
        parser.error(f"--interrupted must be one of {', '.join(INTERRUPTED_POLICIES)}, got {args.interrupted!r}")
    if args.workers < 0:
        parser.error(f"--workers must be >= 0, got {args.workers}")
    home = args.home.expanduser().resolve()
    try:
        artifacts = Artifacts(args.artifacts, home).root if args.artifacts else None
    except ArtifactError as exc:
        parser.error(str(exc))
    notices = [storage_warning] if storage_warning and home == default_home.expanduser().resolve() else []
    if args.demo:
        notices.append(_demo_notice(env))
    return Settings(
        host=args.host,
        port=args.port,
        home=home,
        db=args.db or f"sqlite:///{home / 'nover_ui.db'}",
        workers=args.workers,
        share=args.share,
        root_path=args.root_path,
        heartbeat_timeout_s=args.heartbeat_timeout,
        interrupted=args.interrupted,
        read_only=args.read_only,
        demo=args.demo,
        auth=auth,
        hf_users=hf_users,
        upload_limits=UploadLimits(int(args.max_upload_mb * 2**20), args.max_upload_rows),
        data_dirs=data_dirs,
        trusted_proxies=args.trusted_proxies,
        login_ttl_s=args.login_hours * 3600,
        max_experiment_runs=args.max_experiment_runs,
        embedded=bool(env.get("SPACE_ID")),
        public_host=env.get("SPACE_HOST"),
        notices=tuple(notices),
        export_run=args.export,
        export_out=args.out,
        import_path=args.import_path,
        import_trl=args.import_trl,
        alerts=AlertSettings(args.alert_webhook, _public_url(env)),
        artifacts=artifacts,
    )


def _public_url(env: Mapping[str, str]) -> str | None:
    """Where the dashboard is reached from outside, for the link in a posted alert: NOVER_UI_PUBLIC_URL, else a
    Space's own address, else unknown."""
    if env.get(PUBLIC_URL_ENV):
        return env[PUBLIC_URL_ENV]
    return f"https://{env['SPACE_HOST']}" if env.get("SPACE_HOST") else None


def worker_env(settings: Settings, base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """The workers' environment: this process's, with the database and the alert settings; the database URL (which
    may hold a password) and the webhook's URL go here rather than on their command line, which every user of the
    machine can list."""
    env = {key: value for key, value in base.items() if key not in (WEBHOOK_ENV, PUBLIC_URL_ENV)}
    env[DB_ENV] = settings.db
    if settings.alerts.webhook_url:
        env[WEBHOOK_ENV] = settings.alerts.webhook_url
    if settings.alerts.public_url:
        env[PUBLIC_URL_ENV] = settings.alerts.public_url
    return env


def _missing_sqlite_file(url: str) -> str | None:
    prefix = "sqlite:///"
    if url.startswith(prefix) and not Path(url[len(prefix) :]).is_file():
        return url[len(prefix) :]
    return None


def _true(value: str | None) -> bool:
    return (value or "").lower() in ("1", "true", "yes")


def _default_home(env: Mapping[str, str]) -> tuple[Path, str | None]:
    """The data directory, and a warning when it will not outlive the container.

    The Docker image sets NOVER_UI_PERSISTENT_DIR=/data, a Space's persistent storage. Without it (a Space on
    the free tier), the app still runs, from a temporary directory, and says so at the top of the page.
    """
    if "NOVER_UI_HOME" in env:
        return Path(env["NOVER_UI_HOME"]), None
    if not (persistent := env.get("NOVER_UI_PERSISTENT_DIR")):
        return Path(".nover_ui"), None
    root = Path(persistent)
    if root.is_dir() and os.access(root, os.W_OK):
        return root / "nover_ui", None
    fallback = Path(tempfile.gettempdir()) / "nover_ui"
    return fallback, (
        f"**Nothing persists:** {root} is absent or not writable, so runs, models and checkpoints "
        f"are kept in {fallback} and lost when this container restarts. On a Hugging Face Space, "
        f"turn on persistent storage in the Space's settings."
    )


def _demo_notice(env: Mapping[str, str]) -> str:
    space = env.get("SPACE_ID")
    where = (
        f"[Duplicate this Space](https://huggingface.co/spaces/{space}?duplicate=true)"
        if space
        else "Duplicate this Space"
    )
    return (
        f"**Read-only demo.** {where} to train: your copy gets working Train, Playground and Evaluate "
        f"tabs, workers and its own database (pick a GPU and turn on persistent storage)."
    )


def worker_command(settings: Settings, module: str = "training.worker") -> list[str]:
    # The policy goes to the workers too: a worker whose app is killed notices first and applies it.
    return [
        sys.executable,
        "-m",
        module,
        "--home",
        str(settings.home),
        "--heartbeat-timeout",
        str(settings.heartbeat_timeout_s),
        "--parent-pid",
        str(os.getpid()),
        "--interrupted",
        settings.interrupted,
        # The URL only: the store's credentials reach the workers through the environment they inherit.
        *(["--artifacts", settings.artifacts] if settings.artifacts else []),
    ]


def main(argv: Sequence[str] | None = None, worker_module: str = "training.worker") -> int:
    """`worker_module` is what the worker processes run (tests/app_entry.py: the worker with a stand-in trainer)."""
    settings = parse_settings(argv)
    if settings.demo and (missing := _missing_sqlite_file(settings.db)):
        print(
            f"nover_ui: --demo shows an existing database, and {missing} does not exist; pass --db with a "
            f"database that holds runs (e.g. sqlite:///path/to/nover_ui.db)",
            file=sys.stderr,
        )
        return 2
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        store = Store(settings.db)
    except StorageError as exc:
        print(f"nover_ui: {exc}", file=sys.stderr)
        return 2
    if settings.export_run is not None or settings.import_path is not None:
        try:
            return archive_command(store, settings.export_run, settings.export_out, settings.import_path)
        finally:
            store.close()
    if settings.import_trl is not None:
        try:
            return trl_import_command(store, settings.import_trl)
        finally:
            store.close()
    artifacts = Artifacts(settings.artifacts, settings.home)
    try:
        artifacts.check()  # a wrong URL or missing credentials fail here, not in the first upload or run
    except ArtifactError as exc:
        print(f"nover_ui: --artifacts: {exc}", file=sys.stderr)
        store.close()
        return 2
    if artifacts.remote:
        print(f"nover_ui: uploads, checkpoints and merged models go through {artifacts.root}", file=sys.stderr)
    access = settings.access()
    if settings.host not in ("127.0.0.1", "localhost", "::1") and not access.needs_login and not access.read_only:
        print(
            f"nover_ui: warning: serving on {settings.host} with no login: anyone who reaches this port can queue "
            f"runs, upload data and delete runs; set --auth user:password",
            file=sys.stderr,
        )
    for notice in settings.notices:
        print(f"nover_ui: {notice.replace('**', '')}", file=sys.stderr)
    # A demo changes nothing: no workers, and no stale-run check (that would write to the showcased database).
    supervisor = WorkerSupervisor(
        worker_command(settings, worker_module), 0 if settings.demo else settings.workers, env=worker_env(settings)
    )
    stop = threading.Event()
    if not settings.demo:
        threading.Thread(
            target=watch_stale_runs,
            daemon=True,
            args=(store, settings.heartbeat_timeout_s, stop, settings.interrupted == "resume"),
        ).start()
        # Rows stored before their flags were (or by an older flag set); a demo shows them as "not computed".
        start_flag_backfill(store, stop)
    supervisor.start()
    try:
        app = build_app(
            store,
            settings.home,
            access,
            settings.upload_limits,
            settings.notices,
            settings.data_dirs,
            settings.max_experiment_runs,
            artifacts,
        )
        # Start-up objects (gradio, plotly, pandas) live as long as the process: keeping them out of every
        # garbage collection makes reading 10^5 metric points about twice as fast (bench/bench_dashboard.py).
        gc.freeze()
        app.launch(
            server_name=settings.host,
            server_port=settings.port,
            share=settings.share,
            root_path=settings.root_path or None,
            css=APP_CSS,
            js=APP_JS,
            max_file_size=settings.upload_limits.max_bytes,
            app_kwargs=server_extensions(access, embedded=settings.embedded),
        )
    except KeyboardInterrupt:
        pass  # Ctrl+C while the server was still starting
    except OSError as exc:
        print(
            f"nover_ui: cannot serve on {settings.host}:{settings.port} ({exc}); pass another --port", file=sys.stderr
        )
        return 2
    finally:
        stop.set()
        supervisor.stop()
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
