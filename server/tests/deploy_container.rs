//! The container image of the deploy kit (`deploy/container/`), checked without a container engine: CI
//! has none that runs (deploy/README.md, "Container", says why and how to run the real build). The
//! Dockerfile is parsed and held to what the image promises (stages from the Debian bases
//! `build-base.sh` makes, an unprivileged user, a health check, the data dir a volume, the ports
//! exposed), and the runtime stage's essentials run outside a container: the built binary, laid out
//! as the image lays it out, as the image's uid, with the image's environment, answers `/healthz`.
//! Fails, never skips, when not run as root (switching to the image's uid needs it; CI runs as root).

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use handoff_protocol::limits::{CLOSE_DRAIN_MS, HTTP_CONNECTION_GRACE_SECS, MAX_GROUP_COMMIT_WINDOW_MS};

const PATIENCE: Duration = Duration::from_secs(20);

fn repo(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// One Dockerfile instruction: its keyword (upper case) and its arguments, continuation lines joined.
#[derive(Debug)]
struct Instruction {
    keyword: String,
    args: String,
}

/// The instructions of a Dockerfile, grouped by stage (each stage starts with its `FROM`); `ARG`s
/// before the first `FROM` are returned apart, with their defaults.
fn parse(dockerfile: &str) -> (BTreeMap<String, String>, Vec<Vec<Instruction>>) {
    let mut logical = Vec::new();
    let mut current = String::new();
    for line in dockerfile.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && current.is_empty()) {
            continue;
        }
        match trimmed.strip_suffix('\\') {
            Some(head) => current.push_str(head),
            None => {
                current.push_str(trimmed);
                logical.push(std::mem::take(&mut current));
            }
        }
    }
    assert!(current.is_empty(), "the Dockerfile ends in a continuation");
    let (mut global, mut stages) = (BTreeMap::new(), Vec::<Vec<Instruction>>::new());
    for line in logical.iter().filter(|l| !l.trim().is_empty()) {
        let (keyword, args) = line.trim().split_once(char::is_whitespace).unwrap_or((line, ""));
        let instruction = Instruction { keyword: keyword.to_uppercase(), args: args.trim().to_owned() };
        if instruction.keyword == "FROM" {
            stages.push(vec![instruction]);
        } else if let Some(stage) = stages.last_mut() {
            stage.push(instruction);
        } else {
            assert_eq!(instruction.keyword, "ARG", "only ARG may come before the first FROM");
            let (name, default) = instruction.args.split_once('=').expect("a global ARG has a default");
            global.insert(name.to_owned(), default.to_owned());
        }
    }
    (global, stages)
}

fn all<'a>(stage: &'a [Instruction], keyword: &str) -> Vec<&'a str> {
    stage.iter().filter(|i| i.keyword == keyword).map(|i| i.args.as_str()).collect()
}

/// `ENV K=V K2=V2` pairs of a stage (the kit writes unquoted values without spaces).
fn env_of(stage: &[Instruction]) -> BTreeMap<String, String> {
    all(stage, "ENV")
        .iter()
        .flat_map(|args| args.split_whitespace())
        .map(|pair| {
            let (k, v) = pair.split_once('=').expect("ENV is written as KEY=VALUE");
            (k.to_owned(), v.to_owned())
        })
        .collect()
}

/// The value `NAME=…` in a shell script, as it assigns it (`NAME=${NAME:-default}` gives `default`).
fn script_value(script: &str, name: &str) -> String {
    let line = script
        .lines()
        .find_map(|l| l.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("build-base.sh does not set {name}"));
    let line = line.trim();
    match line.strip_prefix(&format!("${{{name}:-")) {
        Some(rest) => rest.trim_end_matches('}').to_owned(),
        None => line.to_owned(),
    }
}

/// The seconds SIGTERM may take: each client's close drains, the last commit window, then the HTTP
/// grace (server/src/app.rs, in that order).
fn shutdown_secs() -> u64 {
    CLOSE_DRAIN_MS.div_ceil(1000) + MAX_GROUP_COMMIT_WINDOW_MS.div_ceil(1000) + HTTP_CONNECTION_GRACE_SECS
}

