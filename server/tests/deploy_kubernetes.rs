//! The Kubernetes manifests of the deploy kit (`deploy/kubernetes/`), checked without a cluster: every
//! manifest is parsed and held to what running handoff there needs (probes on the server's health
//! endpoints, a grace period longer than the server's shutdown, a disruption budget, the voice ports
//! on each node, a locked-down container, WebSocket timeouts at the ingress). The `HANDOFF_*` names
//! are checked against `handoff serve --help` with the rest of the kit (`deploy_kit.rs`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use handoff_protocol::limits::{CLOSE_DRAIN_MS, HTTP_CONNECTION_GRACE_SECS, MAX_GROUP_COMMIT_WINDOW_MS};
use serde::Deserialize;
use serde_json::Value;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/kubernetes")
}

/// Every document of every `*.yaml` file, as JSON, by kind (a kind may occur in several files).
fn manifests() -> BTreeMap<String, Vec<Value>> {
    let mut by_kind: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        for document in serde_norway::Deserializer::from_str(&text) {
            let yaml = serde_norway::Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", path.display()));
            let json = serde_json::to_value(yaml).unwrap();
            let kind = json["kind"].as_str().unwrap_or_else(|| panic!("{} has no kind", path.display()));
            assert!(json["apiVersion"].is_string(), "{} has no apiVersion", path.display());
            by_kind.entry(kind.to_owned()).or_default().push(json);
        }
    }
    by_kind
}

fn one<'a>(manifests: &'a BTreeMap<String, Vec<Value>>, kind: &str) -> &'a Value {
    let all = manifests.get(kind).unwrap_or_else(|| panic!("no {kind} in deploy/kubernetes"));
    assert_eq!(all.len(), 1, "{} {kind}s", all.len());
    &all[0]
}

fn shutdown_secs() -> u64 {
    CLOSE_DRAIN_MS.div_ceil(1000) + MAX_GROUP_COMMIT_WINDOW_MS.div_ceil(1000) + HTTP_CONNECTION_GRACE_SECS
}

/// The container's environment: its `env` and every key of the ConfigMaps and Secrets it loads.
fn environment<'a>(
    container: &'a Value,
    manifests: &'a BTreeMap<String, Vec<Value>>,
) -> BTreeMap<&'a str, &'a Value> {
    let mut env = BTreeMap::new();
    for source in container["envFrom"].as_array().unwrap() {
        let (kind, data, reference) = if source["configMapRef"].is_object() {
            ("ConfigMap", "data", &source["configMapRef"])
        } else {
            ("Secret", "stringData", &source["secretRef"])
        };
        let name = reference["name"].as_str().unwrap();
        let found = manifests[kind].iter().find(|m| m["metadata"]["name"] == name);
        let found = found.unwrap_or_else(|| panic!("envFrom names {kind} {name}, which is not in the kit"));
        for (key, value) in found[data].as_object().unwrap() {
            env.insert(key.as_str(), value);
        }
    }
    for var in container["env"].as_array().unwrap() {
        env.insert(var["name"].as_str().unwrap(), var);
    }
    env
}

