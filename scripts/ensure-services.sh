#!/usr/bin/env bash
# Make sure Redis and PostgreSQL answer on 127.0.0.1 (the tests talk to both for real).
# Starts them when they are installed but down; installs them from Debian when absent.
set -euo pipefail
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"

apt_install() {
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # wait_for NAME CMD...
  local name=$1; shift
  for _ in $(seq 1 60); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "error: $name did not come up" >&2; return 1
}

# ip (iproute2): the multi-host test builds its hosts in network namespaces.
command -v ip >/dev/null || apt_install iproute2

# Redis
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  command -v redis-server >/dev/null || apt_install redis-server
  $SUDO mkdir -p /var/lib/redis /var/log/redis
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log
  wait_for redis redis-cli -h 127.0.0.1 -p 6379 ping
fi

# PostgreSQL (trust auth on 127.0.0.1, database `test`)
if ! pg_isready -h 127.0.0.1 -p 5432 >/dev/null 2>&1; then
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    apt_install postgresql
  fi
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || true
  wait_for postgresql pg_isready -h 127.0.0.1 -p 5432
fi
if ! psql -h 127.0.0.1 -U postgres -d test -c 'select 1' >/dev/null 2>&1; then
  # A fresh Debian cluster: allow trust auth over loopback and create the test database.
  ver=$(ls /etc/postgresql | sort -n | tail -1)
  hba=/etc/postgresql/$ver/main/pg_hba.conf
  if ! grep -q "adreview-trust" "$hba"; then
    $SUDO sed -i '1i host all all 127.0.0.1/32 trust # adreview-trust\nhost all all ::1/128 trust # adreview-trust' "$hba"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main reload
  fi
  $SUDO -u postgres createdb test 2>/dev/null || su postgres -c "createdb test" 2>/dev/null || true
fi