#[test]
fn the_dockerfile_builds_in_stages_from_the_debian_bases_and_runs_unprivileged() {
    let dockerfile = read("deploy/container/Dockerfile");
    let script = read("deploy/container/build-base.sh");
    let (args, stages) = parse(&dockerfile);
    assert!(stages.len() >= 2, "the Dockerfile has {} stage(s): a build and a runtime stage", stages.len());

    // Every base is an earlier stage or one of the two images build-base.sh makes: no registry.
    let suite = script_value(&script, "SUITE");
    let made =
        [format!("localhost/handoff-build-base:{suite}"), format!("localhost/handoff-runtime-base:{suite}")];
    let mut names: Vec<String> = Vec::new();
    let mut bases = Vec::new();
    for stage in &stages {
        let from: Vec<&str> = stage[0].args.split_whitespace().collect();
        let mut base = from[0].to_owned();
        for (name, default) in &args {
            base = base.replace(&format!("${{{name}}}"), default);
        }
        assert!(names.contains(&base) || made.contains(&base), "FROM {base}: neither a stage nor {made:?}");
        if let [_, as_, name] = from[..] {
            assert!(as_.eq_ignore_ascii_case("as"));
            names.push(name.to_owned());
        }
        bases.push(base);
    }
    assert_eq!(bases[0], made[0], "the first stage builds on the build base");
    let runtime = stages.last().unwrap();
    assert_eq!(bases.last().unwrap(), &made[1], "the last stage runs on the runtime base");

    // The build stage builds the release binary and refuses to go on without the web client.
    let build = all(&stages[0], "RUN").join("\n");
    assert!(build.contains("cargo build --release --locked"), "the build stage runs {build:?}");
    assert!(
        build.contains("test -f web-client/dist/index.html"),
        "the build stage does not check the web client"
    );

    let env = env_of(runtime);
    let copies = all(runtime, "COPY").join("\n");
    assert!(copies.contains("--from=build /src/target/release/handoff /usr/local/bin/handoff"), "{copies}");
    let web = &env["HANDOFF_WEB_DIR"];
    assert!(copies.contains(&format!("--from=build /src/web-client/dist {web}")), "{copies}");

    // An unprivileged user, numeric (Kubernetes' runAsNonRoot can only verify a number), made here.
    let user = all(runtime, "USER");
    assert_eq!(user.len(), 1, "the runtime stage sets USER once: {user:?}");
    let (uid, gid) = user[0].split_once(':').expect("USER is UID:GID");
    let (uid, gid): (u32, u32) = (uid.parse().expect("a numeric uid"), gid.parse().expect("a numeric gid"));
    assert!(uid != 0 && gid != 0, "the image runs as root");
    // The user and its group are made with exactly these ids, so the volume's files carry names.
    let setup = all(runtime, "RUN").join("\n");
    assert!(setup.contains(&format!("groupadd --system --gid {gid} handoff")), "no group {gid}: {setup}");
    assert!(setup.contains(&format!("useradd --system --uid {uid} --gid handoff")), "no user {uid}: {setup}");

    // The data dir is a volume the user owns; the server listens on every interface of the container.
    let data = &env["HANDOFF_DATA_DIR"];
    assert_eq!(all(runtime, "VOLUME"), vec![data.as_str()], "the data dir is not the volume");
    assert!(setup.contains(&format!("install -d -o handoff -g handoff -m 0700 {data}")), "{setup}");
    let listen = &env["HANDOFF_LISTEN"];
    let port = listen.strip_prefix("0.0.0.0:").unwrap_or_else(|| panic!("HANDOFF_LISTEN={listen}"));

    // HTTP and the voice range are exposed, the range being the one the server is told to use.
    let exposed: Vec<&str> = all(runtime, "EXPOSE").iter().flat_map(|a| a.split_whitespace()).collect();
    assert!(exposed.contains(&format!("{port}/tcp").as_str()), "EXPOSE {exposed:?}");
    let voice = &env["HANDOFF_VOICE_UDP_PORTS"];
    assert!(exposed.contains(&format!("{voice}/udp").as_str()), "EXPOSE {exposed:?} lacks {voice}/udp");

    // The health check asks /healthz on the listening port with curl, which the runtime base has.
    let health = all(runtime, "HEALTHCHECK");
    assert_eq!(health.len(), 1, "HEALTHCHECK {health:?}");
    assert!(health[0].contains(&format!("http://127.0.0.1:{port}/healthz")), "HEALTHCHECK {}", health[0]);
    assert!(health[0].contains("CMD [\"curl\""), "HEALTHCHECK {}", health[0]);
    assert!(script_value(&script, "RUNTIME_PACKAGES").split(',').any(|p| p == "curl"));
    assert_eq!(all(runtime, "STOPSIGNAL"), vec!["SIGTERM"]);
    assert_eq!(all(runtime, "ENTRYPOINT"), vec![r#"["/usr/local/bin/handoff"]"#]);

    // Nothing piped from the network into a shell, nothing downloaded by ADD.
    for (file, text) in [("Dockerfile", &dockerfile), ("build-base.sh", &script)] {
        for pipe in ["| sh", "|sh", "| bash", "|bash"] {
            assert!(!text.contains(pipe), "deploy/container/{file} pipes into a shell");
        }
    }
    assert!(all(runtime, "ADD").is_empty() && stages.iter().all(|s| all(s, "ADD").is_empty()));
}

#[test]
fn the_base_script_makes_both_bases_from_debian_packages_only() {
    let script = read("deploy/container/build-base.sh");
    let status = Command::new("bash").arg("-n").arg(repo("deploy/container/build-base.sh")).status().unwrap();
    assert!(status.success(), "build-base.sh does not parse");
    assert!(script.contains("debootstrap --variant=minbase \"$SUITE\" \"$dir\" \"$MIRROR\""));
    assert!(script.contains("apt-get install -y -qq --no-install-recommends ${packages//,/ }"));
    assert_eq!(script_value(&script, "MIRROR"), "http://deb.debian.org/debian");
    // The only host the script reaches is Debian's mirror.
    let hosts: Vec<&str> = script.split_whitespace().filter(|w| w.contains("://")).collect();
    assert!(hosts.iter().all(|h| h.contains("http://deb.debian.org/debian")), "{hosts:?}");
    let runtime = script_value(&script, "RUNTIME_PACKAGES");
    let build = script_value(&script, "BUILD_PACKAGES");
    for package in ["ca-certificates", "curl"] {
        assert!(runtime.split(',').any(|p| p == package), "the runtime base lacks {package}");
    }
    // server/build.rs needs npm for the web client; ring and the bundled SQLite need a C compiler.
    for package in ["rustc", "cargo", "nodejs", "npm", "gcc", "libc6-dev"] {
        assert!(build.split(',').any(|p| p == package), "the build base lacks {package}");
    }
    // The suite's own rustc is older than the workspace's rust-version: the toolchain comes from the
    // suite's backports, from the same mirror, and only the toolchain does.
    let backports = script_value(&script, "BUILD_BACKPORTS");
    assert_eq!(backports.split(',').collect::<BTreeSet<_>>(), BTreeSet::from(["rustc", "cargo"]));
    assert!(script.contains("echo \"deb $MIRROR $SUITE-backports main\""), "backports from another mirror");
    // Both bases from one suite, so the binary links against the runtime's own glibc.
    assert!(script.contains("rootfs handoff-build-base") && script.contains("rootfs handoff-runtime-base"));
    assert!(script.contains("$e import \"$OUT/$name.tar\" \"localhost/$name:$SUITE\""));
}

/// Stops the server when the test ends, however it ends.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET over a plain socket: the status code and the body.
fn get(port: u16, path: &str) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(PATIENCE))?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")?;
    let mut response = String::new();
    stream.read_to_string(&mut response)?;
    let status = response.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default();
    Ok((status, body))
}

