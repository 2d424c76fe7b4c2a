"""The Kubernetes manifests in k8s/, checked offline.

The base and the KEDA overlay are rendered with ``kubectl kustomize`` (no cluster: nothing is
applied, not even with --dry-run), every built-in object is validated against the Kubernetes
JSON schemas bundled with kubernetes-validate (strict: unknown fields are errors), KEDA's
custom resources are checked field by field, and then the properties the fleet relies on are
asserted: one coordinator with its journal on a volume, workers that can be told to stop, the
broker password only ever referenced from the Secret, resource requests everywhere.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tunefleet.spec import load_spec
from tunefleet.transport.topology import Topology
from tunefleet.worker.python import load_objective

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "k8s" / "base"
KEDA = ROOT / "k8s" / "overlays" / "keda"
RENDERS = {"base": BASE, "keda": KEDA}
# The oldest Kubernetes the manifests target and a current one; kubernetes-validate ships both.
KUBERNETES_VERSIONS = ("1.30.0", "1.33.0")
KEDA_API = "keda.sh/v1alpha1"
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "Job"}
TUNEFLEET_WORKLOADS = {("StatefulSet", "tunefleet-coordinator"), ("Deployment", "tunefleet-worker"),
                       ("Job", "tunefleet-study-create")}
JOURNAL = "/data/fleet.db"
Doc = dict[str, Any]


# ---- rendering ---------------------------------------------------------------------------------
def _missing(message: str) -> None:
    """A missing tool fails the test under CI=true (never a silent skip there), else skips it."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def yaml_module() -> Any:
    try:
        import yaml
    except ImportError:
        _missing("PyYAML is not installed (it comes with kubernetes-validate): pip install -e '.[test]'")
    return yaml


@pytest.fixture(scope="module")
def validator() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        _missing("kubernetes-validate is not installed: pip install -e '.[test]' "
                 "(or pip install kubernetes-validate)")
    shipped = set(kubernetes_validate.utils.all_versions())
    assert set(KUBERNETES_VERSIONS) <= shipped, (
        f"kubernetes-validate {kubernetes_validate.__version__} has schemas for {sorted(shipped)}, "
        f"not for all of {KUBERNETES_VERSIONS}: change KUBERNETES_VERSIONS or the package version")
    return kubernetes_validate


@pytest.fixture(scope="module")
def kubectl() -> str:
    path = shutil.which("kubectl")
    if path is None:
        _missing("kubectl is not on PATH: the k8s/ manifests are rendered with `kubectl kustomize` "
                 "(install kubectl >= 1.27; no cluster is needed)")
    assert path is not None
    return path


@pytest.fixture(scope="module")
def rendered(kubectl: str, yaml_module: Any) -> dict[str, list[Doc]]:
    out = {}
    for name, folder in RENDERS.items():
        proc = subprocess.run([kubectl, "kustomize", str(folder)], capture_output=True, text=True,
                              timeout=120, check=False)
        assert proc.returncode == 0, f"kubectl kustomize {folder} failed:\n{proc.stderr}"
        out[name] = [d for d in yaml_module.safe_load_all(proc.stdout) if d]
    return out


@pytest.fixture(scope="module")
def base(rendered: dict[str, list[Doc]]) -> list[Doc]:
    return rendered["base"]


@pytest.fixture(scope="module")
def keda(rendered: dict[str, list[Doc]]) -> list[Doc]:
    return rendered["keda"]


# ---- helpers -----------------------------------------------------------------------------------
def find(docs: list[Doc], kind: str, name: str) -> Doc:
    """The object of ``kind`` named ``name`` (a generated ConfigMap's name has a hash suffix)."""
    hits = [d for d in docs if d["kind"] == kind
            and re.fullmatch(re.escape(name) + r"(-[a-z0-9]{10})?", d["metadata"]["name"])]
    assert len(hits) == 1, f"expected one {kind} {name!r}, found {[h['metadata']['name'] for h in hits]}"
    return hits[0]


def base_name(doc: Doc) -> str:
    name = doc["metadata"]["name"]
    if doc["kind"] == "ConfigMap":
        name = re.sub(r"-[a-z0-9]{10}$", "", name)
    return name


def workloads(docs: list[Doc]) -> list[Doc]:
    return [d for d in docs if d["kind"] in WORKLOAD_KINDS]


def pod_spec(workload: Doc) -> Doc:
    return workload["spec"]["template"]["spec"]


