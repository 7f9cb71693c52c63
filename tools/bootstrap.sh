#!/usr/bin/env bash
# Installs what `make run` and CI need beyond Python packages: uv, nginx, docker-compose (the
# offline compose.yaml validation of tests/deploy; no Docker engine needed), node with the
# AsyncAPI parser (tools/asyncapi), promtool (Debian's prometheus package: tests/deploy checks
# the alerting rules with it; the server it also installs is not started here); with --servers, Redis and RabbitMQ; with --bench, what
# `make bench` needs besides (wrk and the servers).
set -euo pipefail

apt_install() {
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "bootstrap: please install $* (Debian: sudo apt-get install $*)" >&2
        exit 1
    fi
    echo "bootstrap: apt-get install $*"
    if [ -z "${APT_UPDATED:-}" ]; then
        apt-get update -qq
        APT_UPDATED=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

has() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }

if ! has uv && ! python3 -m uv --version >/dev/null 2>&1; then
    echo "bootstrap: pip install uv"
    python3 -m pip install --quiet uv
    # pyenv makes the new `uv` command visible only after a rehash.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash; fi
fi

servers=false
bench=false
for arg in "$@"; do
    case "$arg" in
        --servers) servers=true ;;
        --bench) servers=true; bench=true ;;
        *) echo "bootstrap: unknown option $arg" >&2; exit 2 ;;
    esac
done

missing=()
has nginx || missing+=(nginx)
has node || missing+=(nodejs)
has npm || missing+=(npm)
has docker-compose || missing+=(docker-compose)
if $servers; then
    has redis-server || missing+=(redis-server)
    has rabbitmq-server || missing+=(rabbitmq-server)
fi
if $bench; then
    has wrk || missing+=(wrk)
fi
if [ "${#missing[@]}" -gt 0 ]; then
    apt_install "${missing[@]}"
fi
if ! has promtool; then
    apt_install --no-install-recommends prometheus
fi

# The AsyncAPI parser that validates docs/asyncapi.json, exactly as locked; no install scripts.
asyncapi="$(dirname "$0")/asyncapi"
if [ ! "$asyncapi/node_modules/.package-lock.json" -nt "$asyncapi/package-lock.json" ]; then
    echo "bootstrap: npm ci (tools/asyncapi)"
    (cd "$asyncapi" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
fi
