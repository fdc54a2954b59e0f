//! Builds the web client (`web-client/` → `web-client/dist/`), so that `cargo run -p handoff-server --
//! serve` alone gives a working dashboard and room. Needs Node.js and npm. Without them the server still
//! builds, with a warning, and serves a page saying how to build the client; the browser tests fail
//! loudly in that case. `HANDOFF_SKIP_WEB_BUILD=1` skips this step.

use std::path::Path;
use std::process::Command;

fn main() {
    let web = Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-client");
    for input in ["src", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"]
    {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    println!("cargo:rerun-if-env-changed=HANDOFF_SKIP_WEB_BUILD");
    if std::env::var_os("HANDOFF_SKIP_WEB_BUILD").is_some() || !web.join("package.json").exists() {
        return;
    }
    let npm = |args: &[&str]| {
        Command::new("npm").args(args).current_dir(&web).status().map(|s| s.success()).unwrap_or(false)
    };
    let installed = web.join("node_modules/.package-lock.json").exists()
        || npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    if !installed || !npm(&["run", "build", "--silent"]) {
        println!(
            "cargo:warning=the web client was not built (needs Node.js and npm); the server will show how to build it"
        );
    }
}
