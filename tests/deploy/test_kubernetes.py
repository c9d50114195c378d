"""deploy/kubernetes, rendered by Kustomize (kubectl's) and checked against the Kubernetes schemas offline.

Kubernetes' own kinds go through kubernetes-validate, strictly (a field Kubernetes does not know is an error);
KEDA's ScaledObject and the Prometheus operator's ServiceMonitor and PrometheusRule through the CRD schemas kept
in deploy/kubernetes/schemas/ (generate.py says how they were made).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from comfy_platform.settings import Settings
from workflows.shared import IO_TASK_QUEUE

ROOT = Path(__file__).resolve().parents[2]
KUBERNETES = ROOT / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31"
CUSTOM_SCHEMAS = {("keda.sh/v1alpha1", "ScaledObject"): "scaledobject-keda-v1alpha1.json",
                  ("monitoring.coreos.com/v1", "ServiceMonitor"): "servicemonitor-monitoring-v1.json",
                  ("monitoring.coreos.com/v1", "PrometheusRule"): "prometheusrule-monitoring-v1.json"}


def render(overlay: str) -> list[dict]:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl (with its built-in Kustomize) is part of the machine image; install kubectl"
    out = subprocess.run([kubectl, "kustomize", str(KUBERNETES / overlay)], check=True, capture_output=True,
                         text=True).stdout
    return [doc for doc in yaml.safe_load_all(out) if doc]


@pytest.fixture(scope="module", params=["base", "overlays/production"])
def rendered(request) -> list[dict]:
    return render(request.param)


@pytest.fixture(scope="module")
def production() -> list[dict]:
    return render("overlays/production")


def of_kind(docs: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in docs if doc["kind"] == kind}


def test_every_resource_fits_its_schema(rendered):
    for doc in rendered:
        custom = CUSTOM_SCHEMAS.get((doc["apiVersion"], doc["kind"]))
        if custom is None:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        else:
            schema = json.loads((KUBERNETES / "schemas" / custom).read_text())
            jsonschema.Draft202012Validator(schema).validate(doc)


def test_a_field_that_does_not_exist_is_caught(rendered):
    """The checks above can fail: a misspelt field in a Deployment and in a ScaledObject is refused."""
    deployment = next(d for d in rendered if d["kind"] == "Deployment")
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({**deployment, "spec": {**deployment["spec"], "replica": 2}},
                                     KUBERNETES_VERSION, strict=True)
    scaled = next(d for d in rendered if d["kind"] == "ScaledObject")
    schema = json.loads((KUBERNETES / "schemas" / CUSTOM_SCHEMAS[("keda.sh/v1alpha1", "ScaledObject")]).read_text())
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({**scaled, "spec": {**scaled["spec"], "minReplicas": 1}})


def test_workers_scale_on_their_temporal_task_queue_backlog(rendered):
    config = of_kind(rendered, "ConfigMap")["comfy-platform"]["data"]
    queues = {}
    for scaled in of_kind(rendered, "ScaledObject").values():
        (trigger,) = scaled["spec"]["triggers"]
        assert trigger["type"] == "temporal"
        metadata = trigger["metadata"]
        assert metadata["endpoint"] == config["TEMPORAL_ADDRESS"] and metadata["namespace"] == config["TEMPORAL_NAMESPACE"]
        assert int(metadata["targetQueueSize"]) > 0
        queues[scaled["spec"]["scaleTargetRef"]["name"]] = (metadata["taskQueue"], metadata["queueTypes"])
    assert queues == {"comfy-worker-io": (IO_TASK_QUEUE, "workflow,activity"),
                      "comfy-worker-comfy": (config["COMFY_TASK_QUEUE"], "activity")}
    deployments = of_kind(rendered, "Deployment")
    assert set(queues) <= set(deployments)


def test_every_setting_the_manifests_give_is_a_settings_field(rendered):
    names = set(of_kind(rendered, "ConfigMap")["comfy-platform"]["data"])
    secret = of_kind(rendered, "Secret").get("comfy-platform-secrets")
    names |= set((secret or {}).get("stringData", {}))
    for deployment in of_kind(rendered, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            names |= {env["name"] for env in container.get("env", [])}
    assert names - set(Settings.model_fields) == set()


def test_the_api_is_probed_on_health_and_ready_and_scaled_by_cpu(rendered):
    (container,) = of_kind(rendered, "Deployment")["comfy-api"]["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert container["startupProbe"]["httpGet"]["path"] == "/api/health"
    hpa = of_kind(rendered, "HorizontalPodAutoscaler")["comfy-api"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "comfy-api" and hpa["spec"]["minReplicas"] >= 2


def test_the_ingress_publishes_the_api_but_not_metrics(rendered):
    paths = [p["path"] for rule in of_kind(rendered, "Ingress")["comfy-api"]["spec"]["rules"]
             for p in rule["http"]["paths"]]
    assert "/api" in paths and "/creator" in paths and "/webhooks" in paths
    assert not any(p in ("/", "/metrics") for p in paths)


def test_prometheus_scrapes_the_api_and_every_worker(rendered):
    services = of_kind(rendered, "Service")
    monitors = of_kind(rendered, "ServiceMonitor").values()
    for name in ("comfy-api", "comfy-worker-io", "comfy-worker-comfy"):
        labels = services[name]["metadata"]["labels"]
        assert any(all(labels.get(k) == v for k, v in m["spec"]["selector"]["matchLabels"].items())
                   for m in monitors), name


def test_the_prometheus_rule_carries_the_alerts_promtool_checks(rendered):
    rule = of_kind(rendered, "PrometheusRule")["comfy-platform"]
    alerts = yaml.safe_load((ROOT / "deploy" / "prometheus" / "alerts.yml").read_text())
    assert rule["spec"]["groups"] == alerts["groups"]


def test_migrations_run_as_a_job(rendered):
    (container,) = of_kind(rendered, "Job")["comfy-platform-migrate"]["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["comfy-platform", "migrate"]


def test_production_pins_its_image_and_ships_no_placeholder_secret(production):
    assert "comfy-platform-secrets" not in of_kind(production, "Secret")
    assert "change-me" not in yaml.safe_dump_all(production)
    for deployment in of_kind(production, "Deployment").values():
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert container["image"] == "registry.example.com/comfy-platform:0.1.0"
    assert {d["metadata"].get("namespace") for d in production if d["kind"] != "Namespace"} == {"comfy-platform"}


def test_temporal_runs_on_postgresql_with_its_web_ui_behind_sign_in():
    values = yaml.safe_load((KUBERNETES / "temporal" / "values.yaml").read_text())
    stores = values["server"]["config"]["persistence"]["datastores"]
    assert {store["sql"]["pluginName"] for store in stores.values()} == {"postgres12"}
    assert not any(values[name]["enabled"] for name in ("cassandra", "mysql", "elasticsearch", "postgresql"))
    web = {env["name"]: env.get("value") for env in values["web"]["additionalEnv"]}
    assert web["TEMPORAL_AUTH_ENABLED"] == "true" and web["TEMPORAL_CODEC_PASS_ACCESS_TOKEN"] == "true"
    assert values["web"]["service"]["type"] == "ClusterIP"
