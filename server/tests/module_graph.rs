//! No import circles: in the server crate and in the protocol crate, the modules that share a parent
//! depend on each other one way only, at every level of the module tree (the top-level modules, the
//! modules inside `api/`, and so on). Dependencies are read from the sources: every `crate::` path
//! (in `use` lines and inline alike, test code included, comments left out) and every `super::` path.
//! A path is charged to the deepest module it names, so `use crate::store::sqlite::log::X` in
//! `room/actor.rs` is an edge `room → store` between top-level modules.
//!
//! Two dependencies are known circles that other work on issue 19 takes apart; they are listed in
//! [`KNOWN`] and must still exist (a stale entry fails too, so the list only shrinks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A module path inside its crate, e.g. `["api", "rooms"]`; the crate root is empty.
type Module = Vec<String>;

/// Dependencies left out of the check because a circle through them is taken apart elsewhere, as
/// (crate, from, to) between sibling modules.
const KNOWN: &[(&str, &str, &str)] = &[];

#[test]
fn server_modules_form_no_circle() {
    check("server", &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
}

#[test]
fn protocol_modules_form_no_circle() {
    check("protocol", &Path::new(env!("CARGO_MANIFEST_DIR")).join("../protocol/src"));
}

#[test]
fn a_circle_is_found_at_every_level() {
    let edges = |pairs: &[(&str, &str)]| pairs.iter().map(|(a, b)| (module(a), module(b))).collect();
    let top = sibling_edges(&edges(&[("a::x", "b"), ("b", "a::y")]));
    assert!(find_cycle(&top[&Vec::new()]).is_some(), "a → b → a through a child of a");
    let inner = sibling_edges(&edges(&[("a::x", "a::y::z"), ("a::y", "a::x")]));
    assert!(find_cycle(&inner[&module("a")]).is_some(), "a::x → a::y → a::x");
    let ok = sibling_edges(&edges(&[("a::x", "a"), ("a", "a::x"), ("a::x", "b"), ("b", "c")]));
    assert!(ok.values().all(|g| find_cycle(g).is_none()), "parent and child are not siblings");
}

#[test]
fn paths_are_read_from_use_groups_and_inline_code() {
    let text = "use crate::{a::{B, c::D}, e};\n// crate::commented::Out\nfn f() { crate::g::h(); \
                let s = \"x\"; super::k::L; }\nmod tests {\n    use super::M;\n}\nuse crate::p::{q as Q};\n";
    let known: BTreeSet<Module> =
        ["", "a", "a::c", "e", "g", "p", "p::k", "p::q"].iter().map(|m| module(m)).collect();
    let deps = dependencies(&module("p::q"), text, &known, &BTreeMap::new());
    let names: BTreeSet<String> = deps.iter().map(|m| m.join("::")).collect();
    let expected: BTreeSet<String> = ["a", "a::c", "e", "g", "p::k"].iter().map(|s| s.to_string()).collect();
    assert_eq!(names, expected);
}

fn module(path: &str) -> Module {
    path.split("::").filter(|s| !s.is_empty()).map(str::to_owned).collect()
}

/// Fails, naming the circle, if the sibling modules of any parent depend on each other in a circle.
fn check(krate: &str, src: &Path) {
    let files = rust_files(src);
    assert!(!files.is_empty(), "no sources under {}", src.display());
    let sources: Vec<(Module, String)> = files
        .iter()
        .filter_map(|f| {
            let module = module_of(src, f)?;
            let text = std::fs::read_to_string(f).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
            Some((module, text))
        })
        .collect();
    let known: BTreeSet<Module> = sources.iter().map(|(m, _)| m.clone()).collect();
    let root_exports = sources
        .iter()
        .find(|(m, _)| m.is_empty())
        .map(|(_, text)| re_exports(text, &known))
        .unwrap_or_default();
    let mut edges = BTreeSet::new();
    for (from, text) in &sources {
        for to in dependencies(from, text, &known, &root_exports) {
            edges.insert((from.clone(), to));
        }
    }
    let mut used = BTreeSet::new();
    let mut by_parent = sibling_edges(&edges);
    for graph in by_parent.values_mut() {
        graph.retain(|(a, b)| {
            let hit = KNOWN.iter().position(|(k, x, y)| *k == krate && module(x) == *a && module(y) == *b);
            used.extend(hit);
            hit.is_none()
        });
    }
    for (parent, graph) in &by_parent {
        if let Some(cycle) = find_cycle(graph) {
            let names: Vec<String> = cycle.iter().map(|m| m.join("::")).collect();
            panic!(
                "{krate}: the modules under `{}` import each other in a circle: {}",
                if parent.is_empty() { "crate".to_owned() } else { parent.join("::") },
                names.join(" → ")
            );
        }
    }
    for (i, (k, from, to)) in KNOWN.iter().enumerate() {
        assert!(
            *k != krate || used.contains(&i),
            "{krate}: `{from}` no longer imports `{to}`: remove that entry from KNOWN in {}",
            file!()
        );
    }
}

/// Every edge between two modules neither of which contains the other, lifted to the two children of
/// their deepest common parent, grouped by that parent.
fn sibling_edges(edges: &BTreeSet<(Module, Module)>) -> BTreeMap<Module, BTreeSet<(Module, Module)>> {
    let mut by_parent: BTreeMap<Module, BTreeSet<(Module, Module)>> = BTreeMap::new();
    for (from, to) in edges {
        let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
        if common == from.len() || common == to.len() {
            continue;
        }
        let edge = (from[..=common].to_vec(), to[..=common].to_vec());
        by_parent.entry(from[..common].to_vec()).or_default().insert(edge);
    }
    by_parent
}

/// A circle in a directed graph, as its modules with the first repeated at the end.
fn find_cycle(edges: &BTreeSet<(Module, Module)>) -> Option<Vec<Module>> {
    let mut next: BTreeMap<&Module, Vec<&Module>> = BTreeMap::new();
    for (a, b) in edges {
        next.entry(a).or_default().push(b);
    }
    // 1: on the current path; 2: done, no circle through it.
    let mut state: BTreeMap<&Module, u8> = BTreeMap::new();
    let mut path: Vec<&Module> = Vec::new();
    fn visit<'a>(
        node: &'a Module,
        next: &BTreeMap<&'a Module, Vec<&'a Module>>,
        state: &mut BTreeMap<&'a Module, u8>,
        path: &mut Vec<&'a Module>,
    ) -> Option<Vec<Module>> {
        match state.get(node) {
            Some(2) => return None,
            Some(_) => {
                let start = path.iter().position(|m| *m == node).unwrap_or(0);
                let mut cycle: Vec<Module> = path[start..].iter().map(|m| (*m).clone()).collect();
                cycle.push(node.clone());
                return Some(cycle);
            }
            None => {}
        }
        state.insert(node, 1);
        path.push(node);
        for to in next.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(to, next, state, path) {
                return Some(cycle);
            }
        }
        path.pop();
        state.insert(node, 2);
        None
    }
    let starts: Vec<&Module> = next.keys().copied().collect();
    starts.into_iter().find_map(|node| visit(node, &next, &mut state, &mut path))
}

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        for entry in entries {
            let path = entry.unwrap_or_else(|e| panic!("{}: {e}", d.display())).path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The module a file holds (`lib.rs` the root, `a/mod.rs` and `a.rs` both `a`). `main.rs` is a crate of
/// its own and is left out.
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let mut parts: Module = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    match parts.last().map(String::as_str) {
        Some("main") if parts.len() == 1 => None,
        Some("lib") if parts.len() == 1 => Some(Vec::new()),
        Some("mod") => {
            parts.pop();
            Some(parts)
        }
        _ => Some(parts),
    }
}

