"""The `kap` command: a thin, friendly front to the app's management commands.

kap serve [--port N]              serve the app (migrates and loads the guide first)
kap setup                         migrate and load the built-in guide, then exit
kap content check PATH            validate a content pack; exit 1 with every problem found
kap content load PATH             load a content pack (a no-op if already loaded)
kap users add EMAIL --role ROLE [--clinic ID|NAME]   add an account; password from a prompt or stdin
kap clinic create NAME --admin EMAIL   a clinic and its first admin (prints a one-time link)
kap worker [--once]               background tasks (reminder, alert, invitation e-mails); --once: run them, exit
kap backup PATH                   back the database up into one file (safe while the app runs)
kap restore PATH [--force]        restore a backup, then check keys, integrity and row counts
kap keys rotate [--drop-old]      new encryption key; re-encrypt everything under it
kap keys add | use KEY_ID | reencrypt | retire   a rotation in stages, without downtime
kap keys generate [--value]       print a new KAP_ENCRYPTION_KEYS line (no database needed)
kap search reindex                rebuild the search index (after KAP_SECRET_KEY changes)
kap bench seed [--clients N] [--years Y] [--one-person]   make the benchmark's data (bench/)
kap manage ARGS...                any Django management command
"""

from __future__ import annotations

import argparse
import os
import sys


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kap.settings")
    import django

    django.setup()


def _call(name: str, *args: str) -> int:
    from django.core.management import call_command
    from django.core.management.base import CommandError

    try:
        call_command(name, *args)
    except CommandError as e:
        print(f"kap: {e}", file=sys.stderr)
        return 1
    except SystemExit as e:
        return int(e.code or 0)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="kap", description="KAP Companion")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="serve the app")
    serve.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))
    serve.add_argument("--host", default=os.environ.get("KAP_HOST", "127.0.0.1"))
    serve.add_argument("--workers", type=int, default=int(os.environ.get("KAP_WORKERS", "2")))

    sub.add_parser("setup", help="migrate the database and load the built-in guide")

    content = sub.add_parser("content", help="check or load content packs")
    csub = content.add_subparsers(dest="action", required=True, metavar="ACTION")
    csub.add_parser("check", help="validate a pack").add_argument("path")
    csub.add_parser("load", help="load a pack into the database").add_argument("path")

    users = sub.add_parser("users", help="manage accounts")
    usub = users.add_subparsers(dest="action", required=True, metavar="ACTION")
    add = usub.add_parser("add", help="add an account")
    add.add_argument("email")
    add.add_argument("--role", choices=["client", "therapist", "admin"], default="client")
    add.add_argument("--name", default="")
    add.add_argument("--clinic", default="", help="therapists and admins: the clinic's id or name")

    clinic = sub.add_parser("clinic", help="manage clinics")
    clsub = clinic.add_subparsers(dest="action", required=True, metavar="ACTION")
    create = clsub.add_parser("create", help="a clinic and its first admin")
    create.add_argument("name", help="the clinic's name")
    create.add_argument("--admin", required=True, metavar="EMAIL", help="its first admin")
    create.add_argument("--admin-name", default="", help="the admin's name (optional)")

    worker = sub.add_parser("worker", help="run background tasks such as reminder e-mails")
    worker.add_argument(
        "--once", action="store_true", help="check reminders, run what is queued, then exit (cron)"
    )
    worker.add_argument(
        "--reminders-every",
        type=float,
        default=15.0,
        metavar="MINUTES",
        help="how often to check for due reminders; 0 for never (default: 15)",
    )

    audit = sub.add_parser("audit", help="the audit trail of reads of client data")
    asub = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    asub.add_parser("verify", help="check the hash chain; exit 1 if a row was edited or deleted")

    backup = sub.add_parser("backup", help="back the database up into one file")
    backup.add_argument("path", help="a file, or a folder to put a dated backup file in")
    restore = sub.add_parser("restore", help="restore the database from a `kap backup` file")
    restore.add_argument("path")
    restore.add_argument(
        "--force", action="store_true", help="replace a database that holds data (kept aside)"
    )
    keys = sub.add_parser("keys", help="manage the encryption keys")
    ksub = keys.add_subparsers(dest="action", required=True, metavar="ACTION")
    rotate = ksub.add_parser("rotate", help="new key; re-encrypt every value under it")
    rotate.add_argument("--drop-old", action="store_true", help="then remove the old keys")
    ksub.add_parser("add", help="stage 1: a new key, readable everywhere, not yet current")
    ksub.add_parser("use", help="stage 2: make a key current").add_argument("key_id")
    ksub.add_parser("reencrypt", help="stage 3: rewrite every value under the current key")
    ksub.add_parser("retire", help="stage 4: remove the keys no value uses any more")
    generate = ksub.add_parser("generate", help="print a new KAP_ENCRYPTION_KEYS line and exit")
    generate.add_argument("--value", action="store_true", help="print the value only")

    search = sub.add_parser("search", help="the search index of people's words")
    ssub = search.add_subparsers(dest="action", required=True, metavar="ACTION")
    ssub.add_parser("reindex", help="rebuild it under the current KAP_SECRET_KEY")

    bench = sub.add_parser("bench", help="benchmark data (a source checkout's bench/ folder)")
    bsub = bench.add_subparsers(dest="action", required=True, metavar="ACTION")
    seed = bsub.add_parser("seed", help="seed the benchmark's databases (never ./data)")
    seed.add_argument("--clients", type=int, help="a clinic of N clients on PostgreSQL")
    seed.add_argument("--years", type=float, help="years of records per person")
    seed.add_argument("--one-person", action="store_true", help="one person on SQLite")
    seed.add_argument("--profile", choices=["full", "minimum"], help="clinic clients' data")
    seed.add_argument("--workers", type=int, help="seeding processes (default: one per core)")

    manage = sub.add_parser("manage", help="run a Django management command")
    manage.add_argument("args", nargs=argparse.REMAINDER)
    return parser


