#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Writes deploy/crds/tracingpolicies.yaml: the TracingPolicy and TracingPolicyNamespaced CRDs of
Vigil's group (vigil.dev/v1alpha1). The schema lists the keys the agent's parser accepts
(Sources/TracingPolicy/Decode*.swift); keep the two in step. `scripts/validate-deploy.py`
fails when this file's output and the committed YAML differ."""
import json
import os
import sys

GROUP = "vigil.dev"
VERSION = "v1alpha1"


def obj(props=None, required=None, preserve=False, desc=None):
    s = {"type": "object"}
    if props is not None:
        s["properties"] = props
    if required:
        s["required"] = required
    if preserve:
        s["x-kubernetes-preserve-unknown-fields"] = True
    if desc:
        s["description"] = desc
    return s


def arr(items, max_items=None, desc=None):
    s = {"type": "array", "items": items}
    if max_items:
        s["maxItems"] = max_items
    if desc:
        s["description"] = desc
    return s


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
INT_OR_STR = {"x-kubernetes-int-or-string": True}
STRINGS = arr(STR)

label_selector = obj({
    "matchLabels": {"type": "object", "additionalProperties": STR},
    "matchExpressions": arr(obj({
        "key": STR,
        "operator": {"type": "string", "enum": ["In", "NotIn", "Exists", "DoesNotExist"]},
        "values": STRINGS,
    }, required=["key", "operator"])),
}, desc="Kubernetes label selector (matchLabels, matchExpressions).")

arg = obj({
    "index": INT, "type": STR, "label": STR, "sizeArgIndex": INT, "returnCopy": BOOL, "maxData": BOOL,
    "resolve": STR, "btfType": STR, "btfTypeModule": STR, "source": STR,
}, required=["index"])

match_arg = obj({
    "index": INT, "args": arr(INT), "operator": STR, "values": STRINGS,
}, required=["operator"])

action = obj({k: t for k, t in [
    ("action", STR), ("argError", INT), ("argSig", INT), ("argFqdn", STR), ("argUrl", STR), ("argSock", INT),
    ("argFd", INT), ("argName", INT), ("argIndex", INT), ("argValue", INT_OR_STR), ("rateLimit", STR),
    ("rateLimitScope", STR), ("kernelStackTrace", BOOL), ("userStackTrace", BOOL), ("imaHash", BOOL),
    ("argRegs", STRINGS), ("argNewSymbol", STR), ("argNewAddr", INT_OR_STR), ("argNewOffset", INT_OR_STR),
]}, required=["action"])

workload = obj({"hostSelector": label_selector, "podSelector": label_selector, "containerSelector": label_selector})

selector = obj({
    "matchArgs": arr(match_arg), "matchData": arr(match_arg), "matchReturnArgs": arr(match_arg),
    "matchPIDs": arr(obj({"operator": STR, "values": arr(INT), "followForks": BOOL, "isNamespacePID": BOOL},
                         required=["operator", "values"])),
    "matchBinaries": arr(obj({"operator": STR, "values": STRINGS, "followChildren": BOOL}, required=["operator", "values"])),
    "matchParentBinaries": arr(obj({"operator": STR, "values": STRINGS, "followChildren": BOOL}, required=["operator", "values"])),
    "matchNamespaces": arr(obj({"namespace": STR, "operator": STR, "values": STRINGS}, required=["namespace", "operator", "values"])),
    "matchNamespaceChanges": arr(obj({"operator": STR, "values": STRINGS}, required=["operator", "values"])),
    "matchCapabilities": arr(obj({"type": STR, "operator": STR, "isNamespaceCapability": BOOL, "values": STRINGS},
                                 required=["operator", "values"])),
    "matchCapabilityChanges": arr(obj({"type": STR, "operator": STR, "isNamespaceCapability": BOOL, "values": STRINGS},
                                      required=["operator", "values"])),
    "matchWorkloads": arr(workload),
    "matchActions": arr(action, max_items=3), "matchReturnActions": arr(action, max_items=3),
    "macros": STRINGS, "label": STR,
})

common_hook = {"args": arr(arg), "selectors": arr(selector, max_items=5), "message": STR, "tags": arr(STR, max_items=16)}

kprobe = obj(dict(common_hook, **{
    "call": STR, "syscall": BOOL, "return": BOOL, "returnArg": arg, "returnArgAction": STR, "data": arr(arg),
    "ignore": obj({"callNotFound": BOOL}),
}), required=["call"])
tracepoint = obj(dict(common_hook, **{"subsystem": STR, "event": STR, "raw": BOOL}), required=["subsystem", "event"])
lsmhook = obj(dict(common_hook, **{"hook": STR}), required=["hook"])
uprobe = obj(dict(common_hook, **{
    "path": STR, "symbols": STRINGS, "offsets": arr(INT), "addrs": arr(INT), "refCtrOffsets": arr(INT), "btfPath": STR,
    "data": arr(arg), "return": BOOL, "returnArg": arg, "binaryDigests": STRINGS, "ignore": obj(preserve=True),
    "resolvePathInContainer": BOOL,
}), required=["path"])
usdt = obj(dict(common_hook, **{"path": STR, "provider": STR, "name": STR, "btfPath": STR}), required=["path", "provider", "name"])

spec = obj({
    "kprobes": arr(kprobe), "tracepoints": arr(tracepoint), "lsmhooks": arr(lsmhook), "uprobes": arr(uprobe),
    "usdts": arr(usdt), "fentries": arr(obj(preserve=True)),
    "lists": arr(obj({"name": STR, "type": STR, "values": STRINGS, "pattern": STR, "validated": BOOL}, required=["name"])),
    "enforcers": arr(obj({"calls": STRINGS}, required=["calls"])),
    "options": arr(obj({"name": STR, "value": STR}, required=["name"])),
    "selectorsMacros": {"type": "object", "additionalProperties": selector},
    "podSelector": label_selector, "containerSelector": label_selector, "hostSelector": label_selector,
    "nodeSelector": label_selector, "loader": BOOL,
}, desc="Tetragon's TracingPolicy spec, as Vigil accepts it (see docs/policies.md).")


def crd(kind, plural, scope):
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": f"{plural}.{GROUP}", "labels": {"app.kubernetes.io/name": "vigil"}},
        "spec": {
            "group": GROUP,
            "names": {"kind": kind, "listKind": f"{kind}List", "plural": plural, "singular": kind.lower(),
                      "shortNames": ["vtp" if scope == "Cluster" else "vtpn"]},
            "scope": scope,
            "versions": [{
                "name": VERSION, "served": True, "storage": True,
                "schema": {"openAPIV3Schema": obj({"apiVersion": STR, "kind": STR, "metadata": {"type": "object"}, "spec": spec},
                                                  required=["spec"])},
            }],
        },
    }


def render():
    # JSON is YAML: one document per CRD, stable key order, readable diffs.
    docs = [crd("TracingPolicy", "tracingpolicies", "Cluster"),
            crd("TracingPolicyNamespaced", "tracingpoliciesnamespaced", "Namespaced")]
    header = ("# SPDX-License-Identifier: Apache-2.0\n"
              "# Generated by deploy/crds/generate.py; do not edit by hand.\n")
    return header + "---\n".join(json.dumps(d, indent=2) + "\n" for d in docs)


if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "tracingpolicies.yaml")
    if len(sys.argv) > 1 and sys.argv[1] == "--check":
        with open(out) as f:
            sys.exit(0 if f.read() == render() else 1)
    with open(out, "w") as f:
        f.write(render())
