//! The compose cluster of the deploy kit (`deploy/compose/`), checked without a container engine (CI
//! has none that runs): `compose.yaml` is parsed and held to what a cluster needs (handoff nodes built
//! from the kit's Dockerfile on PostgreSQL and Redis, health checks gating the start order, secrets
//! in env files that are not committed, Redis that never evicts), and the load balancer's own
//! `nginx.conf` is run by Debian's nginx in front of a real server: the stock y-websocket client
//! passes the interop run through it. Debian's `docker-compose` validates the file against the compose
//! schema (`config`, which needs no engine). Fails, never skips, when nginx or docker-compose is
//! missing (`.ci/run` installs both).

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::kit::{StopOnDrop, free_port, swap};
use common::{PATIENCE, TestServer, interop};
use handoff_protocol::limits::{CLOSE_DRAIN_MS, HTTP_CONNECTION_GRACE_SECS, MAX_GROUP_COMMIT_WINDOW_MS};
use serde_json::Value;

const NGINX: &str = "/usr/sbin/nginx";
const DOCKERFILE: &str = "deploy/container/Dockerfile";
/// The load balancer's file, as named in failures.
const LB_FILE: &str = "deploy/compose/nginx.conf";

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// `compose.yaml` as JSON, with its `<<:` merge keys applied (compose applies them too).
fn compose() -> Value {
    let mut yaml: serde_norway::Value = serde_norway::from_str(&read("deploy/compose/compose.yaml")).unwrap();
    yaml.apply_merge().unwrap();
    serde_json::to_value(yaml).unwrap()
}

fn strings(value: &Value) -> Vec<&str> {
    value.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_default()
}

/// `90s`, `1m30s` → seconds.
fn seconds(duration: &str) -> u64 {
    let (minutes, rest) = duration.split_once('m').unwrap_or(("0", duration));
    minutes.parse::<u64>().unwrap() * 60 + rest.trim_end_matches('s').parse::<u64>().unwrap_or(0)
}

fn shutdown_secs() -> u64 {
    CLOSE_DRAIN_MS.div_ceil(1000) + MAX_GROUP_COMMIT_WINDOW_MS.div_ceil(1000) + HTTP_CONNECTION_GRACE_SECS
}

/// `FIRST-LAST` → the ports.
fn range(ports: &str) -> std::ops::RangeInclusive<u16> {
    let (first, last) = ports.split_once('-').expect("a FIRST-LAST range");
    first.parse().unwrap()..=last.parse().unwrap()
}

/// The services built from the kit's Dockerfile.
fn nodes(compose: &Value) -> Vec<(&String, &Value)> {
    let services = compose["services"].as_object().expect("compose.yaml has services");
    let dockerfile = repo(DOCKERFILE).canonicalize().unwrap();
    services
        .iter()
        .filter(|(_, s)| {
            let (context, file) = (s["build"]["context"].as_str(), s["build"]["dockerfile"].as_str());
            context.zip(file).is_some_and(|(c, f)| {
                repo("deploy/compose").join(c).join(f).canonicalize().is_ok_and(|p| p == dockerfile)
            })
        })
        .collect()
}

