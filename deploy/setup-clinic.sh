#!/usr/bin/env bash
# Set up KAP Companion for a clinic on PostgreSQL (15 or later), once, on the first app server:
# the database's role and database, the secret key and the first encryption key, the settings
# file, the database's tables, Django's deployment checks, and the clinic with its first admin.
# README "Running it for a clinic" shows these same steps; tests/deploy/test_setup_clinic.py runs
# this script against PostgreSQL.
#
#   sudo deploy/setup-clinic.sh --clinic "Lakeside Therapy" --admin admin@lakeside.example \
#       --host kap.lakeside.example --from-email care@lakeside.example \
#       --smtp-host smtp.lakeside.example --db-host db.lakeside.example
#
# Run it again at any time: what is already done is kept (the role, the database, the secret key,
# the encryption keys, the database password, the clinic); the other settings are written anew.
set -euo pipefail

usage() {
	cat <<'EOF'
Usage: deploy/setup-clinic.sh --clinic NAME --admin EMAIL --host NAME --from-email ADDRESS
                              --smtp-host HOST [options]

Each option can also be given as the environment variable after it.
  --clinic NAME          CLINIC_NAME    the clinic's name: shown in pages and as e-mails' sender
  --admin EMAIL          ADMIN_EMAIL    the clinic's first admin (a one-time link is printed)
  --host NAME            PUBLIC_HOST    the name people reach the app at (https://NAME)
  --from-email ADDRESS   FROM_EMAIL     the address e-mails are sent from
  --smtp-host HOST       SMTP_HOST      the mail server
  --smtp-port N          SMTP_PORT      its port (587: STARTTLS; 465: TLS from the start)
  --smtp-user USER       SMTP_USER      its user name, if it needs one (password: SMTP_PASSWORD)
  --db-host HOST         DB_HOST        PostgreSQL's host (default: localhost)
  --db-port N            DB_PORT        its port (default: 5432)
  --db-name NAME         DB_NAME        the database to create (default: kap)
  --db-user NAME         DB_USER        the role to create, which owns it (default: kap)
  --db-superuser NAME    DB_SUPERUSER   a role that may create both (default: postgres; its
                                        password from PGPASSWORD or ~/.pgpass)
  --db-sslmode MODE      DB_SSLMODE     e.g. require, when the database is on another machine
  --env-file PATH        ENV_FILE       the settings file to write (default: /etc/kap/kap.env)
  --data-dir PATH        DATA_DIR       the app's files (default: /var/lib/kap)
  --app-dir PATH         APP_DIR        the app, with .venv/bin/kap in it (default: /opt/kap)
  --run-as USER          RUN_AS         who runs the app (default: kap as root, else you)
The kap role's password: DB_PASSWORD, else the one already in ENV_FILE, else a new random one.
EOF
}

die() {
	echo "setup-clinic: $*" >&2
	exit 1
}

# Only the settings file decides what the app sees: none of the caller's KAP_* settings.
for name in $(compgen -e); do
	case $name in KAP_* | DATABASE_URL) unset "$name" ;; esac
done

CLINIC_NAME=${CLINIC_NAME:-}
ADMIN_EMAIL=${ADMIN_EMAIL:-}
PUBLIC_HOST=${PUBLIC_HOST:-}
FROM_EMAIL=${FROM_EMAIL:-}
SMTP_HOST=${SMTP_HOST:-}
SMTP_PORT=${SMTP_PORT:-587}
SMTP_USER=${SMTP_USER:-}
SMTP_PASSWORD=${SMTP_PASSWORD:-}  # not an option: it would show in the list of processes
DB_HOST=${DB_HOST:-localhost}
DB_PORT=${DB_PORT:-5432}
DB_NAME=${DB_NAME:-kap}
DB_USER=${DB_USER:-kap}
DB_SUPERUSER=${DB_SUPERUSER:-postgres}
DB_SSLMODE=${DB_SSLMODE:-}
DB_PASSWORD=${DB_PASSWORD:-}
ENV_FILE=${ENV_FILE:-/etc/kap/kap.env}
DATA_DIR=${DATA_DIR:-/var/lib/kap}
APP_DIR=${APP_DIR:-/opt/kap}
if [ "$(id -u)" = 0 ]; then RUN_AS=${RUN_AS:-kap}; else RUN_AS=${RUN_AS:-$(id -un)}; fi