#[test]
fn the_deployment_probes_health_drains_before_it_stops_and_is_locked_down() {
    let manifests = manifests();
    let deployment = one(&manifests, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];
    assert_eq!(
        &deployment["spec"]["selector"]["matchLabels"], labels,
        "the selector is not the pods' labels"
    );
    let containers = pod["containers"].as_array().unwrap();
    assert_eq!(containers.len(), 1);
    let container = &containers[0];

    let port =
        container["ports"].as_array().unwrap().iter().find(|p| p["name"] == "http").expect("an http port");
    assert_eq!(port["containerPort"], 8080);
    assert_eq!(container["readinessProbe"]["httpGet"]["path"], "/readyz");
    assert_eq!(container["livenessProbe"]["httpGet"]["path"], "/healthz");
    for probe in ["readinessProbe", "livenessProbe", "startupProbe"] {
        assert_eq!(container[probe]["httpGet"]["port"], "http", "{probe} asks another port");
    }

    // The preStop sleep takes the pod out of the Service's endpoints; then SIGTERM, then the
    // server's own shutdown. All of it must fit in the grace period, or SIGKILL loses a commit window.
    let pre_stop = container["lifecycle"]["preStop"]["exec"]["command"].as_array().expect("a preStop hook");
    assert_eq!(pre_stop[0], "sleep");
    let pre_stop: u64 = pre_stop[1].as_str().unwrap().parse().unwrap();
    assert!(pre_stop > 0);
    let grace = pod["terminationGracePeriodSeconds"].as_u64().expect("terminationGracePeriodSeconds");
    assert!(grace >= pre_stop + shutdown_secs(), "grace {grace}s < {pre_stop}s + {}s", shutdown_secs());

    // Non-root with a fixed uid (the image's), a read-only root, no capabilities, no escalation;
    // the data dir and /tmp are the only writable places.
    assert_eq!(pod["securityContext"]["runAsNonRoot"], true);
    let dockerfile = std::fs::read_to_string(dir().join("../container/Dockerfile")).unwrap();
    let user = dockerfile.lines().find_map(|l| l.strip_prefix("USER ")).unwrap();
    assert_eq!(pod["securityContext"]["runAsUser"].to_string(), user.split(':').next().unwrap());
    let security = &container["securityContext"];
    assert_eq!(security["readOnlyRootFilesystem"], true);
    assert_eq!(security["allowPrivilegeEscalation"], false);
    assert_eq!(security["capabilities"]["drop"], serde_json::json!(["ALL"]));
    let mounts: Vec<&str> = container["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["mountPath"].as_str().unwrap())
        .collect();
    let data_dir = dockerfile.split_whitespace().find_map(|w| w.strip_prefix("HANDOFF_DATA_DIR=")).unwrap();
    assert!(mounts.contains(&data_dir) && mounts.contains(&"/tmp"), "writable mounts {mounts:?}");

    // The environment: listening on the pod's interfaces, the shared store and bus, one token
    // secret for every pod, and secrets only from the Secret.
    let env = environment(container, &manifests);
    assert_eq!(env["HANDOFF_LISTEN"]["value"], "0.0.0.0:8080");
    for secret in ["HANDOFF_API_KEY", "HANDOFF_TOKEN_SECRET", "HANDOFF_METRICS_TOKEN", "HANDOFF_STORE"] {
        assert!(env.contains_key(secret), "{secret} is not set");
        assert!(
            !one(&manifests, "ConfigMap")["data"].as_object().unwrap().contains_key(secret),
            "{secret} in the ConfigMap"
        );
    }
    assert!(env["HANDOFF_STORE"].as_str().unwrap().starts_with("postgres://"));
    assert!(env["HANDOFF_REDIS_URL"].as_str().unwrap().starts_with("redis://"));
}

#[test]
fn voice_ports_sit_on_each_node_and_the_ingress_holds_websockets() {
    let manifests = manifests();
    let deployment = one(&manifests, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    let labels = &deployment["spec"]["template"]["metadata"]["labels"];

    // Voice: a browser must reach the very pod holding its room, on the port it was given. With
    // hostNetwork the pod's ports are its node's; two pods on one node would collide, so the
    // scheduler keeps them apart and a rollout never starts a surplus pod.
    assert_eq!(pod["hostNetwork"], true);
    assert_eq!(pod["dnsPolicy"], "ClusterFirstWithHostNet", "hostNetwork pods lose cluster DNS otherwise");
    let anti = &pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"][0];
    assert_eq!(anti["topologyKey"], "kubernetes.io/hostname");
    assert_eq!(&anti["labelSelector"]["matchLabels"], labels);
    assert_eq!(deployment["spec"]["strategy"]["rollingUpdate"]["maxSurge"], 0);
    let env = environment(&pod["containers"][0], &manifests);
    assert_eq!(env["HANDOFF_VOICE_PUBLIC_IP"]["valueFrom"]["fieldRef"]["fieldPath"], "status.hostIP");
    let ports = env["HANDOFF_VOICE_UDP_PORTS"].as_str().expect("a voice port range");
    let (first, last) = ports.split_once('-').unwrap();
    assert!(first.parse::<u16>().unwrap() < last.parse::<u16>().unwrap(), "{ports}");

    // The Service and the disruption budget select the Deployment's pods.
    let service = one(&manifests, "Service");
    assert_eq!(&service["spec"]["selector"], labels);
    assert_eq!(service["spec"]["ports"][0]["targetPort"], "http");
    let pdb = one(&manifests, "PodDisruptionBudget");
    assert_eq!(&pdb["spec"]["selector"]["matchLabels"], labels);
    let replicas = deployment["spec"]["replicas"].as_u64().unwrap();
    assert!(pdb["spec"]["maxUnavailable"].as_u64().is_some_and(|m| m < replicas), "the PDB allows an outage");

    // The ingress: WebSockets held for an interview's length (as deploy/nginx does, 4 h), unbuffered.
    let ingress = one(&manifests, "Ingress");
    let annotations = &ingress["metadata"]["annotations"];
    for timeout in ["proxy-read-timeout", "proxy-send-timeout"] {
        let secs: u64 =
            annotations[format!("nginx.ingress.kubernetes.io/{timeout}")].as_str().unwrap().parse().unwrap();
        assert!(secs >= 4 * 3600, "{timeout} {secs}s is shorter than an interview");
    }
    assert_eq!(annotations["nginx.ingress.kubernetes.io/proxy-buffering"], "off");
    let backend = &ingress["spec"]["rules"][0]["http"]["paths"][0]["backend"]["service"];
    assert_eq!(backend["name"], service["metadata"]["name"]);

    // kustomization.yaml applies every manifest but the Secret's example, which holds no real secret.
    let kustomization = one(&manifests, "Kustomization");
    let listed: Vec<&str> =
        kustomization["resources"].as_array().unwrap().iter().map(|r| r.as_str().unwrap()).collect();
    for entry in std::fs::read_dir(dir()).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        let expected =
            name.ends_with(".yaml") && name != "kustomization.yaml" && name != "secret.example.yaml";
        assert_eq!(listed.contains(&name.as_str()), expected, "kustomization.yaml and {name}");
    }
}

/// `kubernetes-validate` (PyPI; `.ci/run` installs the version it pins): every manifest against the
/// Kubernetes API's own schemas, strict (an unknown or misspelt field fails), as `kubectl apply` would
/// judge it, without an API server. Missing, the test fails: it never skips.
fn kubernetes_validate(files: &[PathBuf]) -> std::process::Output {
    std::process::Command::new("kubernetes-validate")
        .arg("--strict")
        .args(files)
        .output()
        .expect("kubernetes-validate is not installed: .ci/run installs it (pip, in a venv)")
}

#[test]
fn every_manifest_passes_the_kubernetes_schemas_and_a_misspelt_field_does_not() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        // kustomization.yaml is kustomize's own file, not an API object (no schema to hold it to).
        .filter(|p| p.extension().is_some_and(|e| e == "yaml") && !p.ends_with("kustomization.yaml"))
        .collect();
    files.sort();
    assert!(files.len() >= 6, "the manifests are found: {files:?}");
    let out = kubernetes_validate(&files);
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the manifests break the Kubernetes schemas:\n{report}");
    for file in &files {
        let name = file.file_name().unwrap().to_string_lossy();
        assert!(report.contains(&format!("{name} passed")), "{name} was not validated:\n{report}");
    }

    // The same check refuses a Deployment whose probe field is misspelt, so it is not a no-op.
    let scratch = tempfile::tempdir().unwrap();
    let broken = scratch.path().join("deployment.yaml");
    let text = std::fs::read_to_string(dir().join("deployment.yaml")).unwrap();
    assert!(text.contains("readinessProbe:"));
    std::fs::write(&broken, text.replacen("readinessProbe:", "readinesProbe:", 1)).unwrap();
    let out = kubernetes_validate(&[broken]);
    assert!(!out.status.success(), "a misspelt field is refused");
}