#[test]
fn the_compose_cluster_runs_handoff_nodes_on_postgres_and_redis_behind_nginx() {
    let compose = compose();
    let services = &compose["services"];
    let nodes = nodes(&compose);
    assert!(nodes.len() >= 2, "a cluster needs two nodes or more; compose.yaml builds {}", nodes.len());
    let data_dir = read(DOCKERFILE)
        .split_whitespace()
        .find_map(|w| w.strip_prefix("HANDOFF_DATA_DIR=").map(str::to_owned))
        .expect("the Dockerfile sets HANDOFF_DATA_DIR");

    let mut voice_ports = BTreeSet::new();
    for (name, node) in &nodes {
        let env = &node["environment"];
        let redis = env["HANDOFF_REDIS_URL"].as_str().unwrap_or_default();
        assert!(redis.starts_with("redis://redis:"), "{name}: HANDOFF_REDIS_URL={redis}");
        assert_eq!(strings(&node["env_file"]), vec!["handoff.env"], "{name} reads its secrets elsewhere");
        for needed in ["postgres", "redis"] {
            let condition = node["depends_on"][needed]["condition"].as_str();
            assert_eq!(condition, Some("service_healthy"), "{name} starts before {needed} is healthy");
        }
        let check = strings(&node["healthcheck"]["test"]).join(" ");
        assert!(check.contains("http://127.0.0.1:8080/readyz"), "{name}: healthcheck {check}");
        let grace = seconds(node["stop_grace_period"].as_str().unwrap_or("10s"));
        assert!(grace >= shutdown_secs(), "{name}: stop_grace_period {grace}s < {}s", shutdown_secs());
        assert!(node["ulimits"]["nofile"]["soft"].as_u64().unwrap_or(0) >= 10_000, "{name}: nofile");
        assert_eq!(node["read_only"], true, "{name} has a writable root");
        assert_eq!(strings(&node["cap_drop"]), vec!["ALL"], "{name} keeps capabilities");
        let volume = format!(":{data_dir}");
        assert!(strings(&node["volumes"]).iter().any(|v| v.ends_with(&volume)), "{name}: no data volume");
        // Each node's voice ports are its own, and published as they are: browsers reach the node.
        let ports = env["HANDOFF_VOICE_UDP_PORTS"].as_str().expect("a voice range per node");
        assert!(strings(&node["ports"]).contains(&format!("{ports}:{ports}/udp").as_str()), "{name}");
        for port in range(ports) {
            assert!(voice_ports.insert(port), "{name}: voice port {port} is another node's too");
        }
        assert!(env["HANDOFF_VOICE_PUBLIC_IP"].is_string(), "{name} announces no public voice address");
    }

    // The store: every node shares one PostgreSQL database, reached with the user and database the
    // postgres service creates; the token secret is set, as every node must sign alike.
    let example = read("deploy/compose/handoff.env.example");
    let store = example.lines().find_map(|l| l.strip_prefix("HANDOFF_STORE=")).expect("HANDOFF_STORE");
    let postgres = &services["postgres"];
    let (user, db) =
        (postgres["environment"]["POSTGRES_USER"].as_str(), postgres["environment"]["POSTGRES_DB"].as_str());
    let (user, db) = (user.unwrap(), db.unwrap());
    assert!(
        store.starts_with(&format!("postgres://{user}:")) && store.ends_with(&format!("@postgres:5432/{db}"))
    );
    assert!(example.lines().any(|l| l == "HANDOFF_TOKEN_SECRET="), "the nodes would each make a secret");
    assert!(strings(&postgres["healthcheck"]["test"]).contains(&"pg_isready"));

    // Secrets live in env files, each with a committed example, none committed itself.
    let ignored = read("deploy/compose/.gitignore");
    assert!(ignored.lines().any(|l| l == "*.env"), "deploy/compose/.gitignore does not keep *.env out");
    for (name, service) in services.as_object().unwrap() {
        for file in strings(&service["env_file"]) {
            assert!(file.ends_with(".env"), "{name}: env_file {file} escapes .gitignore");
            assert!(repo(&format!("deploy/compose/{file}.example")).exists(), "no {file}.example");
        }
    }

    // Redis keeps its data (AOF) and refuses writes when full rather than evicting keys.
    let redis = strings(&services["redis"]["command"]).join(" ");
    assert!(redis.contains("--appendonly yes"), "redis: {redis}");
    assert!(redis.contains("--maxmemory-policy noeviction"), "redis: {redis}");
    assert!(strings(&services["redis"]["healthcheck"]["test"]).join(" ").contains("redis-cli ping"));

    // nginx waits for every node and balances over all of them.
    let nginx = &services["nginx"];
    let lb = read("deploy/compose/nginx.conf");
    for (name, _) in &nodes {
        assert_eq!(nginx["depends_on"][name.as_str()]["condition"], "service_healthy", "nginx and {name}");
        assert!(lb.contains(&format!("server {name}:8080 ")), "nginx.conf does not balance over {name}");
    }
    assert!(strings(&nginx["volumes"]).contains(&"./nginx.conf:/etc/nginx/conf.d/default.conf:ro"));
    assert!(nginx["healthcheck"]["test"].is_array(), "nginx has no health check");
}

