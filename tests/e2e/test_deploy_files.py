"""The files for running a fleet on hosts of one's own (deploy/) and the image (k8s/Dockerfile).

The systemd unit is parsed and its important keys asserted, and checked with
``systemd-analyze verify`` and ``systemd-analyze security --offline`` where systemd-analyze is
installed; the RabbitMQ config files are checked for the sysctl format RabbitMQ reads; the
definitions' permission regexes are tried against the queue names tunefleet really uses; the
Dockerfile's COPY sources must exist and survive its .dockerignore.
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest

from tunefleet.transport.topology import Topology

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "tunefleet-coordinator.service"
ENV_EXAMPLE = DEPLOY / "systemd" / "coordinator.env.example"
SYSUSERS = DEPLOY / "systemd" / "tunefleet.sysusers.conf"
DEFINITIONS = DEPLOY / "rabbitmq" / "definitions.json"
RABBITMQ_CONFS = {"deploy": DEPLOY / "rabbitmq" / "rabbitmq.conf",
                  "k8s": ROOT / "k8s" / "base" / "rabbitmq.conf"}
DOCKERFILE = ROOT / "k8s" / "Dockerfile"
STATE = "/var/lib/tunefleet"


# ---- the systemd unit --------------------------------------------------------------------------
def unit() -> configparser.ConfigParser:
    # systemd allows a key more than once; none of the keys asserted here is repeated.
    parser = configparser.ConfigParser(strict=False, interpolation=None, comment_prefixes=("#", ";"))
    parser.optionxform = str  # type: ignore[assignment,method-assign]  # keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def exec_start() -> list[str]:
    return shlex.split(unit()["Service"]["ExecStart"])


def test_the_unit_runs_the_coordinator_on_a_state_directory_journal() -> None:
    service = unit()["Service"]
    command = exec_start()
    assert Path(command[0]).name == "tunefleet" and command[1] == "coordinator"
    journal = command[command.index("--journal") + 1]
    assert Path(journal).parent == Path(STATE)
    assert service["StateDirectory"] == Path(STATE).name  # systemd creates /var/lib/<name>
    assert STATE in service["ReadWritePaths"].split()
    assert service["WorkingDirectory"] == STATE


def test_the_unit_keeps_the_broker_url_out_of_argv() -> None:
    service = unit()["Service"]
    assert service["EnvironmentFile"].startswith("/etc/tunefleet/")
    command = " ".join(exec_start())
    assert "--broker" not in command and "amqp" not in command
    assert "amqp://" not in UNIT.read_text()
    assert "Environment" not in service  # nothing inline that could carry a URL


def test_the_unit_stops_and_restarts_cleanly() -> None:
    parser = unit()
    service = parser["Service"]
    assert service["KillSignal"] == "SIGTERM"
    assert 30 <= int(service["TimeoutStopSec"]) <= 300
    assert service["Restart"] == "on-failure"
    assert int(parser["Unit"]["StartLimitBurst"]) >= 1
    assert parser["Install"]["WantedBy"] == "multi-user.target"


def test_the_unit_is_hardened_and_unprivileged() -> None:
    service = unit()["Service"]
    assert service["User"] == service["Group"] == "tunefleet"
    for key, value in {"NoNewPrivileges": "yes", "ProtectSystem": "strict", "ProtectHome": "yes",
                       "PrivateTmp": "yes", "PrivateDevices": "yes", "RestrictSUIDSGID": "yes",
                       "CapabilityBoundingSet": "", "UMask": "0077"}.items():
        assert service[key] == value, key
    assert set(service["RestrictAddressFamilies"].split()) == {"AF_INET", "AF_INET6", "AF_UNIX"}


def test_the_sysusers_file_creates_the_units_user() -> None:
    (line,) = [x for x in SYSUSERS.read_text().splitlines() if x.strip() and not x.startswith("#")]
    kind, name, uid, gecos, home, shell = shlex.split(line)
    assert (kind, name, uid, home) == ("u", unit()["Service"]["User"], "-", STATE)
    assert gecos and shell.endswith("nologin")


def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:  # optional: the configparser tests above still check the unit
        pytest.skip("systemd-analyze is not installed")
    # verify insists that ExecStart's program exists: point it at this environment's tunefleet.
    tunefleet = shutil.which("tunefleet") or str(Path(sys.executable).with_name("tunefleet"))
    assert Path(tunefleet).exists(), "tunefleet is not installed in this environment"
    text = UNIT.read_text().replace(exec_start()[0], tunefleet)
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    verify = subprocess.run([analyze, "verify", str(copy)], capture_output=True, text=True,
                            timeout=60, check=False)
    # verify exits 0 even for unknown keys and bad values: it only warns. Demand silence.
    assert verify.returncode == 0 and not (verify.stdout + verify.stderr).strip(), verify.stderr
    security = subprocess.run([analyze, "security", "--offline=yes", "--no-pager", str(copy)],
                              capture_output=True, text=True, timeout=60, check=False)
    match = re.search(r"Overall exposure level for \S+: (\d+(?:\.\d+)?)", security.stdout)
    assert match, f"no exposure level in:\n{security.stdout}\n{security.stderr}"
    assert float(match[1]) <= 3.0, security.stdout


def test_the_environment_file_example() -> None:
    pairs = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            assert re.fullmatch(r"[A-Z_]+=\S+", line), f"not KEY=VALUE: {line!r}"
            key, _, value = line.partition("=")
            pairs[key] = value
    blas = {"OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"}
    assert set(pairs) == {"TUNEFLEET_BROKER", "TUNEFLEET_NAMESPACE"} | blas
    assert all(pairs[k] == "1" for k in blas)  # one BLAS thread: the coordinator runs no objective
    url = urlsplit(pairs["TUNEFLEET_BROKER"])
    assert url.scheme == "amqp" and url.username == "tunefleet" and "CHANGE-ME" in (url.password or "")
    assert unquote(url.path.lstrip("/")) == "tunefleet"  # the vhost of definitions.json
    assert pairs["TUNEFLEET_NAMESPACE"] == "tunefleet"


# ---- RabbitMQ ----------------------------------------------------------------------------------
def rabbitmq_settings(path: Path) -> dict[str, str]:
    settings: dict[str, str] = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        match = re.fullmatch(r"([a-z0-9_]+(?:\.[A-Za-z0-9_\-]+)*) = (\S(?:[^#]*\S)?)", line)
        assert match, f"{path.name}:{number}: not a sysctl-style `key = value` line: {line!r}"
        assert match[1] not in settings, f"{path.name}:{number}: {match[1]} set twice"
        settings[match[1]] = match[2]
    return settings


@pytest.mark.parametrize("which", sorted(RABBITMQ_CONFS))
def test_rabbitmq_conf_is_sysctl_style_with_the_important_keys(which: str) -> None:
    settings = rabbitmq_settings(RABBITMQ_CONFS[which])
    assert any(key.startswith("listeners.tcp.") for key in settings)
    assert settings["loopback_users.guest"] == "true"
    assert int(settings["consumer_timeout"]) >= 30 * 60 * 1000  # milliseconds
    assert any(key.startswith("vm_memory_high_watermark.") for key in settings)
    assert any(key.startswith("disk_free_limit.") for key in settings)
    if "vm_memory_high_watermark.relative" in settings:
        assert 0.2 <= float(settings["vm_memory_high_watermark.relative"]) <= 0.8


def test_the_broker_imports_the_definitions() -> None:
    settings = rabbitmq_settings(RABBITMQ_CONFS["deploy"])
    assert settings["definitions.import_backend"] == "local_filesystem"
    assert Path(settings["definitions.local.path"]).name == DEFINITIONS.name


def definitions() -> dict[str, Any]:
    return json.loads(DEFINITIONS.read_text())


def test_the_definitions_hold_no_credentials_and_no_administrator() -> None:
    data = definitions()
    for user in data["users"]:
        # Passwords are set on the broker (rabbitmqctl change_password reads stdin), never here.
        assert user["password_hash"] == "", f"{user['name']} has a password hash in the repository"
        assert "administrator" not in user["tags"]
    vhosts = {v["name"] for v in data["vhosts"]}
    assert {p["vhost"] for p in data["permissions"]} <= vhosts
    assert {p["user"] for p in data["permissions"]} == {u["name"] for u in data["users"]}


def test_the_tunefleet_user_may_use_only_the_tunefleet_queues() -> None:
    """RabbitMQ matches permission regexes unanchored (re.search), so they must anchor themselves."""
    (perms,) = [p for p in definitions()["permissions"] if p["user"] == "tunefleet"]
    topology = Topology("tunefleet")

    def allowed(kind: str, resource: str) -> bool:
        return re.search(perms[kind], resource) is not None

    # What tunefleet does: every process declares both queues; requests and replies go through
    # the default exchange; the coordinator consumes its queue; workers consume direct reply-to.
    for queue in (topology.requests, topology.dead):
        assert allowed("configure", queue), queue
    assert allowed("write", "amq.default")
    assert allowed("read", topology.requests) and allowed("read", "amq.rabbitmq.reply-to")
    # And nothing else.
    for kind in ("configure", "write", "read"):
        for other in ("other.coordinator", "xtunefleet.coordinator", "amq.topic", "amq.direct", "orders"):
            assert not allowed(kind, other), f"{kind} allows {other}"
    assert not allowed("configure", "amq.default")


def test_the_monitoring_user_has_no_resource_permissions() -> None:
    (perms,) = [p for p in definitions()["permissions"] if p["user"] == "tunefleet-monitor"]
    assert {perms[k] for k in ("configure", "write", "read")} == {"^$"}


# ---- the image ---------------------------------------------------------------------------------
def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    lines, current = [], ""
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#") and not current:
            continue
        current += raw.rstrip("\\").strip() + " "
        if not raw.rstrip().endswith("\\"):
            if current.strip():
                word, _, rest = current.strip().partition(" ")
                lines.append((word.upper(), rest.strip()))
            current = ""
    return lines


def test_the_dockerfile_installs_the_project_and_runs_unprivileged() -> None:
    steps = dockerfile()
    bases = [args.split()[0] for word, args in steps if word == "FROM"]
    required = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    floor = re.fullmatch(r">=(\d+)\.(\d+)", required)
    assert floor, required
    minimum = (int(floor[1]), int(floor[2]))
    for image in bases:
        version = re.match(r"python:(\d+)\.(\d+)", image)
        assert version and tuple(int(x) for x in version.groups()) >= minimum, image
    runs = " ".join(args for word, args in steps if word == "RUN")
    assert "pip install ." in runs
    final = steps[max(i for i, (word, _) in enumerate(steps) if word == "FROM"):]
    users = [args for word, args in final if word == "USER"]
    assert users and users[-1].split(":")[0] not in {"0", "root"}
    assert json.loads(next(args for word, args in final if word == "ENTRYPOINT"))[0].endswith("tini")


def test_the_dockerfile_copies_what_exists_and_is_not_ignored() -> None:
    ignore_file = DOCKERFILE.parent / "Dockerfile.dockerignore"
    ignored = [line.strip() for line in ignore_file.read_text().splitlines()
               if line.strip() and not line.startswith("#")]
    sources = []
    for word, args in dockerfile():
        if word == "COPY" and "--from=" not in args:
            sources += args.split()[:-1]
    assert {"pyproject.toml", "README.md", "tunefleet"} <= set(sources)  # pip install . needs all three
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        assert not any(fnmatch.fnmatch(source, pattern) for pattern in ignored), f"{source} is ignored"