def containers(workload: Doc) -> list[Doc]:
    spec = pod_spec(workload)
    return [*spec.get("initContainers", []), *spec["containers"]]


def argv(container: Doc) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def env(container: Doc) -> dict[str, Doc]:
    return {e["name"]: e for e in container.get("env", [])}


def only_container(workload: Doc) -> Doc:
    (container,) = containers(workload)
    return container


def broker_env_file() -> dict[str, str]:
    pairs = {}
    for line in (BASE / "broker.env").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            pairs[key.strip()] = value.strip()
    return pairs


def config(docs: list[Doc]) -> dict[str, str]:
    return find(docs, "ConfigMap", "tunefleet-config")["data"]


def mounts(container: Doc) -> dict[str, str]:
    """mountPath -> volume name."""
    return {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}


def volume(workload: Doc, name: str) -> Doc:
    (vol,) = [v for v in pod_spec(workload).get("volumes", []) if v["name"] == name]
    return vol


def quantity(text: str) -> float:
    """A Kubernetes or RabbitMQ size ("1Gi", "600MiB", "1GB", "8Gi") in bytes."""
    match = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]i?)?B?", text)
    assert match, f"not a size: {text!r}"
    number, unit = float(match[1]), match[2] or ""
    power = "KMGT".index(unit[0]) + 1 if unit else 0
    return number * (1024 if unit.endswith("i") else 1000) ** power


# ---- schema validation -------------------------------------------------------------------------
@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("which", sorted(RENDERS))
def test_every_object_validates_against_the_kubernetes_schemas(
        rendered: dict[str, list[Doc]], validator: Any, which: str, version: str) -> None:
    errors, custom = [], set()
    for doc in rendered[which]:
        where = f"{doc['kind']}/{doc['metadata']['name']}"
        if doc["apiVersion"].startswith("keda.sh/"):
            custom.add((doc["apiVersion"], doc["kind"]))
            continue
        try:
            validator.validate(doc, version, strict=True)
        except validator.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            errors.append(f"{where}: {path}: {exc.message}")
        except validator.SchemaNotFoundError:
            errors.append(f"{where}: no schema for {doc['apiVersion']} {doc['kind']} in {version}")
    assert not errors, f"{which} against Kubernetes {version}:\n" + "\n".join(errors)
    expected = {(KEDA_API, "ScaledObject"), (KEDA_API, "TriggerAuthentication")} if which == "keda" else set()
    assert custom == expected  # checked field by field in the KEDA tests below


def test_the_validation_is_strict(base: list[Doc], validator: Any) -> None:
    """A misspelt field must fail, or the test above would pass whatever the manifests say."""
    bad = copy.deepcopy(find(base, "Deployment", "tunefleet-worker"))
    bad["spec"]["template"]["spec"]["terminationGracePeriodSecond"] = 60
    with pytest.raises(validator.ValidationError, match="terminationGracePeriodSecond"):
        validator.validate(bad, KUBERNETES_VERSIONS[0], strict=True)


# ---- what the base holds -----------------------------------------------------------------------
def test_the_base_holds_the_whole_fleet(base: list[Doc]) -> None:
    assert sorted((d["kind"], base_name(d)) for d in base) == sorted([
        ("ConfigMap", "rabbitmq-config"), ("ConfigMap", "tunefleet-config"),
        ("ConfigMap", "tunefleet-study"), ("Secret", "tunefleet-broker"),
        ("Service", "rabbitmq"), ("Service", "rabbitmq-headless"),
        ("Service", "tunefleet-coordinator"), ("StatefulSet", "rabbitmq"),
        ("StatefulSet", "tunefleet-coordinator"), ("Deployment", "tunefleet-worker"),
        ("Job", "tunefleet-study-create"),
    ])
    # The placeholder image built from k8s/Dockerfile; set the real one under `images:`.
    for kind, name in TUNEFLEET_WORKLOADS:
        assert only_container(find(base, kind, name))["image"] == "tunefleet:latest"


@pytest.mark.parametrize("which", sorted(RENDERS))
def test_everything_lands_in_one_namespace(rendered: dict[str, list[Doc]], which: str) -> None:
    assert {d["metadata"].get("namespace") for d in rendered[which]} == {"tunefleet"}