/// The directives of `location /ws/ { … }` in an nginx file, comments dropped.
fn ws_location(conf: &str) -> Vec<String> {
    let start = conf.find("location /ws/ {").expect("a /ws/ location");
    let block = &conf[start..];
    let block = &block[..block.find('}').unwrap()];
    block
        .lines()
        .skip(1)
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_load_balancer_keeps_the_kits_websocket_settings() {
    let lb = ws_location(&read("deploy/compose/nginx.conf"));
    assert_eq!(lb, ws_location(&read("deploy/nginx/handoff.conf")), "the two /ws/ locations differ");
    assert!(lb.contains(&"proxy_set_header Upgrade $http_upgrade;".to_owned()), "{lb:?}");
    assert!(lb.contains(&"proxy_read_timeout 4h;".to_owned()), "{lb:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_clients_collaborate_through_the_clusters_load_balancer() {
    assert!(Path::new(NGINX).exists(), "this test needs Debian's nginx at {NGINX} (apt-get install nginx)");
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let upstream = server.base.rsplit(':').next().unwrap().to_owned();
    let port = free_port();

    // The file as shipped, every node's name pointed at this one server, inside a main config that
    // keeps what nginx writes in a temporary directory.
    let dir = tempfile::tempdir().unwrap();
    let mut site = read("deploy/compose/nginx.conf");
    for (name, _) in nodes(&compose()) {
        swap(&mut site, LB_FILE, &format!("server {name}:8080 "), &format!("server 127.0.0.1:{upstream} "));
    }
    swap(&mut site, LB_FILE, "    listen 8080;\n", &format!("    listen 127.0.0.1:{port};\n"));
    swap(&mut site, LB_FILE, "    listen [::]:8080;\n", "");
    std::fs::write(dir.path().join("default.conf"), site).unwrap();
    let d = dir.path().display();
    let main = format!(
        "user root;\nmaster_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         include {d}/default.conf;\n}}\n"
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, main).unwrap();
    let check = Command::new(NGINX).arg("-t").arg("-q").arg("-c").arg(&conf).output().unwrap();
    assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
    let _nginx = StopOnDrop(Command::new(NGINX).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap());

    let base = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + PATIENCE;
    let health = loop {
        match server.http.get(format!("{base}/healthz")).send().await {
            Ok(r) => break r,
            Err(e) => {
                let log = std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default();
                assert!(Instant::now() < deadline, "nginx did not answer on {base}: {e:?}; {log}");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    };
    assert_eq!(health.status(), 200, "the health check through the load balancer");

    let files = interop::files();
    let room = server.room_with(&files).await;
    let checks = interop::run(&room, &files, &format!("ws://127.0.0.1:{port}/ws"), &[]).await;
    assert_eq!(checks, interop::CHECKS, "every interop check passed through the load balancer");
    server.stop().await;
}

/// Copies the directory `from` into `to`, each `NAME.example` also as `NAME` (the env files a host
/// makes from the committed examples).
fn copy_as_a_host_would(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        if path.is_dir() {
            copy_as_a_host_would(&path, &to.join(&name));
            continue;
        }
        std::fs::copy(&path, to.join(&name)).unwrap();
        if let Some(env) = name.strip_suffix(".example") {
            std::fs::copy(&path, to.join(env)).unwrap();
        }
    }
}

#[test]
fn docker_compose_validates_the_file() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("deploy/compose");
    copy_as_a_host_would(&repo("deploy/compose"), &dir);
    // The file alone, and with the override that builds PostgreSQL, Redis and nginx from Debian.
    for files in [&["compose.yaml"][..], &["compose.yaml", "compose.debian.yaml"]] {
        let out = Command::new("docker-compose")
            .args(["-p", "handoff"])
            .args(files.iter().flat_map(|f| ["-f", f]))
            .args(["config", "--quiet"])
            .current_dir(&dir)
            .output()
            .expect("this test needs docker-compose (apt-get install docker-compose)");
        assert!(
            out.status.success(),
            "docker-compose config {files:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `compose.debian.yaml` replaces exactly the official images, with images built from the kit's
/// Debian Dockerfile on the runtime base: the cluster then needs no registry at all.
#[test]
fn the_debian_override_builds_the_other_services_from_the_runtime_base() {
    let mut yaml: serde_norway::Value =
        serde_norway::from_str(&read("deploy/compose/compose.debian.yaml")).unwrap();
    yaml.apply_merge().unwrap();
    let overridden = serde_json::to_value(yaml).unwrap();
    let compose = compose();
    let official: BTreeSet<&str> = compose["services"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, s)| s["image"].as_str().is_some_and(|i| i.starts_with("docker.io/")))
        .map(|(name, _)| name.as_str())
        .collect();
    let services = overridden["services"].as_object().expect("the override has services");
    assert_eq!(services.keys().map(String::as_str).collect::<BTreeSet<_>>(), official);

    let dockerfile = read("deploy/compose/debian/Dockerfile");
    let base = dockerfile
        .lines()
        .find_map(|l| l.strip_prefix("ARG RUNTIME_BASE="))
        .expect("debian/Dockerfile starts from the runtime base");
    assert!(base.starts_with("localhost/handoff-runtime-base:"), "{base}");
    for (name, service) in services {
        let build = &service["build"];
        assert_eq!(build["context"], "debian", "{name}");
        assert_eq!(build["dockerfile"], "Dockerfile", "{name}");
        let target = build["target"].as_str().unwrap_or_else(|| panic!("{name}: no build target"));
        assert!(dockerfile.contains(&format!("FROM ${{RUNTIME_BASE}} AS {target}\n")), "no stage {target}");
        let image = service["image"].as_str().unwrap_or_default();
        assert!(image.starts_with("localhost/"), "{name}: {image} would be pulled");
    }
    // Every FROM is the runtime base: nothing is pulled.
    for from in dockerfile.lines().filter(|l| l.starts_with("FROM ")) {
        assert!(from.starts_with("FROM ${RUNTIME_BASE} AS "), "{from}");
    }
    // The volume paths compose.yaml mounts are the ones the images declare.
    for (service, path) in [("postgres", "/var/lib/postgresql/data"), ("redis", "/data")] {
        assert!(
            strings(&compose["services"][service]["volumes"])
                .iter()
                .any(|v| v.ends_with(&format!(":{path}")))
        );
        assert!(dockerfile.contains(&format!("VOLUME {path}\n")), "debian/Dockerfile: no VOLUME {path}");
    }
}