def main(argv: list[str] | None = None) -> int:
    from kap.lib.private import private_umask

    private_umask()  # what the app creates (database, -wal, backups) is its owner's alone
    args = build_parser().parse_args(argv)
    if args.command == "bench":
        return _bench(args)
    if args.command == "keys" and args.action == "generate":
        return _generate_key(args.value)  # for a new install: no settings, no database
    _django()
    if args.command == "setup":
        return _call("kap_setup")
    if args.command == "serve":
        # The set-up code (while no account exists) is printed below, with this server's address.
        code = _call("kap_setup", "--no-setup-code")
        if code:
            return code
        return _serve(args.host, args.port, args.workers)
    if args.command == "content":
        return _call(f"content_{args.action}", args.path)
    if args.command == "users":
        extra = ["--name", args.name] if args.name else []
        extra += ["--clinic", args.clinic] if args.clinic else []
        return _call("users_add", args.email, "--role", args.role, *extra)
    if args.command == "clinic":
        extra = ["--admin-name", args.admin_name] if args.admin_name else []
        return _call("clinic_create", args.name, "--admin", args.admin, *extra)
    if args.command == "worker":
        return _worker(args.once, args.reminders_every)
    if args.command == "audit":
        return _call("audit_verify")
    if args.command == "backup":
        return _call("kap_backup", args.path)
    if args.command == "restore":
        return _call("kap_restore", args.path, *(["--force"] if args.force else []))
    if args.command == "keys":
        if args.action == "rotate":
            return _call("keys_rotate", *(["--drop-old"] if args.drop_old else []))
        return _call(f"keys_{args.action}", *([args.key_id] if args.action == "use" else []))
    if args.command == "search":
        return _call("search_reindex")
    if args.command == "manage":
        from django.core.management import execute_from_command_line

        execute_from_command_line(["kap manage", *args.args])
        return 0
    return 2


def _bench(args: argparse.Namespace) -> int:
    # bench/ is not part of the installed package: run it from the source checkout, in its own
    # process, so that it sets each database's environment itself (it never touches ./data).
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    if not (root / "bench" / "seed.py").exists():
        print("kap: bench needs a source checkout (bench/ is not installed)", file=sys.stderr)
        return 1
    flags = [f"--{k.replace('_', '-')}" for k in ("one_person",) if getattr(args, k)]
    for k in ("clients", "years", "profile", "workers"):
        if getattr(args, k) is not None:
            flags += [f"--{k}", str(getattr(args, k))]
    return subprocess.call([sys.executable, "-m", "bench.seed", *flags], cwd=root)


def _generate_key(value_only: bool) -> int:
    from kap.lib import crypto

    key_id, key = crypto.new_key()
    value = crypto.env_value({key_id: key})
    print(value if value_only else f"{crypto.ENV_VAR}={value}")
    return 0


def _worker(once: bool, reminders_every: float) -> int:
    from django.conf import settings

    from kap.care.tasks import schedule_alert_sweep, sweep_emails
    from kap.journal.tasks import enqueue_reminders, schedule_reminders
    from kap.ops import worker

    if once:
        print("KAP Companion worker: running queued tasks once.", flush=True)
        # The heartbeat, and the housekeeping that is due (sessions, old results, backup, audit).
        worker.run_once()
        enqueue_reminders()
        # Alert and invitation e-mails to retry, left half-sent by a worker that died, or
        # waiting for e-mail to be set up: sent here, then the queue.
        sweep_emails()
        return _call("db_worker", "--batch", "--no-startup-delay", "--no-reload")
    print("KAP Companion worker is running (Ctrl+C to stop).", flush=True)
    # A heartbeat every half minute; housekeeping checked every minute, each job once a period.
    worker.start()
    # Now (a restarted worker finds what the previous one left half-sent) and every minute.
    schedule_alert_sweep(settings.ALERT_EMAIL_SWEEP_SECONDS)
    if reminders_every > 0:
        schedule_reminders(reminders_every * 60)
    return _call("db_worker", "--no-reload")


def _serve(host: str, port: int, workers: int) -> int:
    from django.conf import settings
    from gunicorn.app.wsgiapp import WSGIApplication

    from kap.accounts import setup_code

    print(f"KAP Companion is ready at http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    if code := setup_code.issue_if_needed():
        # KAP_BASE_URL when it is set (behind a proxy); else the address served here.
        url = settings.BASE_URL if os.environ.get("KAP_BASE_URL") else f"http://{host}:{port}"
        print(setup_code.console_message(code, url), flush=True)
    sys.argv = [
        "gunicorn",
        "kap.wsgi:application",
        "--bind",
        f"{host}:{port}",
        "--workers",
        str(workers),
        "--threads",
        "4",
        "--access-logfile",
        "-",
        # Query strings can hold secrets (calendar tokens); log the path only.
        "--logger-class",
        "kap.lib.gunicorn_logging.RedactingLogger",
        "--access-logformat",
        '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(M)sms',
    ]
    WSGIApplication("%(prog)s [OPTIONS] [APP_MODULE]").run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