def test_the_coordinator_is_the_single_writer_of_a_persistent_journal(base: list[Doc]) -> None:
    sts = find(base, "StatefulSet", "tunefleet-coordinator")
    assert sts["spec"]["replicas"] == 1
    container = only_container(sts)
    assert argv(container) == ["tunefleet", "coordinator", "--journal", JOURNAL]
    claims = {t["metadata"]["name"]: t for t in sts["spec"]["volumeClaimTemplates"]}
    journal_dir = str(Path(JOURNAL).parent)
    assert mounts(container).get(journal_dir) in claims, f"{journal_dir} is not on a claim"
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Retain",
                                                                    "whenScaled": "Retain"}
    assert pod_spec(sts)["terminationGracePeriodSeconds"] >= 30
    # No port, so no HTTP probe: readiness is an exec check; liveness is left out on purpose.
    assert "ports" not in container
    assert set(container["readinessProbe"]) >= {"exec"} and "livenessProbe" not in container
    governing = find(base, "Service", sts["spec"]["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"
    # No other workload mounts a claim: the coordinator's is the only journal.
    others = [w for w in workloads(base) if w is not sts and w["kind"] != "StatefulSet"]
    assert not any("persistentVolumeClaim" in v for w in others for v in pod_spec(w).get("volumes", []))


def test_rabbitmq_keeps_its_data_and_takes_credentials_from_the_secret(base: list[Doc]) -> None:
    sts = find(base, "StatefulSet", "rabbitmq")
    assert sts["spec"]["replicas"] == 1
    container = only_container(sts)
    assert container["image"].startswith("rabbitmq:")
    claims = {t["metadata"]["name"] for t in sts["spec"]["volumeClaimTemplates"]}
    assert mounts(container)["/var/lib/rabbitmq"] in claims
    variables = env(container)
    for name, key in (("RABBITMQ_DEFAULT_USER", "username"), ("RABBITMQ_DEFAULT_PASS", "password")):
        assert variables[name]["valueFrom"]["secretKeyRef"] == {"name": "tunefleet-broker", "key": key}
    pod_labels = sts["spec"]["template"]["metadata"]["labels"]
    headless = find(base, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    service = find(base, "Service", "rabbitmq")
    assert service["spec"].get("type", "ClusterIP") == "ClusterIP"
    container_ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for svc in (headless, service):
        assert svc["spec"]["selector"].items() <= pod_labels.items()
        amqp = [p for p in svc["spec"]["ports"] if p["port"] == 5672]
        assert amqp and container_ports[amqp[0]["targetPort"]] == 5672


def test_the_broker_config_fits_the_container(base: list[Doc]) -> None:
    sts = find(base, "StatefulSet", "rabbitmq")
    container = only_container(sts)
    conf_map = find(base, "ConfigMap", "rabbitmq-config")
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"].startswith("/etc/rabbitmq/conf.d/")]
    assert volume(sts, mount["name"])["configMap"]["name"] == conf_map["metadata"]["name"]
    settings = dict(line.split(" = ", 1) for line in conf_map["data"][mount["subPath"]].splitlines()
                    if line and not line.startswith("#"))
    limit = quantity(container["resources"]["limits"]["memory"])
    assert 0.4 <= quantity(settings["vm_memory_high_watermark.absolute"]) / limit <= 0.7
    (claim,) = sts["spec"]["volumeClaimTemplates"]
    assert quantity(settings["disk_free_limit.absolute"]) < quantity(
        claim["spec"]["resources"]["requests"]["storage"]) / 2


def test_workers_are_stoppable_and_unexposed(base: list[Doc]) -> None:
    worker = find(base, "Deployment", "tunefleet-worker")
    assert 1 <= worker["spec"]["replicas"] <= 4
    spec = pod_spec(worker)
    assert spec["terminationGracePeriodSeconds"] >= 30, "a preempted trial must get the time to be told"
    container = only_container(worker)
    assert argv(container) == ["tunefleet", "worker", "--study", "$(STUDY)"]
    assert env(container)["STUDY"]["valueFrom"]["configMapKeyRef"] == {
        "name": find(base, "ConfigMap", "tunefleet-config")["metadata"]["name"], "key": "study"}
    assert "ports" not in container
    labels = worker["spec"]["template"]["metadata"]["labels"]
    for service in (d for d in base if d["kind"] == "Service"):
        selector = service["spec"].get("selector", {})
        assert not selector.items() <= labels.items(), f"Service {base_name(service)} selects the workers"


def test_the_study_spec_and_the_workers_agree(base: list[Doc], tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    study_map = find(base, "ConfigMap", "tunefleet-study")
    for file, text in study_map["data"].items():
        (tmp_path / file).write_text(text)
    spec = load_spec(tmp_path / "study.toml")
    assert spec.name == config(base)["study"], "tunefleet-config's study must be the spec's [study].name"
    # Import the objective the way a worker does, from the spec's folder; leave no trace behind.
    monkeypatch.setattr(sys, "path", [*sys.path])
    module = (spec.data.objective.function or "").partition(":")[0]
    monkeypatch.delitem(sys.modules, module, raising=False)
    assert callable(load_objective(spec.data.objective.function or "", str(tmp_path)))
    # The quickstart, kept in step with examples/.
    example = tomllib.loads((ROOT / "examples" / "quickstart.toml").read_text())
    shipped = tomllib.loads(study_map["data"]["study.toml"])
    assert {k: shipped[k] for k in ("study", "objective")} == {k: example[k] for k in ("study", "objective")}
    assert study_map["data"]["quickstart.py"] == (ROOT / "examples" / "quickstart.py").read_text(), (
        "k8s/base/study/quickstart.py differs from examples/quickstart.py: copy it over")
    # The Job creates the study from /spec; workers import the objective from that same folder.
    job = find(base, "Job", "tunefleet-study-create")
    assert argv(only_container(job)) == ["tunefleet", "study", "create", "/spec/study.toml"]
    for workload in (job, find(base, "Deployment", "tunefleet-worker")):
        vol = volume(workload, mounts(only_container(workload))["/spec"])
        assert vol["configMap"]["name"] == study_map["metadata"]["name"]


# ---- credentials -------------------------------------------------------------------------------
@pytest.mark.parametrize("which", sorted(RENDERS))
def test_the_password_appears_only_in_the_secret(rendered: dict[str, list[Doc]], which: str) -> None:
    password = broker_env_file()["password"]
    assert password
    secret = find(rendered[which], "Secret", "tunefleet-broker")
    assert set(secret["data"]) == {"username", "password"}
    for doc in rendered[which]:
        if doc is secret:
            continue
        text = json.dumps(doc)
        assert password not in text, f"{doc['kind']}/{doc['metadata']['name']} holds the password"
        assert secret["data"]["password"] not in text, f"{doc['kind']} holds the encoded password"
    for workload in workloads(rendered[which]):
        for container in containers(workload):
            line = " ".join(argv(container))
            assert "--broker" not in line and "amqp://" not in line, f"broker URL in argv: {line}"
            for variable in container.get("env", []):
                assert password not in variable.get("value", "")


@pytest.mark.parametrize("which", sorted(RENDERS))
def test_the_broker_url_is_built_from_secret_references(rendered: dict[str, list[Doc]], which: str) -> None:
    docs = rendered[which]
    secret_keys = {(d["metadata"]["name"], k) for d in docs if d["kind"] == "Secret" for k in d["data"]}
    for kind, name in TUNEFLEET_WORKLOADS:
        container = only_container(find(docs, kind, name))
        entries = container["env"]
        order = [e["name"] for e in entries]
        url = env(container)["TUNEFLEET_BROKER"]["value"]
        match = re.fullmatch(r"amqp://\$\((\w+)\):\$\((\w+)\)@([\w.-]+):(\d+)/(%2F|[\w.-]+)", url)
        assert match, f"{name}: TUNEFLEET_BROKER must be composed from $(VAR) references, got {url!r}"
        for ref in (match[1], match[2]):
            entry = env(container)[ref]
            key_ref = entry["valueFrom"]["secretKeyRef"]
            assert (key_ref["name"], key_ref["key"]) in secret_keys
            # $(VAR) is expanded only from variables defined earlier in the list.
            assert order.index(ref) < order.index("TUNEFLEET_BROKER")
        assert match[3] == "rabbitmq" and find(docs, "Service", match[3])
        ns_ref = env(container)["TUNEFLEET_NAMESPACE"]["valueFrom"]["configMapKeyRef"]
        assert ns_ref["key"] == "namespace"


# ---- every pod ---------------------------------------------------------------------------------
@pytest.mark.parametrize("which", sorted(RENDERS))
def test_every_container_requests_resources(rendered: dict[str, list[Doc]], which: str) -> None:
    for workload in workloads(rendered[which]):
        for container in containers(workload):
            requests = container.get("resources", {}).get("requests", {})
            assert {"cpu", "memory"} <= set(requests), (
                f"{workload['kind']}/{workload['metadata']['name']} {container['name']}: no requests")
            assert "memory" in container["resources"].get("limits", {})


@pytest.mark.parametrize("which", sorted(RENDERS))
def test_every_reference_resolves(rendered: dict[str, list[Doc]], which: str) -> None:
    docs = rendered[which]
    data = {(d["kind"], d["metadata"]["name"]): d.get("data", {}) for d in docs}
    for workload in workloads(docs):
        where = f"{workload['kind']}/{workload['metadata']['name']}"
        for container in containers(workload):
            for variable in container.get("env", []):
                source = variable.get("valueFrom", {})
                for kind, field in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
                    if field in source:
                        ref = source[field]
                        assert ref["key"] in data.get((kind, ref["name"]), {}), f"{where}: {ref} missing"
            for mount in container.get("volumeMounts", []):
                vol = next((v for v in pod_spec(workload).get("volumes", []) if v["name"] == mount["name"]),
                           None)
                claims = {t["metadata"]["name"] for t in workload["spec"].get("volumeClaimTemplates", [])}
                assert vol is not None or mount["name"] in claims, f"{where}: no volume {mount['name']}"
                if vol and "configMap" in vol:
                    keys = data.get(("ConfigMap", vol["configMap"]["name"]))
                    assert keys is not None, f"{where}: no ConfigMap {vol['configMap']['name']}"
                    if "subPath" in mount:
                        assert mount["subPath"] in keys, f"{where}: no key {mount['subPath']}"


@pytest.mark.parametrize("which", sorted(RENDERS))
def test_pods_run_unprivileged(rendered: dict[str, list[Doc]], which: str) -> None:
    for workload in workloads(rendered[which]):
        spec = pod_spec(workload)
        assert spec["automountServiceAccountToken"] is False  # no pod talks to the API server
        assert spec["securityContext"]["runAsNonRoot"] is True
        for container in containers(workload):
            context = container["securityContext"]
            assert context["allowPrivilegeEscalation"] is False
            assert context["capabilities"]["drop"] == ["ALL"]


# ---- the KEDA overlay --------------------------------------------------------------------------
def test_keda_scales_the_workers_on_the_coordinator_queue(keda: list[Doc]) -> None:
    scaled = find(keda, "ScaledObject", "tunefleet-worker")
    assert scaled["apiVersion"] == KEDA_API
    spec = scaled["spec"]
    worker = find(keda, "Deployment", "tunefleet-worker")
    target = spec["scaleTargetRef"]
    assert target["name"] == worker["metadata"]["name"]
    assert target.get("kind", "Deployment") == "Deployment"
    assert target.get("apiVersion", "apps/v1") == "apps/v1"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"], "min 0 would never wake up again"
    (trigger,) = spec["triggers"]
    assert trigger["type"] == "rabbitmq"
    meta = trigger["metadata"]
    namespace = config(keda)["namespace"]
    assert meta["queueName"] == Topology(namespace).requests == "tunefleet.coordinator"
    assert meta["mode"] == "QueueLength" and float(meta["value"]) > 0
    assert meta["protocol"] == "amqp"
    host = urlsplit(meta["host"])
    assert host.scheme == "amqp" and host.username is None and host.password is None
    service, _, rest = (host.hostname or "").partition(".")
    assert find(keda, "Service", service) and rest == f"{scaled['metadata']['namespace']}.svc"
    assert host.port == 5672
    # Credentials through a TriggerAuthentication that reads the tunefleet Secret.
    auth = find(keda, "TriggerAuthentication", trigger["authenticationRef"]["name"])
    assert auth["apiVersion"] == KEDA_API
    secret = find(keda, "Secret", "tunefleet-broker")
    refs = {r["parameter"]: r for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"username", "password"}
    for parameter, ref in refs.items():
        assert ref["name"] == secret["metadata"]["name"]
        assert ref["key"] == parameter and parameter in secret["data"]


def test_the_keda_overlay_changes_nothing_but_the_worker_replicas(base: list[Doc], keda: list[Doc]) -> None:
    """The autoscaler owns the replica count; everything else is the base as it is."""
    overlay = {(d["kind"], d["metadata"]["name"]): d for d in keda
               if not d["apiVersion"].startswith("keda.sh/")}
    expected = {(d["kind"], d["metadata"]["name"]): copy.deepcopy(d) for d in base}
    del expected[("Deployment", "tunefleet-worker")]["spec"]["replicas"]
    assert overlay == expected
