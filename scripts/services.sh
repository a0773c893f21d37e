#!/usr/bin/env bash
# Starts the local database services the tests use, if they are down, and
# waits until they accept connections. Loopback only.
set -euo pipefail

start_postgres() {
    if pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; then
        return 0
    fi
    if ! command -v pg_ctlcluster >/dev/null 2>&1; then
        echo "services: PostgreSQL is not installed; installing it" >&2
        apt_install postgresql
    fi
    local version
    version="$(ls /etc/postgresql | sort -V | tail -n1)"
    echo "services: starting PostgreSQL $version" >&2
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        pg_isready -q -h 127.0.0.1 -p 5432 && return 0
        sleep 0.5
    done
    echo "services: PostgreSQL did not come up on 127.0.0.1:5432" >&2
    return 1
}

start_mariadb() {
    if mysqladmin --protocol=tcp -h 127.0.0.1 -uroot status >/dev/null 2>&1; then
        return 0
    fi
    if [ ! -x /usr/sbin/mariadbd ]; then
        echo "services: MariaDB is not installed; installing it" >&2
        apt_install mariadb-server
    fi
    echo "services: starting MariaDB" >&2
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 1 60); do
        mysqladmin --protocol=tcp -h 127.0.0.1 -uroot status >/dev/null 2>&1 && return 0
        sleep 0.5
    done
    echo "services: MariaDB did not come up on 127.0.0.1:3306" >&2
    return 1
}

apt_install() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "services: need root to install $*" >&2
        return 1
    fi
    if [ -z "${SPIKEPROOF_APT_UPDATED:-}" ]; then
        apt-get update -qq
        export SPIKEPROOF_APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Drops databases left behind by earlier test runs (each test makes its own).
drop_stale_test_databases() {
    local dbs
    dbs="$(psql -h 127.0.0.1 -U postgres -d postgres -Atc \
        "SELECT datname FROM pg_database WHERE datname LIKE 'spikeproof_test_%'" 2>/dev/null || true)"
    for db in $dbs; do
        psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS \"$db\"" >/dev/null 2>&1 || true
    done
}

drop_stale_mysql_test_databases() {
    local dbs
    dbs="$(mysql --protocol=tcp -h 127.0.0.1 -uroot -N -e \
        "SELECT schema_name FROM information_schema.schemata WHERE schema_name LIKE 'spikeproof\_test\_%'" 2>/dev/null || true)"
    for db in $dbs; do
        mysql --protocol=tcp -h 127.0.0.1 -uroot -e "DROP DATABASE IF EXISTS \`$db\`" >/dev/null 2>&1 || true
    done
}

start_postgres
start_mariadb
drop_stale_test_databases
drop_stale_mysql_test_databases
