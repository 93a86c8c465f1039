#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Offline checks of deploy/ and policies/ (run by `make test`):

1. deploy/crds/tracingpolicies.yaml is what deploy/crds/generate.py writes;
2. every manifest in deploy/ (and deploy/crds/) is valid against the Kubernetes schemas of
   KUBERNETES_VERSION (kubernetes-validate, strict: unknown fields are errors);
3. every policy in policies/ and deploy/examples/ is valid against the CRD's openAPIV3Schema (jsonschema), and has no
   field the API server would prune (the agent would never see it).

Needs the PyPI package kubernetes-validate (which brings jsonschema and PyYAML)."""
import glob
import os
import subprocess
import sys

import jsonschema
import kubernetes_validate
import yaml

KUBERNETES_VERSION = "1.32"
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
errors = []


def documents(path):
    with open(path) as f:
        for i, doc in enumerate(yaml.safe_load_all(f)):
            if doc is not None:
                yield i, doc


def to_jsonschema(node):
    """openAPIV3Schema -> JSON Schema: int-or-string becomes a union."""
    if isinstance(node, dict):
        out = {k: to_jsonschema(v) for k, v in node.items() if not k.startswith("x-kubernetes-")}
        if node.get("x-kubernetes-int-or-string"):
            out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
        return out
    if isinstance(node, list):
        return [to_jsonschema(v) for v in node]
    return node


def pruned(instance, schema, where, out):
    """Fields the API server drops: object keys not in `properties` (structural pruning)."""
    if isinstance(instance, dict) and schema.get("type") == "object":
        if schema.get("x-kubernetes-preserve-unknown-fields"):
            return
        props = schema.get("properties")
        extra = schema.get("additionalProperties")
        for key, value in instance.items():
            if props is not None and key in props:
                pruned(value, props[key], f"{where}.{key}", out)
            elif isinstance(extra, dict):
                pruned(value, extra, f"{where}.{key}", out)
            elif props is not None:
                out.append(f"{where}.{key}: not in the CRD schema (the API server would drop it)")
    elif isinstance(instance, list) and schema.get("type") == "array":
        for i, item in enumerate(instance):
            pruned(item, schema.get("items", {}), f"{where}[{i}]", out)


def policy_errors(doc, schema):
    out = [f"{'.'.join(map(str, e.path))}: {e.message}" for e in jsonschema.Draft7Validator(to_jsonschema(schema)).iter_errors(doc)]
    pruned(doc.get("spec", {}), schema["properties"]["spec"], "spec", out)
    return out


def self_test(crd_schemas):
    """The checks must reject what they are for; a validator that passes everything is no test."""
    bad_policy = {"apiVersion": "vigil.dev/v1alpha1", "kind": "TracingPolicy", "metadata": {"name": "x"},
                  "spec": {"kprobes": [{"call": "sys_openat", "selectors": [{"matchArgz": []}]}]}}
    if not policy_errors(bad_policy, crd_schemas["TracingPolicy"]):
        errors.append("self-test: a policy with an unknown selector key passed")
    bad_type = {"apiVersion": "vigil.dev/v1alpha1", "kind": "TracingPolicy", "metadata": {"name": "x"},
                "spec": {"tracepoints": [{"subsystem": "syscalls", "event": "e", "args": [{"index": "four"}]}]}}
    if not policy_errors(bad_type, crd_schemas["TracingPolicy"]):
        errors.append("self-test: a policy with a string index passed")
    bad_pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x"},
               "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "Always"}]}}
    try:
        kubernetes_validate.validate(bad_pod, KUBERNETES_VERSION, strict=True)
        errors.append("self-test: a Pod with an unknown field passed")
    except kubernetes_validate.ValidationError:
        pass


def main():
    if subprocess.run([sys.executable, os.path.join(ROOT, "deploy/crds/generate.py"), "--check"]).returncode != 0:
        errors.append("deploy/crds/tracingpolicies.yaml is stale: run deploy/crds/generate.py")

    crd_schemas = {}
    manifests = sorted(glob.glob(os.path.join(ROOT, "deploy/*.yaml")) + glob.glob(os.path.join(ROOT, "deploy/crds/*.yaml")))
    for path in manifests:
        rel = os.path.relpath(path, ROOT)
        for i, doc in documents(path):
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{rel}: document {i + 1} ({doc.get('kind')}): {'.'.join(map(str, e.path))}: {e.message}")
            except Exception as e:  # unknown kind, schema not found
                errors.append(f"{rel}: document {i + 1} ({doc.get('kind')}): {e}")
            if doc.get("kind") == "CustomResourceDefinition":
                names = doc["spec"]["names"]
                schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                crd_schemas[names["kind"]] = schema
        print(f"ok  {rel}")

    for kind in ("TracingPolicy", "TracingPolicyNamespaced"):
        if kind not in crd_schemas:
            errors.append(f"no CRD for {kind} in deploy/")
    # policies/ (what the README's run command loads) and deploy/examples/ (pod-scoped
    # policies, which need the Kubernetes API and so stay out of policies/).
    policies = sorted(
        glob.glob(os.path.join(ROOT, "policies/*.yaml")) + glob.glob(os.path.join(ROOT, "policies/*.yml"))
        + glob.glob(os.path.join(ROOT, "deploy/examples/*.yaml")))
    for path in policies:
        rel = os.path.relpath(path, ROOT)
        for i, doc in documents(path):
            where = f"{rel}: document {i + 1}"
            if doc.get("apiVersion") not in ("cilium.io/v1alpha1", "vigil.dev/v1alpha1"):
                errors.append(f"{where}: apiVersion {doc.get('apiVersion')!r} is neither cilium.io/v1alpha1 nor vigil.dev/v1alpha1")
                continue
            schema = crd_schemas.get(doc.get("kind"))
            if schema is None:
                errors.append(f"{where}: kind {doc.get('kind')!r} has no CRD")
                continue
            errors.extend(f"{where}: {e}" for e in policy_errors(doc, schema))
        print(f"ok  {rel}")
    if "TracingPolicy" in crd_schemas:
        self_test(crd_schemas)

    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
