//! The nginx example of the deploy kit (`deploy/nginx/handoff.conf`), run by Debian's nginx in front of a
//! real server on loopback, with TLS: plain HTTP is redirected, the API answers through it, and the stock
//! y-websocket client passes the whole interop run over `wss://` through the proxy's WebSocket upgrade.
//! Fails, never skips, when nginx or openssl is missing (`.ci/run` installs nginx).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::kit::{StopOnDrop, free_port, swap};
use common::{PATIENCE, TestServer, interop};

const NGINX: &str = "/usr/sbin/nginx";
/// The kit's file, as named in failures.
const KIT_FILE: &str = "deploy/nginx/handoff.conf";

/// Runs openssl with `args`, failing the test when it is missing or refuses.
fn openssl(args: &[&str], dir: &Path) {
    let status = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stderr(Stdio::null())
        .status()
        .expect("this test needs openssl (apt-get install openssl)");
    assert!(status.success(), "openssl {args:?} failed");
}

/// A test CA and a certificate for 127.0.0.1 it signed (TLS clients refuse a CA certificate as the
/// server's own). Returns the CA (what clients trust), the server's certificate and its key.
fn certificates(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    openssl(
        &["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=handoff test CA"]
            .iter()
            .chain(&["-keyout", "ca.key", "-out", "ca.pem"])
            .copied()
            .collect::<Vec<_>>(),
        dir,
    );
    openssl(
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "key.pem",
            "-out",
            "cert.csr",
        ],
        dir,
    );
    std::fs::write(
        dir.join("leaf.ext"),
        "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "cert.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "1",
        ]
        .iter()
        .chain(&["-extfile", "leaf.ext", "-out", "cert.pem"])
        .copied()
        .collect::<Vec<_>>(),
        dir,
    );
    (dir.join("ca.pem"), dir.join("cert.pem"), dir.join("key.pem"))
}

/// The kit's site file pointed at this test's server, ports and certificate, inside a main config that
/// keeps every file nginx writes in `dir`.
fn nginx_conf(dir: &Path, upstream: u16, http: u16, https: u16, cert: &Path, key: &Path) -> PathBuf {
    let kit = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/nginx/handoff.conf");
    let mut site = std::fs::read_to_string(kit).unwrap();
    swap(&mut site, KIT_FILE, "server 127.0.0.1:8080;", &format!("server 127.0.0.1:{upstream};"));
    swap(&mut site, KIT_FILE, "    listen 80;\n", &format!("    listen 127.0.0.1:{http};\n"));
    swap(&mut site, KIT_FILE, "    listen [::]:80;\n", "");
    swap(
        &mut site,
        KIT_FILE,
        "    listen 443 ssl http2;\n",
        &format!("    listen 127.0.0.1:{https} ssl http2;\n"),
    );
    swap(&mut site, KIT_FILE, "    listen [::]:443 ssl http2;\n", "");
    swap(
        &mut site,
        KIT_FILE,
        "/etc/letsencrypt/live/handoff.example.com/fullchain.pem",
        &cert.display().to_string(),
    );
    swap(
        &mut site,
        KIT_FILE,
        "/etc/letsencrypt/live/handoff.example.com/privkey.pem",
        &key.display().to_string(),
    );
    std::fs::write(dir.join("handoff.conf"), site).unwrap();
    let d = dir.display();
    let main = format!(
        "user root;\nmaster_process off;\ndaemon off;\npid {d}/nginx.pid;\nerror_log {d}/error.log warn;\n\
         events {{ worker_connections 512; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
         fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
         include {d}/handoff.conf;\n}}\n"
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, main).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stock_clients_collaborate_through_the_kits_nginx_over_tls() {
    assert!(Path::new(NGINX).exists(), "this test needs Debian's nginx at {NGINX} (apt-get install nginx)");
    let data = tempfile::tempdir().unwrap();
    let server = TestServer::start(data.path()).await;
    let upstream: u16 = server.base.rsplit(':').next().unwrap().parse().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (ca, cert, key) = certificates(dir.path());
    let (http, https) = (free_port(), free_port());
    let conf = nginx_conf(dir.path(), upstream, http, https, &cert, &key);
    let check = Command::new(NGINX).arg("-t").arg("-q").arg("-c").arg(&conf).output().unwrap();
    assert!(check.status.success(), "nginx -t: {}", String::from_utf8_lossy(&check.stderr));
    let _nginx = StopOnDrop(Command::new(NGINX).arg("-c").arg(&conf).stderr(Stdio::null()).spawn().unwrap());

    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let base = format!("https://127.0.0.1:{https}");
    let deadline = Instant::now() + PATIENCE;
    let health = loop {
        match client.get(format!("{base}/healthz")).send().await {
            Ok(r) => break r,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
            }
            Err(e) => panic!("nginx did not answer on {base}: {e:?}; {}", error_log(dir.path())),
        }
    };
    assert_eq!(health.status(), 200, "the health check through nginx");
    let plain = client.get(format!("http://127.0.0.1:{http}/healthz")).send().await.unwrap();
    assert_eq!(plain.status(), 301, "plain HTTP is sent to HTTPS");

    let files = interop::files();
    let room = server.room_with(&files).await;
    let ws_url = format!("wss://127.0.0.1:{https}/ws");
    let checks = interop::run(&room, &files, &ws_url, &[("NODE_EXTRA_CA_CERTS", &ca)]).await;
    assert_eq!(checks, interop::CHECKS, "every interop check passed through nginx");
    server.stop().await;
}

fn error_log(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
}