while [ $# -gt 0 ]; do
	[[ $1 != --* || $1 == --help || $# -ge 2 ]] || die "$1 needs a value"
	case $1 in
	-h | --help) usage; exit 0 ;;
	--clinic) CLINIC_NAME=$2; shift 2 ;;
	--admin) ADMIN_EMAIL=$2; shift 2 ;;
	--host) PUBLIC_HOST=$2; shift 2 ;;
	--from-email) FROM_EMAIL=$2; shift 2 ;;
	--smtp-host) SMTP_HOST=$2; shift 2 ;;
	--smtp-port) SMTP_PORT=$2; shift 2 ;;
	--smtp-user) SMTP_USER=$2; shift 2 ;;
	--db-host) DB_HOST=$2; shift 2 ;;
	--db-port) DB_PORT=$2; shift 2 ;;
	--db-name) DB_NAME=$2; shift 2 ;;
	--db-user) DB_USER=$2; shift 2 ;;
	--db-superuser) DB_SUPERUSER=$2; shift 2 ;;
	--db-sslmode) DB_SSLMODE=$2; shift 2 ;;
	--env-file) ENV_FILE=$2; shift 2 ;;
	--data-dir) DATA_DIR=$2; shift 2 ;;
	--app-dir) APP_DIR=$2; shift 2 ;;
	--run-as) RUN_AS=$2; shift 2 ;;
	*) usage >&2; die "unknown option: $1" ;;
	esac
done

# --- Check everything before changing anything ---------------------------------------------
missing=""
for option in CLINIC_NAME ADMIN_EMAIL PUBLIC_HOST FROM_EMAIL SMTP_HOST; do
	[ -n "${!option}" ] || missing="$missing $option"
