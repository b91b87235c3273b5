#!/usr/bin/env bash
# Checks the Kubernetes manifests in infra/k8s without a cluster.
#
#   scripts/check-k8s.sh
#
# For each overlay (dev, prod, and prod with every optional component of
# infra/k8s/components enabled): render it with `kubectl kustomize`, validate every
# rendered object against the Kubernetes OpenAPI schemas with
# `kubernetes-validate --strict` (unknown fields are errors; a kind without a schema is
# an error too), then check what a schema cannot: Services, HPAs, PDBs and Ingresses
# point at things that exist, every container is locked down and has resources and
# probes, the pods outlive their drain, the NetworkPolicies deny by default and name
# ports that exist, gateway, links and auth share one SECRET_KEY, and prod renders no
# Secret.
# yamllint (relaxed, lines up to 100, warnings fail) runs over the sources first when it
# is installed.
#
# Needs kubectl (with its built-in kustomize, v5) and kubernetes-validate (pip), plus
# python3 with PyYAML. K8S_VERSIONS overrides the Kubernetes versions validated against.
set -euo pipefail
cd "$(dirname "$0")/.."

# The oldest version supported (the preStop `sleep` action needs 1.30) and a recent one.
K8S_VERSIONS=${K8S_VERSIONS:-"1.30.0 1.34.0"}
K8S_DIR=infra/k8s

if ! command -v kubectl >/dev/null 2>&1; then
  cat >&2 <<'EOF'
kubectl not found. Install it (kustomize is built in):
  https://kubernetes.io/docs/tasks/tools/#kubectl
  e.g. curl -LO "https://dl.k8s.io/release/$(curl -Ls https://dl.k8s.io/release/stable.txt)/bin/linux/amd64/kubectl"
       && sudo install -m 0755 kubectl /usr/local/bin/kubectl
EOF
  exit 1
fi
if ! command -v kubernetes-validate >/dev/null 2>&1; then
  echo "kubernetes-validate not found. Install it: pip install kubernetes-validate" >&2
  exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

if command -v yamllint >/dev/null 2>&1; then
  echo "--- yamllint (relaxed, lines up to 100) $K8S_DIR" >&2
  yamllint --strict -d "{extends: relaxed, rules: {line-length: {max: 100}}}" "$K8S_DIR"
else
  echo "--- yamllint not installed; skipping the lint of the sources" >&2
fi