/// Copies the directory `from` into `to`, readable by everyone, as `COPY` does.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let target = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_tree(&path, &target);
        } else {
            std::fs::copy(&path, &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

fn uid_of(pid: u32) -> u32 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:")).unwrap();
    line.split_whitespace().next().unwrap().parse().unwrap()
}

#[test]
fn the_runtime_stage_runs_as_the_image_user_with_the_image_env_and_answers_healthz() {
    assert!(rustix::process::geteuid().is_root(), "this test switches to the image's uid: run it as root");
    let (_, stages) = parse(&read("deploy/container/Dockerfile"));
    let runtime = stages.last().unwrap();
    let env = env_of(runtime);
    let uid: u32 = all(runtime, "USER")[0].split(':').next().unwrap().parse().unwrap();
    let gid: u32 = all(runtime, "USER")[0].split(':').nth(1).unwrap_or("0").parse().unwrap();

    // The image's layout under a root of its own: the binary, the web client, the user's data dir.
    let root = tempfile::tempdir().unwrap();
    std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let under = |path: &str| root.path().join(path.trim_start_matches('/'));
    let bin = under("/usr/local/bin/handoff");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    for dir in ["/usr", "/usr/local", "/usr/local/bin"] {
        std::fs::set_permissions(under(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::copy(env!("CARGO_BIN_EXE_handoff"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    let dist = repo("web-client/dist");
    assert!(dist.join("index.html").exists(), "web-client/dist is missing: the build needs npm");
    copy_tree(&dist, &under(&env["HANDOFF_WEB_DIR"]));
    let data = under(&env["HANDOFF_DATA_DIR"]);
    std::fs::create_dir_all(&data).unwrap();
    for dir in ["/var", "/var/lib"] {
        std::fs::set_permissions(under(dir), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::chown(&data, Some(uid), Some(gid)).unwrap();

    // The image's environment and nothing else, with its paths under the temporary root and a free
    // port in place of 8080 (other tests listen on this machine too).
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut command = Command::new(&bin);
    command.arg("serve").env_clear().env("PATH", "/usr/local/bin:/usr/bin:/bin");
    for (key, value) in &env {
        let value = match key.as_str() {
            "HANDOFF_LISTEN" => format!("127.0.0.1:{port}"),
            _ if value.starts_with('/') => under(value).display().to_string(),
            _ => value.clone(),
        };
        command.env(key, value);
    }
    command.env("HANDOFF_API_KEY", "container-test-key-0123456789");
    let server =
        Server(command.uid(uid).gid(gid).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap());

    let deadline = Instant::now() + PATIENCE;
    let health = loop {
        match get(port, "/healthz") {
            Ok(answer) => break answer,
            Err(e) => assert!(Instant::now() < deadline, "/healthz never answered: {e}"),
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(health, (200, "ok".to_owned()));
    assert_eq!(get(port, "/readyz").unwrap().0, 200, "/readyz");
    let (status, page) = get(port, "/").unwrap();
    assert_eq!(status, 200);
    assert!(page.contains("<script type=\"module\""), "the dashboard is not the built web client: {page}");
    assert_eq!(uid_of(server.0.id()), uid, "the server does not run as the image's user");

    // What it wrote, it wrote as that user and for that user alone (the volume's contents).
    let written: Vec<_> = std::fs::read_dir(&data).unwrap().map(|e| e.unwrap().path()).collect();
    assert!(written.iter().any(|p| p.ends_with("handoff.db")), "no store in the data dir: {written:?}");
    for path in &written {
        let meta = std::fs::metadata(path).unwrap();
        assert_eq!(meta.uid(), uid, "{} is not the image user's", path.display());
        let mode = meta.mode() & 0o777;
        assert!(mode & 0o077 == 0, "{} is readable by others ({mode:o})", path.display());
    }

    // `podman stop` sends the image's STOPSIGNAL; the server stops cleanly within the grace it needs.
    let mut server = server;
    let pid = rustix::process::Pid::from_raw(server.0.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(shutdown_secs());
    let status = loop {
        if let Some(status) = server.0.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "the server outlived its shutdown grace after SIGTERM");
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    server.0.stderr.take().unwrap().read_to_string(&mut stderr).unwrap();
    assert!(status.success(), "handoff exited with {status} on SIGTERM:\n{stderr}");
}
