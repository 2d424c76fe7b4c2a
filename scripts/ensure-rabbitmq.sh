#!/usr/bin/env bash
# Make sure a RabbitMQ answers on 127.0.0.1:5672 for the broker tests: install it from
# Debian's packages if missing, start it (no systemd needed) and wait until it is ready.
# Does nothing when $TUNEFLEET_TEST_BROKER points elsewhere. Idempotent.
set -euo pipefail

if [ -n "${TUNEFLEET_TEST_BROKER:-}" ]; then
  echo "ensure-rabbitmq: using \$TUNEFLEET_TEST_BROKER; not starting a local broker"
  exit 0
fi

port_open() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if port_open; then
  echo "ensure-rabbitmq: RabbitMQ answers on 127.0.0.1:5672"
  exit 0
fi

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "ensure-rabbitmq: installing rabbitmq-server"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq rabbitmq-server >/dev/null
fi

echo "ensure-rabbitmq: starting rabbitmq-server"
rabbitmq-server -detached || true
# await_startup fails at once until the node has registered with epmd: retry it.
for _ in $(seq 1 240); do
  if rabbitmqctl -q await_startup --timeout 60 >/dev/null 2>&1 && port_open; then
    echo "ensure-rabbitmq: ready"
    exit 0
  fi
  sleep 0.5
done
echo "ensure-rabbitmq: RabbitMQ did not come up on 127.0.0.1:5672" >&2
exit 1
