#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Offline checks of deploy/ and policies/ (run by `make test`):

1. deploy/crds/tracingpolicies.yaml is what deploy/crds/generate.py writes;
2. deploy/ (the kustomize base, installed by `kubectl apply -k deploy/`) and each overlay in
   deploy/overlays/ render with `kubectl kustomize`, and every rendered object is valid against
   the Kubernetes schemas of KUBERNETES_VERSION (kubernetes-validate, strict: unknown fields are
   errors); each render has what its overlay promises (probes, flags, RBAC);
3. every policy in policies/, policies/library/ and deploy/examples/ is valid against the CRD's openAPIV3Schema
   (jsonschema), and has no field the API server would prune (the agent would never see it);
4. every policy of the detection library (policies/library/) is named after its file, gives every hook a
   message and a MITRE ATT&CK technique or tactic id in its tags, and ships in monitor mode: its actions
   are Post or NoPost, every posting selector taking its action from one line `- action: &action Post`,
   so that enforcing is changing that line (docs/detections.md).

KUBECTL names the kubectl binaries to render with, space-separated (default: kubectl); with
more than one (Debian's 1.20 and a newer one) their renders must be the same.
Needs the PyPI package kubernetes-validate (which brings jsonschema and PyYAML)."""
import glob
import os
import re
import subprocess
import sys
import tempfile

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


MITRE_ID = re.compile(r"^(T\d{4}(\.\d{3})?|TA\d{4})$")


def library_errors(doc, filename):
    """The detection library's conventions (docs/detections.md): what a SOC analyst and an
    operator rely on, checked here so that a new library policy cannot drop one."""
    out = []
    name = doc.get("metadata", {}).get("name")
    if f"{name}.yaml" != filename:
        out.append(f"metadata.name {name!r} is not the file's name ({filename})")
    spec = doc.get("spec", {})
    hooks = [(kind, i, h) for kind in ("kprobes", "tracepoints", "lsmhooks") for i, h in enumerate(spec.get(kind) or [])]
    if not hooks:
        out.append("no hook")
    for kind, i, hook in hooks:
        if not hook.get("message"):
            out.append(f"spec.{kind}[{i}]: no message")
        if not any(MITRE_ID.match(str(t)) for t in hook.get("tags") or []):
            out.append(f"spec.{kind}[{i}].tags: no MITRE ATT&CK id (T1234, T1234.001 or TA0001)")
        for j, selector in enumerate(hook.get("selectors") or []):
            actions = [a.get("action") for a in selector.get("matchActions") or []]
            if not actions or any(a not in ("Post", "NoPost") for a in actions):
                out.append(f"spec.{kind}[{i}].selectors[{j}].matchActions: {actions}: the library ships Post (monitor) only")
    for option in spec.get("options") or []:
        if option.get("name") == "policy-mode":
            out.append("spec.options: policy-mode: the library enforces by its action line, not by a mode")
    return out


def one_action_line(path):
    """Enforcing a library policy is one changed line: the anchor `- action: &action Post`,
    which every other posting selector takes by its alias `*action` (the YAML loader resolves
    aliases, so the check reads the text)."""
    with open(path) as f:
        body = [line.strip() for line in f if not line.lstrip().startswith("#")]
    anchors = [line for line in body if line == "- action: &action Post"]
    literal = [line for line in body if line.startswith("- action:") and line not in (
        "- action: &action Post", "- action: *action", "- action: NoPost")]
    out = []
    if len(anchors) != 1:
        out.append(f"{len(anchors)} lines `- action: &action Post`; the library has exactly one (enforcing is changing it)")
    if literal:
        out.append(f"actions not taken from the `&action` line: {literal}")
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


# The default install and the overlays, each rendered and validated.
KUSTOMIZATIONS = ["deploy", "deploy/overlays/host-only", "deploy/overlays/monitor-only", "deploy/overlays/detection-library"]
HEALTH_PORT = 6789
FENCE = "/sys/fs/cgroup/vigil-monitor-only"
POLICY_DIR = "/etc/vigil/tracing-policies"


def render(kubectl, directory):
    """`kubectl kustomize DIR` parsed, or the error text."""
    try:
        out = subprocess.run([kubectl, "kustomize", directory], capture_output=True, text=True, timeout=60)
    except OSError as e:
        return f"{e} (make test-deploy installs kubectl: scripts/install-deps.sh kubernetes-client)"
    if out.returncode != 0:
        return out.stderr.strip() or f"exit {out.returncode}"
    return [d for d in yaml.safe_load_all(out.stdout) if d is not None]


def promises(rel, docs):
    """What each kustomization says it does, checked on its render."""
    out = []
    kinds = sorted(str(d.get("kind")) for d in docs)
    daemonsets = [d for d in docs if d.get("kind") == "DaemonSet"]
    if len(daemonsets) != 1:
        return [f"expected one DaemonSet, rendered {kinds}"]
    pod = daemonsets[0]["spec"]["template"]["spec"]
    agent = pod["containers"][0]
    args = agent.get("args", [])
    if "None" in kinds:
        out.append(f"an object without a kind (an empty document?): {kinds}")
    for kind in ("Namespace", "ServiceAccount", "ConfigMap", "CustomResourceDefinition"):
        if kind not in kinds:
            out.append(f"no {kind} in the render")
    if "vigil-policies" not in [d["metadata"]["name"] for d in docs if d.get("kind") == "ConfigMap"]:
        out.append("no vigil-policies ConfigMap")
    if any(d["metadata"].get("namespace") not in (None, "vigil") for d in docs):
        out.append("an object outside the vigil namespace")
    # Health: the flag, the port and both probes on it.
    if f"--health-server-address=:{HEALTH_PORT}" not in args:
        out.append(f"the agent has no --health-server-address=:{HEALTH_PORT}")
    ports = {p.get("name"): p.get("containerPort") for p in agent.get("ports", [])}
    if ports.get("health") != HEALTH_PORT:
        out.append(f"no container port 'health' = {HEALTH_PORT}")
    for probe, path in (("livenessProbe", "/livez"), ("readinessProbe", "/readyz")):
        get = agent.get(probe, {}).get("httpGet", {})
        if get.get("path") != path or get.get("port") not in ("health", HEALTH_PORT):
            out.append(f"{probe} is not httpGet {path} on the health port: {agent.get(probe)}")
    api = "--enable-k8s-api" in args
    if rel.endswith("host-only"):
        if api or any(a.startswith("--pod-wait-timeout") for a in args) or pod.get("automountServiceAccountToken") is not False:
            out.append("host-only still reaches the API server (flag, pod wait or a mounted token)")
    elif not (api and "ClusterRole" in kinds and "ClusterRoleBinding" in kinds):
        out.append("--enable-k8s-api and its ClusterRole(Binding) expected")
    fenced = [a for a in args if a.startswith("--enforcement-cgroup")]
    if rel.endswith("monitor-only"):
        made = [c for c in pod.get("initContainers", []) if FENCE in c.get("command", [])]
        if fenced != [f"--enforcement-cgroup={FENCE}"] or not made:
            out.append(f"monitor-only: expected --enforcement-cgroup={FENCE} and an init container making it, got {fenced}")
    elif fenced:
        out.append(f"enforcement fenced outside monitor-only: {fenced}")
    # The ConfigMap over the image's policy directory (library hidden), or one level below it in
    # detection-library (the image's library/ loads beside it).
    mounts = {m.get("name"): m.get("mountPath") for m in agent.get("volumeMounts", [])}
    want = POLICY_DIR + ("/site" if rel.endswith("detection-library") else "")
    if f"--tracing-policy-dir={POLICY_DIR}" not in args or mounts.get("policies") != want:
        out.append(f"expected --tracing-policy-dir={POLICY_DIR} and the policies ConfigMap at {want}, got {mounts.get('policies')}")
    return out


def unlisted_manifests():
    """YAML files of deploy/base, deploy/crds and the overlays that no kustomization lists."""
    listed = set()
    for kustomization in glob.glob(os.path.join(ROOT, "deploy/**/kustomization.yaml"), recursive=True):
        here = os.path.dirname(kustomization)
        listed.add(kustomization)
        with open(kustomization) as f:
            k = yaml.safe_load(f)
        for key in ("resources", "patchesStrategicMerge"):
            listed.update(os.path.normpath(os.path.join(here, r)) for r in k.get(key, []))
        listed.update(os.path.normpath(os.path.join(here, p["path"])) for p in k.get("patchesJson6902", []))
    files = [p for d in ("base", "crds", "overlays") for p in glob.glob(os.path.join(ROOT, "deploy", d, "**/*.yaml"), recursive=True)]
    return sorted(os.path.relpath(p, ROOT) for p in files if os.path.normpath(p) not in listed)


def render_self_test(kubectl):
    """A patch whose `test` op fails must fail the render (host-only's guard against moved args)."""
    with tempfile.TemporaryDirectory() as d:
        with open(os.path.join(d, "ds.yaml"), "w") as f:
            yaml.safe_dump({"apiVersion": "apps/v1", "kind": "DaemonSet", "metadata": {"name": "x"},
                            "spec": {"template": {"spec": {"containers": [{"name": "c", "args": ["--a"]}]}}}}, f)
        with open(os.path.join(d, "patch.yaml"), "w") as f:
            yaml.safe_dump([{"op": "test", "path": "/spec/template/spec/containers/0/args/0", "value": "--b"}], f)
        with open(os.path.join(d, "kustomization.yaml"), "w") as f:
            yaml.safe_dump({"resources": ["ds.yaml"], "patchesJson6902": [
                {"target": {"group": "apps", "version": "v1", "kind": "DaemonSet", "name": "x"}, "path": "patch.yaml"}]}, f)
        if not isinstance(render(kubectl, d), str):
            errors.append(f"self-test: {kubectl} kustomize rendered a patch whose test op fails")


def main():
    if subprocess.run([sys.executable, os.path.join(ROOT, "deploy/crds/generate.py"), "--check"]).returncode != 0:
        errors.append("deploy/crds/tracingpolicies.yaml is stale: run deploy/crds/generate.py")

    crd_schemas = {}
    kubectls = os.environ.get("KUBECTL", "kubectl").split()
    for rel in KUSTOMIZATIONS:
        docs = None
        for kubectl in kubectls:
            rendered = render(kubectl, os.path.join(ROOT, rel))
            if isinstance(rendered, str):
                errors.append(f"{rel}: {kubectl} kustomize failed: {rendered}")
                continue
            if docs is not None and rendered != docs:
                errors.append(f"{rel}: {kubectl} kustomize renders differently from {kubectls[0]}")
            docs = docs if docs is not None else rendered
        if docs is None:
            continue
        for i, doc in enumerate(docs):
            where = f"{rel}: object {i + 1} ({doc.get('kind')} {doc.get('metadata', {}).get('name')})"
            try:
                kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
            except kubernetes_validate.ValidationError as e:
                errors.append(f"{where}: {'.'.join(map(str, e.path))}: {e.message}")
            except Exception as e:  # unknown kind, schema not found
                errors.append(f"{where}: {e}")
            if rel == "deploy" and doc.get("kind") == "CustomResourceDefinition":
                names = doc["spec"]["names"]
                schema = doc["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
                crd_schemas[names["kind"]] = schema
        errors.extend(f"{rel}: {e}" for e in promises(rel, docs))
        print(f"ok  {rel} ({len(docs)} objects, rendered by {', '.join(kubectls)})")
    unlisted = unlisted_manifests()
    errors.extend(f"{path}: in deploy/ but in no kustomization (kubectl apply -k would not install it)" for path in unlisted)

    for kind in ("TracingPolicy", "TracingPolicyNamespaced"):
        if kind not in crd_schemas:
            errors.append(f"no CRD for {kind} in deploy/")
    # policies/ (what the README's run command loads) and deploy/examples/ (pod-scoped
    # policies, which need the Kubernetes API and so stay out of policies/).
    policies = sorted(
        glob.glob(os.path.join(ROOT, "policies/*.yaml")) + glob.glob(os.path.join(ROOT, "policies/*.yml"))
        + glob.glob(os.path.join(ROOT, "policies/library/*.yaml"))
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
            if rel.startswith("policies/library/"):
                errors.extend(f"{where}: {e}" for e in library_errors(doc, os.path.basename(path)))
        if rel.startswith("policies/library/"):
            errors.extend(f"{rel}: {e}" for e in one_action_line(path))
        print(f"ok  {rel}")
    if "TracingPolicy" in crd_schemas:
        self_test(crd_schemas)
    enforcing = {"apiVersion": "cilium.io/v1alpha1", "kind": "TracingPolicy", "metadata": {"name": "x"},
                 "spec": {"kprobes": [{"call": "sys_ptrace", "message": "m", "tags": ["T1055.008"],
                                       "selectors": [{"matchActions": [{"action": "Sigkill"}]}]}]}}
    if not library_errors(enforcing, "x.yaml"):
        errors.append("self-test: a library policy that kills passed")
    untagged = {"apiVersion": "cilium.io/v1alpha1", "kind": "TracingPolicy", "metadata": {"name": "x"},
                "spec": {"kprobes": [{"call": "sys_ptrace", "message": "m", "tags": ["observability"]}]}}
    if not library_errors(untagged, "x.yaml"):
        errors.append("self-test: a library policy without a MITRE id passed")
    for kubectl in os.environ.get("KUBECTL", "kubectl").split():
        render_self_test(kubectl)

    if errors:
        print("\n".join(errors), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