# A copy of the tree whose prod overlay enables every optional component, so the
# commented-out `components:` in overlays/prod cannot rot.
cp -r "$K8S_DIR" "$WORK/tree"
{
  echo "components:"
  for c in "$K8S_DIR"/components/*/; do
    echo "  - ../../components/$(basename "$c")"
  done
} >>"$WORK/tree/overlays/prod/kustomization.yaml"

check() {
  local label=$1 dir=$2 out="$WORK/$1.yaml" log="$WORK/$1.log" v
  if ! kubectl kustomize "$dir" >"$out"; then
    echo "FAIL $label: kubectl kustomize $dir" >&2
    exit 1
  fi
  for v in $K8S_VERSIONS; do
    # Exit status 1 on any invalid object; a missing schema is only a WARN, so fail on
    # that too.
    if ! kubernetes-validate --strict --quiet -k "$v" "$out" >"$log" 2>&1 \
      || grep -q . "$log"; then
      echo "FAIL $label: kubernetes-validate --strict -k $v" >&2
      cat "$log" >&2
      exit 1
    fi
  done
  python3 - "$label" "$out" "$K8S_VERSIONS" <<'EOF'
import sys, yaml

label, path, versions = sys.argv[1], sys.argv[2], sys.argv[3]
docs = [d for d in yaml.safe_load_all(open(path)) if d]
problems = []
by_kind = {}
for d in docs:
    by_kind.setdefault(d["kind"], {})[d["metadata"]["name"]] = d
    if d["kind"] != "Namespace" and d["metadata"].get("namespace") != "hop":
        problems.append(f'{d["kind"]}/{d["metadata"]["name"]}: not in namespace hop')

def kind(k):
    return by_kind.get(k, {})

def matches(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())

def pod_templates():
    for k in ("Deployment", "Job"):
        for name, d in kind(k).items():
            yield k, name, d["spec"]["template"]

# hop's own workloads (the base's Deployments) follow hop's rules: probes on /health/*,
# a drain, HOST and INSTANCE_ID, an HPA and a PDB. Helpers from components (the blackbox
# exporter) get the same hardening, resources and probes, not hop's conventions.
def is_hop(d):
    return d["spec"]["template"]["metadata"]["labels"].get("app.kubernetes.io/name") == "hop"

configmaps = kind("ConfigMap")
secrets = kind("Secret")

for k, name, tpl in pod_templates():
    spec, where = tpl["spec"], f"{k}/{name}"
    psc = spec.get("securityContext", {})
    if not (psc.get("runAsNonRoot") and psc.get("runAsUser") == 10001
            and psc.get("seccompProfile", {}).get("type") == "RuntimeDefault"):
        problems.append(f"{where}: pod must run as non-root 10001 with seccomp RuntimeDefault")
    if spec.get("automountServiceAccountToken") is not False:
        problems.append(f"{where}: automountServiceAccountToken must be false")
    for c in spec["containers"]:
        cw = f"{where} container {c['name']}"
        sc = c.get("securityContext", {})
        if not (sc.get("readOnlyRootFilesystem") and sc.get("allowPrivilegeEscalation") is False
                and sc.get("capabilities", {}).get("drop") == ["ALL"]):
            problems.append(f"{cw}: needs readOnlyRootFilesystem, no privilege escalation, drop ALL")
        res = c.get("resources", {})
        for part in ("requests", "limits"):
            for r in ("cpu", "memory"):
                if r not in res.get(part, {}):
                    problems.append(f"{cw}: no {part}.{r}")
        # Every referenced ConfigMap and Secret is rendered (prod's hop-secrets is
        # created out of band, as is the optional signing key).
        external = {"hop-secrets", "hop-auth-signing-key"} if label.startswith("prod") else set()
        refs = [("ConfigMap", e["configMapRef"]["name"]) for e in c.get("envFrom", []) if "configMapRef" in e]
        for e in c.get("env", []):
            vf = e.get("valueFrom", {})
            if "configMapKeyRef" in vf:
                refs.append(("ConfigMap", vf["configMapKeyRef"]["name"]))
            if "secretKeyRef" in vf:
                refs.append(("Secret", vf["secretKeyRef"]["name"]))
        for v in spec.get("volumes", []):
            if "secret" in v:
                refs.append(("Secret", v["secret"]["secretName"]))
        for rk, rn in refs:
            if rn not in kind(rk) and rn not in external:
                problems.append(f"{cw}: refers to {rk} {rn}, which is not rendered")
        if k == "Deployment":
            ports = {p["name"] for p in c.get("ports", [])}
            for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
                p = c.get(probe, {}).get("httpGet")
                if not p:
                    problems.append(f"{cw}: no HTTP {probe}")
                elif p["port"] not in ports:
                    problems.append(f"{cw}: {probe} port {p['port']} is not a container port")
            port = tpl["metadata"].get("annotations", {}).get("prometheus.io/port")
            if port not in {str(p["containerPort"]) for p in c.get("ports", [])}:
                problems.append(f"{cw}: prometheus.io/port {port} is not a container port")
            if not tpl["metadata"]["labels"].get("app.kubernetes.io/name") == "hop":
                continue
            if c["readinessProbe"]["httpGet"]["path"] != "/health/ready":
                problems.append(f"{cw}: readiness must be /health/ready")
            if c["livenessProbe"]["httpGet"]["path"] != "/health/live":
                problems.append(f"{cw}: liveness must be /health/live")
            env = {e["name"]: e.get("value") for e in c.get("env", [])}
            if env.get("HOST") != "0.0.0.0":
                problems.append(f"{cw}: HOST must be 0.0.0.0")
            if "INSTANCE_ID" not in env:
                problems.append(f"{cw}: no INSTANCE_ID")
            grace = 10
            for ref in c.get("envFrom", []):
                cm = configmaps.get(ref.get("configMapRef", {}).get("name"), {})
                grace = int(cm.get("data", {}).get("SHUTDOWN_GRACE_SECS", grace))
            sleep = c.get("lifecycle", {}).get("preStop", {}).get("sleep", {}).get("seconds", 0)
            if not sleep:
                problems.append(f"{cw}: no preStop sleep")
            if spec.get("terminationGracePeriodSeconds", 30) <= sleep + grace:
                problems.append(f"{cw}: terminationGracePeriodSeconds must exceed preStop {sleep}s + SHUTDOWN_GRACE_SECS {grace}s")

deployments = kind("Deployment")
for name, d in deployments.items():
    if not matches(d["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"]):
        problems.append(f"Deployment/{name}: selector does not match its pod labels")
    if not is_hop(d):
        continue
    if "replicas" in d["spec"]:
        problems.append(f"Deployment/{name}: has replicas; its HPA owns the count")
    if name not in kind("HorizontalPodAutoscaler"):
        problems.append(f"Deployment/{name}: no HorizontalPodAutoscaler")
    if not any(matches(p["spec"]["selector"]["matchLabels"], d["spec"]["template"]["metadata"]["labels"])
               for p in kind("PodDisruptionBudget").values()):
        problems.append(f"Deployment/{name}: no PodDisruptionBudget selects its pods")

for name, h in kind("HorizontalPodAutoscaler").items():
    ref = h["spec"]["scaleTargetRef"]
    if ref["kind"] != "Deployment" or ref["name"] not in deployments:
        problems.append(f"HorizontalPodAutoscaler/{name}: target {ref['name']} is not rendered")
    low, high = h["spec"].get("minReplicas", 1), h["spec"]["maxReplicas"]
    floor = 2 if label.startswith("prod") else 1
    if low < floor or high < low:
        problems.append(f"HorizontalPodAutoscaler/{name}: replicas {low}..{high} (want min >= {floor})")

service_ports = {}
for name, s in kind("Service").items():
    sel = s["spec"]["selector"]
    backends = [d for d in deployments.values() if matches(sel, d["spec"]["template"]["metadata"]["labels"])]
    if len(backends) != 1:
        problems.append(f"Service/{name}: selects {len(backends)} Deployments")
        continue
    cports = {p["name"] for c in backends[0]["spec"]["template"]["spec"]["containers"] for p in c.get("ports", [])}
    for p in s["spec"]["ports"]:
        if p["targetPort"] not in cports:
            problems.append(f"Service/{name}: targetPort {p['targetPort']} is not a container port")
        if p["name"] == "grpc" and p.get("appProtocol") != "grpc":
            problems.append(f"Service/{name}: port grpc needs appProtocol grpc")
    service_ports[name] = {p["name"] for p in s["spec"]["ports"]}

for name, i in kind("Ingress").items():
    for rule in i["spec"]["rules"]:
        for p in rule["http"]["paths"]:
            svc = p["backend"]["service"]
            if svc["port"].get("name") not in service_ports.get(svc["name"], set()):
                problems.append(f"Ingress/{name}: {p['path']} -> {svc['name']}:{svc['port']} does not exist")
    if label.startswith("prod") and not i["spec"].get("tls"):
        problems.append(f"Ingress/{name}: no TLS in prod")

# NetworkPolicy is on in every overlay: a default deny for every pod, and each allowed
# port exists on a pod the policy selects.
def selects(selector, labels):
    for e in selector.get("matchExpressions", []):
        if e["operator"] != "In":
            problems.append(f"selector operator {e['operator']}: not understood by this check")
        elif labels.get(e["key"]) not in e["values"]:
            return False
    return matches(selector.get("matchLabels", {}), labels)

policies = kind("NetworkPolicy")
if not any(p["spec"]["podSelector"] == {} and p["spec"].get("policyTypes") == ["Ingress"]
           and not p["spec"].get("ingress") for p in policies.values()):
    problems.append("no default-deny ingress NetworkPolicy (podSelector {}, no ingress rules)")
for name, p in policies.items():
    pods = [d["spec"]["template"] for d in deployments.values()
            if selects(p["spec"]["podSelector"], d["spec"]["template"]["metadata"]["labels"])]
    if not pods:
        problems.append(f"NetworkPolicy/{name}: selects no Deployment's pods")
    cports = {port["name"] for t in pods for c in t["spec"]["containers"] for port in c.get("ports", [])}
    for rule in p["spec"].get("ingress", []):
        for port in rule.get("ports", []):
            if port["port"] not in cports:
                problems.append(f"NetworkPolicy/{name}: port {port['port']} is on none of its pods")

# The gateway derives its gRPC credential from SECRET_KEY, and links and auth check it:
# all three read the same key of the same Secret.
for name in ("gateway", "links", "auth"):
    env = {e["name"]: e for c in deployments.get(name, {}).get("spec", {}).get("template", {})
           .get("spec", {}).get("containers", []) for e in c.get("env", [])}
    ref = env.get("SECRET_KEY", {}).get("valueFrom", {}).get("secretKeyRef", {})
    if not ref.get("name", "").startswith("hop-secrets") or ref.get("key") != "SECRET_KEY":
        problems.append(f"Deployment/{name}: SECRET_KEY must come from Secret hop-secrets, key SECRET_KEY")

if label.startswith("prod") and secrets:
    problems.append(f"prod renders Secrets {sorted(secrets)}; they must be created out of band")

if problems:
    print(f"FAIL {label}:", file=sys.stderr)
    for p in problems:
        print(f"  - {p}", file=sys.stderr)
    sys.exit(1)
counts = ", ".join(f"{len(v)} {k}" for k, v in sorted(by_kind.items()))
print(f"ok   {label}: {len(docs)} objects valid (kubernetes-validate --strict, Kubernetes "
      f"{', '.join(versions.split())}; references, hardening, probes): {counts}")
EOF
}

check dev "$K8S_DIR/overlays/dev"
check prod "$K8S_DIR/overlays/prod"
check prod+components "$WORK/tree/overlays/prod"