done
[ -z "$missing" ] || { usage >&2; die "missing:$missing"; }
# Values go into the settings file, read by systemd and by a shell alike.
for option in CLINIC_NAME ADMIN_EMAIL PUBLIC_HOST FROM_EMAIL SMTP_HOST SMTP_USER SMTP_PASSWORD DB_PASSWORD; do
	case ${!option} in *[\"\$\`\\]* | *$'\n'*) die "$option may not contain \", \$, \`, \\ or a line break" ;; esac
done
[[ $ADMIN_EMAIL == ?*@?* && $ADMIN_EMAIL != *[[:space:]]* ]] || die "--admin: not an e-mail address: $ADMIN_EMAIL"
[[ $FROM_EMAIL == ?*@?* && $FROM_EMAIL != *[[:space:]]* ]] || die "--from-email: not an e-mail address: $FROM_EMAIL"
[[ $PUBLIC_HOST =~ ^[A-Za-z0-9.-]+$ ]] || die "--host: a host name such as kap.example.org, without https:// ($PUBLIC_HOST)"
[[ $DB_NAME =~ ^[a-z_][a-z0-9_]*$ ]] || die "--db-name: lower-case letters, digits and _ ($DB_NAME)"
[[ $DB_USER =~ ^[a-z_][a-z0-9_]*$ ]] || die "--db-user: lower-case letters, digits and _ ($DB_USER)"
[[ $SMTP_PORT =~ ^[0-9]+$ && $DB_PORT =~ ^[0-9]+$ ]] || die "ports are numbers"
[[ $DB_PASSWORD =~ ^[A-Za-z0-9._~-]*$ ]] || die "DB_PASSWORD: letters, digits and . _ ~ - only (or leave it out: a random one is made)"
for tool in createuser createdb psql python3; do
	command -v "$tool" >/dev/null || die "$tool is needed (Debian: apt-get install postgresql-client python3)"
done
[ -x "$APP_DIR/.venv/bin/kap" ] || die "$APP_DIR/.venv/bin/kap not found: install the app first (make install in $APP_DIR)"
id -u "$RUN_AS" >/dev/null 2>&1 || die "no user $RUN_AS: create it first (useradd --system --user-group --home-dir $DATA_DIR --shell /usr/sbin/nologin $RUN_AS)"
TEMPLATE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/kap.env.example"
[ -f "$TEMPLATE" ] || die "$TEMPLATE not found (run this script from the app's deploy/ folder)"

# The app's commands run as RUN_AS, with the settings exported below.
kap() {
	if [ "$RUN_AS" = "$(id -un)" ]; then
		"$APP_DIR/.venv/bin/kap" "$@"
	else
		runuser -u "$RUN_AS" -- "$APP_DIR/.venv/bin/kap" "$@"
	fi
}

# A value from the settings file as it is now (empty when the file or the value is not there).
current() {
	[ -f "$ENV_FILE" ] || return 0
	# shellcheck disable=SC2016 # expanded by the inner bash
	env -i bash -c 'set -a; . "$1"; printf %s "${!2-}"' _ "$ENV_FILE" "$1"
}

# The keys on stdin, as `kap keys generate --value` prints them (id:base64key, the current one
# first), written as the app's key file at $1: JSON, mode 0600, owned by RUN_AS (the app reads it
# as RUN_AS), in place whole or not at all.
write_key_file() {
	python3 -c '
import json, os, sys
pairs = [part.split(":", 1) for part in sys.stdin.read().strip().split(",")]
assert pairs and all(len(pair) == 2 and pair[0] and pair[1] for pair in pairs), "no key given"
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as f:
    json.dump({"current": pairs[0][0], "keys": dict(pairs)}, f)
    f.flush()
    os.fsync(f.fileno())
' "$1.new"
	if [ "$(id -u)" = 0 ]; then
		chown "$RUN_AS:$(id -gn "$RUN_AS")" "$1.new"
	fi
	mv -f "$1.new" "$1"
}

# psql as DB_SUPERUSER; the SQL from stdin (so that no password shows in the list of processes),
# with :'role' and :'db' for DB_USER and DB_NAME.
admin_psql() {
	psql -X -q -tA -v ON_ERROR_STOP=1 -h "$DB_HOST" -p "$DB_PORT" -U "$DB_SUPERUSER" -d postgres \
		-v role="$DB_USER" -v db="$DB_NAME"
}
export PGSSLMODE=${DB_SSLMODE:-prefer}

# Not given: the mail server's user and password as they are in the settings file.
SMTP_USER=${SMTP_USER:-$(current KAP_SMTP_USER)}
SMTP_PASSWORD=${SMTP_PASSWORD:-$(current KAP_SMTP_PASSWORD)}

# --- 1. The database's role and the database, owned by it -----------------------------------
echo "1. PostgreSQL role $DB_USER and database $DB_NAME on $DB_HOST:$DB_PORT"
if [ -z "$DB_PASSWORD" ]; then
	DB_PASSWORD=$(current DATABASE_URL | python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(urllib.parse.urlsplit(sys.stdin.read()).password or ""))')
fi
if [ -z "$DB_PASSWORD" ]; then
	DB_PASSWORD=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
fi
[[ $DB_PASSWORD =~ ^[A-Za-z0-9._~-]+$ ]] || die "the password in $ENV_FILE's DATABASE_URL: letters, digits and . _ ~ - only"
owner=$(echo "SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = :'db'" | admin_psql)
if [ -n "$owner" ] && [ "$owner" != "$DB_USER" ]; then
	die "database $DB_NAME already exists, owned by $owner, not $DB_USER: choose another --db-name"
fi
if [ -z "$(echo "SELECT 1 FROM pg_roles WHERE rolname = :'role'" | admin_psql)" ]; then
	createuser -h "$DB_HOST" -p "$DB_PORT" -U "$DB_SUPERUSER" --login --no-superuser --no-createdb --no-createrole "$DB_USER"
fi
echo "ALTER ROLE :\"role\" WITH LOGIN PASSWORD '$DB_PASSWORD'" | admin_psql
if [ -z "$owner" ]; then
	createdb -h "$DB_HOST" -p "$DB_PORT" -U "$DB_SUPERUSER" -O "$DB_USER" "$DB_NAME"
fi

# --- 2. The secret key and the first encryption key ---------------------------------------
echo "2. Secret key and encryption key"
if [ "$(id -u)" = 0 ]; then
	install -d -o "$RUN_AS" -g "$(id -gn "$RUN_AS")" -m 0750 "$DATA_DIR"
else
	mkdir -p "$DATA_DIR"
fi
export KAP_DATA_DIR="$DATA_DIR"
KAP_SECRET_KEY=$(current KAP_SECRET_KEY)
if [ -z "$KAP_SECRET_KEY" ]; then
	KAP_SECRET_KEY=$(python3 -c 'import secrets; print(secrets.token_urlsafe(50))')
fi
export KAP_SECRET_KEY
# The encryption keys go in the key file the app reads, KAP_DATA_DIR/keys, not in the settings
# file: running servers re-read the file by themselves, so each stage of a key rotation reaches
# them without a restart (a value in the environment cannot be re-read). On an empty database the
# first key is generated, never rotated to (`kap keys rotate` is for a database that holds
# encrypted data). A key file already there is kept, and so is a KAP_ENCRYPTION_KEYS line put in
# the settings file by hand (the app then uses it, not the file).
KEY_FILE=$DATA_DIR/keys
if [ -n "$(current KAP_ENCRYPTION_KEYS)" ]; then
	echo "KAP_ENCRYPTION_KEYS is set in $ENV_FILE: kept, and used instead of $KEY_FILE (each key rotation then needs every server restarted)."
elif [ -e "$KEY_FILE" ]; then
	echo "The key file $KEY_FILE exists already: kept."
else
	kap keys generate --value | write_key_file "$DATA_DIR/keys"
fi

# --- 3. The settings file -------------------------------------------------------------------
echo "3. Settings: $ENV_FILE"
DATABASE_URL=$(DB_USER=$DB_USER DB_PASSWORD=$DB_PASSWORD DB_HOST=$DB_HOST DB_PORT=$DB_PORT DB_NAME=$DB_NAME python3 -c 'import os, urllib.parse as u; print("postgres://%s:%s@%s:%s/%s" % (u.quote(os.environ["DB_USER"], safe=""), u.quote(os.environ["DB_PASSWORD"], safe=""), os.environ["DB_HOST"], os.environ["DB_PORT"], os.environ["DB_NAME"]))')
[ -z "$DB_SSLMODE" ] || DATABASE_URL="$DATABASE_URL?sslmode=$DB_SSLMODE"
install -d -m 0755 "$(dirname "$ENV_FILE")"
# From the template (or the file as it is, on a second run): each line of these variables set,
# every other line kept. Written to a new file, then moved into place.
SET_DATABASE_URL=$DATABASE_URL \
SET_KAP_SECRET_KEY=$KAP_SECRET_KEY \
SET_KAP_DATA_DIR=$DATA_DIR \
SET_KAP_ALLOWED_HOSTS=$PUBLIC_HOST \
SET_KAP_CSRF_TRUSTED_ORIGINS=https://$PUBLIC_HOST \
SET_KAP_BASE_URL=https://$PUBLIC_HOST \
SET_KAP_HTTPS=True \
SET_KAP_TRUSTED_PROXY=True \
SET_KAP_OPEN_SIGNUP=False \
SET_KAP_SITE_NAME=$CLINIC_NAME \
SET_KAP_SMTP_HOST=$SMTP_HOST \
SET_KAP_SMTP_PORT=$SMTP_PORT \
SET_KAP_SMTP_USER=$SMTP_USER \
SET_KAP_SMTP_PASSWORD=$SMTP_PASSWORD \
SET_KAP_FROM_EMAIL="$CLINIC_NAME <$FROM_EMAIL>" \
python3 - "$ENV_FILE" "$TEMPLATE" <<'PY'
import os, re, sys

path, template = sys.argv[1], sys.argv[2]
# The template's variables, in its order; those given as SET_NAME are written.
order = [m.group(1) for l in open(template) if (m := re.match(r"#?\s*([A-Z][A-Z0-9_]*)=", l))]
values = {name: os.environ[f"SET_{name}"] for name in order if f"SET_{name}" in os.environ}
lines = open(path if os.path.exists(path) else template).read().splitlines()


def line_of(name: str, value: str) -> str:
    if re.fullmatch(r"[A-Za-z0-9_@%+=:,./-]*", value):
        return f"{name}={value}"
    return f'{name}="{value}"'


for name, value in values.items():
    # The set line, else the commented-out one; else at the end. An empty value (e.g. no SMTP
    # user) is written commented out.
    found = [i for i, l in enumerate(lines) if re.match(rf"{name}=", l)]
    found += [i for i, l in enumerate(lines) if re.match(rf"#\s*{name}=", l)]
    new = line_of(name, value) if value else f"# {name}="
    if found:
        lines[found[0]] = new
    elif value:
        lines.append(new)
tmp = f"{path}.new"
fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
with os.fdopen(fd, "w") as f:
    f.write("\n".join(lines) + "\n")
    f.flush()
    os.fsync(f.fileno())
os.replace(tmp, path)
PY
if [ "$(id -u)" = 0 ]; then
	chown "root:$(id -gn "$RUN_AS")" "$ENV_FILE"
fi
chmod 0640 "$ENV_FILE"
set -a
# shellcheck source=/dev/null
. "$ENV_FILE"
set +a

# --- 4. The database's tables, once, before any app server starts ---------------------------
echo "4. Database tables and the built-in guide"
kap setup

# --- 5. Django's deployment checks --------------------------------------------------------
echo "5. Deployment checks"
kap manage check --deploy --fail-level WARNING

# --- 6. The clinic and its first admin ------------------------------------------------------
echo "6. The clinic and its first admin"
export CLINIC_NAME
found=0
kap manage shell --no-imports -c 'import os, sys; from kap.accounts.models import Clinic; sys.exit(0 if Clinic.objects.filter(name=os.environ["CLINIC_NAME"]).exists() else 3)' || found=$?
if [ "$found" = 0 ]; then
	echo "The clinic $CLINIC_NAME exists already: not created again."
elif [ "$found" = 3 ]; then
	kap clinic create "$CLINIC_NAME" --admin "$ADMIN_EMAIL"
	echo "Send the one-time link above to $ADMIN_EMAIL."
else
	die "could not look the clinic up (above: why)"
fi

cat <<EOF

Done. Next (README "Running it for a clinic", steps 3 and 4): copy $ENV_FILE and the key
file $KEY_FILE to every other app server (the same files everywhere; the key file mode 0600,
owned by $RUN_AS), and keep a copy of both apart from the backups (a backup cannot be
read without its key); start kap-web.service on every app server and kap-worker.service on one;
then the proxy.
EOF