/// The source without comments; string literals are kept (no `crate::` path is spelled in one).
fn code_of(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("/*").into_iter().chain(rest.find("//")).min() {
        out.push_str(&rest[..i]);
        rest = &rest[i..];
        let end = if rest.starts_with("//") {
            rest.find('\n').unwrap_or(rest.len())
        } else {
            rest.find("*/").map_or(rest.len(), |e| e + 2)
        };
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// The modules `from` depends on. `crate::` paths are absolute; `super::` paths are relative to the
/// module's parent, or to the module itself inside an inline `mod name {` block.
fn dependencies(
    from: &Module,
    text: &str,
    known: &BTreeSet<Module>,
    root_exports: &BTreeMap<String, Module>,
) -> BTreeSet<Module> {
    let code = code_of(text);
    let mut deps = BTreeSet::new();
    let mut inline_depth = 0usize;
    for line in code.lines() {
        let trimmed = line.trim_start();
        let at_column_0 = trimmed.len() == line.len();
        if at_column_0 && is_inline_mod(trimmed) {
            inline_depth = 1;
        } else if at_column_0 && trimmed.starts_with('}') {
            inline_depth = 0;
        }
        // `super` of a file's module; inside an inline module at the top of the file, the file itself.
        let super_base: Option<Module> = if inline_depth > 0 {
            Some(from.clone())
        } else {
            from.split_last().map(|(_, parent)| parent.to_vec())
        };
        for (start, base) in [("crate::", Some(Vec::new())), ("super::", super_base)] {
            let Some(base) = base else { continue };
            let mut i = 0;
            while let Some(found) = line[i..].find(start) {
                let at = i + found;
                i = at + start.len();
                let before = line[..at].chars().next_back();
                if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '$' || c == ':') {
                    continue;
                }
                let mut paths = Vec::new();
                // A `use` group may span lines: read it from the whole source at this point.
                let offset = line.as_ptr() as usize - code.as_ptr() as usize + i;
                read_paths(&code[offset..], &mut Vec::new(), &mut paths);
                for path in paths {
                    let mut full = base.clone();
                    let mut segments = path.as_slice();
                    while let Some(("super", rest)) = segments.split_first().map(|(s, r)| (s.as_str(), r)) {
                        full.pop();
                        segments = rest;
                    }
                    full.extend(segments.iter().cloned());
                    if let Some(m) = resolve(&full, known, root_exports) {
                        deps.insert(m);
                    }
                }
            }
        }
    }
    deps.remove(from);
    deps
}

fn is_inline_mod(line: &str) -> bool {
    let rest = line.strip_prefix("pub ").unwrap_or(line);
    rest.strip_prefix("mod ").is_some_and(|r| r.trim_end().ends_with('{'))
}

/// The deepest known module a path names; a crate-root item re-exported from a module counts as that
/// module's.
fn resolve(
    path: &[String],
    known: &BTreeSet<Module>,
    root_exports: &BTreeMap<String, Module>,
) -> Option<Module> {
    let depth = (0..=path.len()).rev().find(|&n| known.contains(&path[..n].to_vec()))?;
    if depth == 0 {
        return path.first().and_then(|name| root_exports.get(name)).cloned();
    }
    Some(path[..depth].to_vec())
}

/// The items the crate root re-exports with `pub use module::{A, B}`, by name.
fn re_exports(text: &str, known: &BTreeSet<Module>) -> BTreeMap<String, Module> {
    let mut out = BTreeMap::new();
    for line in code_of(text).lines() {
        let Some(rest) = line.trim_start().strip_prefix("pub use ") else { continue };
        let rest = rest.strip_prefix("crate::").unwrap_or(rest);
        let mut paths = Vec::new();
        read_paths(rest, &mut Vec::new(), &mut paths);
        for path in paths {
            if let (Some(name), Some(m)) = (path.last(), resolve(&path, known, &BTreeMap::new())) {
                out.insert(name.clone(), m);
            }
        }
    }
    out
}

/// Reads one path (`a::b::C`, `a::{b, c::{D, E}}`, `a::b::*`) from the start of `s` into `out`, each
/// as its segments after `prefix`.
fn read_paths(s: &str, prefix: &mut Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let mut i = 0;
    let pushed = prefix.len();
    let bytes = s.as_bytes();
    loop {
        while i < bytes.len() && bytes[i].is_ascii_whitespace() {
            i += 1;
        }
        if bytes.get(i) == Some(&b'{') {
            i += 1;
            loop {
                i += read_paths(&s[i..], prefix, out);
                i += alias_len(&s[i..]);
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                match bytes.get(i) {
                    Some(b',') => i += 1,
                    Some(b'}') => {
                        i += 1;
                        break;
                    }
                    _ => break,
                }
                while i < bytes.len() && bytes[i].is_ascii_whitespace() {
                    i += 1;
                }
                if bytes.get(i) == Some(&b'}') {
                    i += 1;
                    break;
                }
            }
            prefix.truncate(pushed);
            return i;
        }
        let start = i;
        while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_' || bytes[i] == b'*') {
            i += 1;
        }
        let segment = &s[start..i];
        if !segment.is_empty() && segment != "self" && segment != "*" {
            prefix.push(segment.to_owned());
        }
        if s[i..].starts_with("::") && !segment.is_empty() {
            i += 2;
            continue;
        }
        if !prefix.is_empty() {
            out.push(prefix.clone());
        }
        prefix.truncate(pushed);
        return i;
    }
}

/// The length of an ` as Name` rename at the start of `s`, or 0.
fn alias_len(s: &str) -> usize {
    let trimmed = s.trim_start();
    let Some(rest) = trimmed.strip_prefix("as ") else { return 0 };
    let name = rest.trim_start();
    let name_len = name.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(name.len());
    s.len() - name.len() + name_len
}
