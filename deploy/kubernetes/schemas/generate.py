"""Writes the JSON schemas of the custom resources deploy/kubernetes uses, for tests/deploy/test_kubernetes.py.

kubernetes-validate knows only Kubernetes' own kinds; KEDA's ScaledObject and the Prometheus operator's
ServiceMonitor and PrometheusRule are checked against these files. They are made from cloudcoil's models, which
are generated from those projects' CRDs (KEDA 2.16, prometheus-operator 0.80), and made strict as
kubernetes-validate's own `--strict` schemas are: a field the CRD does not have is an error. Run it again to
follow newer CRDs (in a venv of its own, as the platform does not depend on cloudcoil):

    pip install cloudcoil-models-keda==2.16.1.0 cloudcoil-models-prometheus-operator==0.80.1.0
    python deploy/kubernetes/schemas/generate.py
"""

from __future__ import annotations

import json
from pathlib import Path

from cloudcoil.models.keda.v1alpha1 import ScaledObject
from cloudcoil.models.prometheus_operator.v1 import PrometheusRule, ServiceMonitor

HERE = Path(__file__).parent
KINDS = {"scaledobject-keda-v1alpha1": ScaledObject, "servicemonitor-monitoring-v1": ServiceMonitor,
         "prometheusrule-monitoring-v1": PrometheusRule}


def strict(node: object) -> object:
    """Every object schema with named properties refuses others; `status` (the controller's) is dropped."""
    if isinstance(node, dict):
        node = {key: strict(value) for key, value in node.items()}
        if "properties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
            node["properties"].pop("status", None)
        return node
    if isinstance(node, list):
        return [strict(item) for item in node]
    return node


for name, model in KINDS.items():
    schema = strict(model.model_json_schema(by_alias=True))
    (HERE / f"{name}.json").write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
