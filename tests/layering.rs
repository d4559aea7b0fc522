//! The layering of ARCHITECTURE.md, checked over the source (issue 15 item 7): `src/model`
//! and `src/decode` use no tokio, hyper, `std::fs` or `std::net`; no file imports a module
//! of a layer above its own; no two files import each other.
//!
//! The check reads `src/**/*.rs` as text. Comments, string literals and test code
//! (`tests.rs` files, modules declared under `#[cfg(test)]`, `#[cfg(test)] mod tests { .. }`
//! blocks) are left out: tests may reach across layers to drive the whole program. A
//! module using its own submodules (a `mod.rs` re-exporting or calling its children) is the
//! module tree, not an import, and is not counted as one.

use std::collections::{BTreeMap, BTreeSet};
use std::error::Error;
use std::path::{Path, PathBuf};

/// The layers, bottom up: each top-level module with the modules it may use. Everything
/// not listed is above it. `cli` wires every layer; nothing uses `cli`.
const LAYERS: &[(&str, &[&str])] = &[
    ("util", &[]),
    ("model", &[]),
    ("decode", &["model", "util"]),
    ("timeline", &["model", "decode", "util"]),
    ("capture", &["model", "decode", "util"]),
    ("filter", &["model", "decode", "util"]),
    ("net", &["model", "decode", "util"]),
    ("rules", &["model", "decode", "filter", "util"]),
    (
        "proxy",
        &[
            "model", "decode", "capture", "net", "rules", "filter", "util",
        ],
    ),
    ("server", &["model", "decode", "net", "util"]),
    (
        "replay",
        &["model", "decode", "timeline", "capture", "net", "util"],
    ),
    (
        "tui",
        &["model", "decode", "timeline", "capture", "filter", "util"],
    ),
    (
        "cli",
        &[
            "model", "decode", "timeline", "capture", "filter", "net", "proxy", "server", "replay",
            "tui", "util", "rules",
        ],
    ),
];

/// Top-level modules that must stay pure (no IO, no async runtime).
const PURE: &[&str] = &["model", "decode"];
/// What a pure module must not name.
const FORBIDDEN_IN_PURE: &[&str] = &["tokio", "hyper", "std::fs", "std::net"];

type TestResult = Result<(), Box<dyn Error>>;

/// One source file: its module path (`["decode", "spfilesync", "body"]`) and its code with
/// comments, literals and test code removed.
struct SourceFile {
    name: String,
    module: Vec<String>,
    code: String,
}

/// Every violation in `files` (name, source text), one line each.
fn violations(files: &[(String, String)]) -> Vec<String> {
    let test_modules = test_only_modules(files);
    let parsed: Vec<SourceFile> = files
        .iter()
        .filter_map(|(name, text)| {
            let module = module_path(name)?;
            let is_test = module.last().is_some_and(|m| m == "tests")
                || test_modules
                    .iter()
                    .any(|t| module.len() >= t.len() && module[..t.len()] == t[..]);
            (!is_test).then(|| SourceFile {
                name: name.clone(),
                module,
                code: strip_test_blocks(&strip_comments_and_literals(text)),
            })
        })
        .collect();
    let modules: BTreeSet<Vec<String>> = parsed.iter().map(|f| f.module.clone()).collect();
    let mut out = Vec::new();
    let mut edges: BTreeSet<(String, String)> = BTreeSet::new();
    let by_module: BTreeMap<&Vec<String>, &str> = parsed
        .iter()
        .map(|f| (&f.module, f.name.as_str()))
        .collect();
    for f in &parsed {
        let top = f.module.first().map(String::as_str).unwrap_or("");
        if PURE.contains(&top) {
            for word in FORBIDDEN_IN_PURE {
                if names(&f.code, word) {
                    out.push(format!("{}: a pure module uses {word}", f.name));
                }
            }
        }
        for path in imported_paths(&f.code) {
            let Some(target) = resolve(&path, &f.module, &modules) else {
                continue;
            };
            if target == f.module || target.starts_with(&f.module) {
                continue;
            }
            let to_top = target.first().map(String::as_str).unwrap_or("");
            if !to_top.is_empty() && to_top != top && !may_use(top, to_top) {
                let to = by_module.get(&target).copied().unwrap_or("?");
                let said = format!("{}: layer {top} imports {to} of layer {to_top}", f.name);
                if !out.iter().any(|o: &String| o.starts_with(&said)) {
                    out.push(format!("{said} ({})", path.join("::")));
                }
            }
            if let Some(to) = by_module.get(&target) {
                edges.insert((f.name.clone(), (*to).to_owned()));
            }
        }
    }
    for (a, b) in &edges {
        if a < b && edges.contains(&(b.clone(), a.clone())) {
            out.push(format!("{a} and {b} import each other"));
        }
    }
    out.sort();
    out.dedup();
    out
}

/// Whether layer `from` may use layer `to`.
fn may_use(from: &str, to: &str) -> bool {
    LAYERS
        .iter()
        .find(|(m, _)| *m == from)
        .is_some_and(|(_, deps)| deps.contains(&to))
}

/// `src/a/b.rs` → `[a, b]`, `src/a/mod.rs` → `[a]`, `src/lib.rs` → `[]`; `None` for the
/// binary's `main.rs` and non-Rust files.
fn module_path(name: &str) -> Option<Vec<String>> {
    let rel = name.strip_prefix("src/")?.strip_suffix(".rs")?;
    if rel == "main" {
        return None;
    }
    let mut parts: Vec<String> = rel.split('/').map(str::to_owned).collect();
    if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
        parts.pop();
    }
    Some(parts)
}

/// Modules declared as `#[cfg(test)] mod name;` in their parent.
fn test_only_modules(files: &[(String, String)]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    for (name, text) in files {
        let Some(parent) = module_path(name) else {
            continue;
        };
        let code = strip_comments_and_literals(text);
        let mut rest = code.as_str();
        while let Some(at) = rest.find("#[cfg(test)]") {
            rest = &rest[at + "#[cfg(test)]".len()..];
            let item = rest.trim_start();
            let item = item.strip_prefix("pub(crate) ").unwrap_or(item);
            if let Some(decl) = item.strip_prefix("mod ") {
                let ident: String = decl
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if decl[ident.len()..].trim_start().starts_with(';') {
                    let mut m = parent.clone();
                    m.push(ident);
                    out.push(m);
                }
            }
        }
    }
    out
}

/// Source text with comments removed and string and character literals emptied, so that
/// neither can hold something that looks like a path.
fn strip_comments_and_literals(s: &str) -> String {
    let b: Vec<char> = s.chars().collect();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let next = b.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < b.len() && b[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < b.len() {
                if b[i] == '/' && b.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if b[i] == '*' && b.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if c == 'r'
            && (next == Some('"') || next == Some('#'))
            && !b
                .get(i.wrapping_sub(1))
                .is_some_and(|p| p.is_alphanumeric() || *p == '_')
        {
            // Raw string r"..." or r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while b.get(j) == Some(&'#') {
                hashes += 1;
                j += 1;
            }
            if b.get(j) != Some(&'"') {
                out.push(c);
                i += 1;
                continue;
            }
            j += 1;
            loop {
                if j >= b.len() {
                    break;
                }
                if b[j] == '"' && (0..hashes).all(|k| b.get(j + 1 + k) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            out.push_str("\"\"");
            i = j;
        } else if c == '"' {
            i += 1;
            while i < b.len() && b[i] != '"' {
                if b[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c == '\'' {
            // A character literal ('x', '\n', '\u{1b}') or a lifetime ('a).
            let close = if next == Some('\\') {
                (i + 2..b.len().min(i + 12)).find(|&k| b[k] == '\'')
            } else if b.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match close {
                Some(k) => {
                    out.push_str("' '");
                    i = k + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// Code with every `#[cfg(test)]` item that has a body (`mod tests { .. }`, a test-only
/// `fn` or `impl`) removed.
fn strip_test_blocks(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at..];
        let semi = item.find(';');
        let open = item.find('{');
        match (open, semi) {
            (Some(o), s) if s.is_none_or(|s| o < s) => {
                let mut depth = 0usize;
                let mut end = item.len();
                for (k, ch) in item[o..].char_indices() {
                    match ch {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                end = o + k + 1;
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                rest = &item[end..];
            }
            (_, Some(s)) => rest = &item[s + 1..],
            _ => rest = "",
        }
    }
    out.push_str(rest);
    out
}

/// Whether `code` names `word` as a path (`tokio::spawn`, `use std::fs;`,
/// `std::{fs, io}`), not as part of a longer identifier.
fn names(code: &str, word: &str) -> bool {
    let paths = imported_paths_from(code, &["std", "tokio", "hyper"]);
    let want: Vec<&str> = word.split("::").collect();
    paths
        .iter()
        .any(|p| p.len() >= want.len() && p.iter().zip(&want).all(|(a, b)| a == b))
}

/// Every path starting with `crate`, `super` or `self` the code names, in `use` trees
/// (expanded) and inline.
fn imported_paths(code: &str) -> Vec<Vec<String>> {
    imported_paths_from(code, &["crate", "super", "self"])
}

fn imported_paths_from(code: &str, roots: &[&str]) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let chars: Vec<char> = code.chars().collect();
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut i = 0;
    while i < chars.len() {
        if !is_ident(chars[i]) || (i > 0 && (is_ident(chars[i - 1]) || chars[i - 1] == ':')) {
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && is_ident(chars[i]) {
            i += 1;
        }
        let word: String = chars[start..i].iter().collect();
        if word == "use" {
            let end = (i..chars.len())
                .find(|&k| chars[k] == ';')
                .unwrap_or(chars.len());
            let tree: String = chars[i..end].iter().collect();
            for p in expand_use_tree(&tree) {
                if p.first().is_some_and(|r| roots.contains(&r.as_str())) {
                    out.push(p);
                }
            }
            i = end;
        } else if roots.contains(&word.as_str()) && chars.get(i) == Some(&':') {
            let mut path = vec![word];
            while chars.get(i) == Some(&':') && chars.get(i + 1) == Some(&':') {
                let s = i + 2;
                let mut e = s;
                while e < chars.len() && is_ident(chars[e]) {
                    e += 1;
                }
                if e == s {
                    break;
                }
                path.push(chars[s..e].iter().collect());
                i = e;
            }
            out.push(path);
        }
    }
    out
}

/// `crate::a::{b, c::{d, e}}` → `[crate,a,b]`, `[crate,a,c,d]`, `[crate,a,c,e]`.
fn expand_use_tree(tree: &str) -> Vec<Vec<String>> {
    fn go(s: &str, prefix: &[String], out: &mut Vec<Vec<String>>) {
        let s = s.trim();
        let s = s.strip_prefix("::").unwrap_or(s);
        if let Some(open) = s.find('{') {
            let mut p = prefix.to_vec();
            p.extend(path_segments(&s[..open]));
            let inner = s[open + 1..]
                .trim_end()
                .strip_suffix('}')
                .unwrap_or(&s[open + 1..]);
            for part in split_top_level(inner) {
                go(part, &p, out);
            }
        } else {
            let path = s.split(" as ").next().unwrap_or(s);
            let mut p = prefix.to_vec();
            p.extend(path_segments(path));
            if p.last().is_some_and(|l| l == "self") {
                p.pop();
            }
            if !p.is_empty() {
                out.push(p);
            }
        }
    }
    let tree = tree.trim();
    let tree = tree
        .strip_prefix("pub(crate)")
        .or_else(|| tree.strip_prefix("pub(super)"))
        .unwrap_or(tree);
    let mut out = Vec::new();
    go(tree, &[], &mut out);
    out
}

fn path_segments(s: &str) -> Vec<String> {
    s.split("::")
        .map(str::trim)
        .filter(|x| !x.is_empty() && *x != "*")
        .map(str::to_owned)
        .collect()
}

/// Splits `a, b::{c, d}, e` at the commas outside braces.
fn split_top_level(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (k, ch) in s.char_indices() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..k]);
                start = k + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out.into_iter().filter(|p| !p.trim().is_empty()).collect()
}

/// The file module a path lands in: the longest prefix that is a module with a file.
fn resolve(
    path: &[String],
    here: &[String],
    modules: &BTreeSet<Vec<String>>,
) -> Option<Vec<String>> {
    let mut abs: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("self") => {
            abs = here.to_vec();
            rest = &path[1..];
        }
        Some("super") => {
            abs = here.to_vec();
            while rest.first().is_some_and(|s| s == "super") {
                abs.pop()?;
                rest = &rest[1..];
            }
        }
        _ => return None,
    }
    abs.extend(rest.iter().cloned());
    (0..=abs.len())
        .rev()
        .map(|n| abs[..n].to_vec())
        .find(|m| !m.is_empty() && modules.contains(m))
}

/// `src/**/*.rs` of this package, as (`src/...` name, text).
fn read_sources() -> Result<Vec<(String, String)>, Box<dyn Error>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stack = vec![root.join("src")];
    let mut out = Vec::new();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path: PathBuf = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let name = path
                    .strip_prefix(root)?
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((name, std::fs::read_to_string(&path)?));
            }
        }
    }
    out.sort();
    Ok(out)
}

#[test]
fn the_source_keeps_the_layers() -> TestResult {
    let files = read_sources()?;
    assert!(
        files.len() > 50,
        "expected the whole source tree, read {} files",
        files.len()
    );
    let v = violations(&files);
    assert!(v.is_empty(), "layering violations:\n{}", v.join("\n"));
    Ok(())
}

#[test]
fn every_top_level_module_has_a_layer() -> TestResult {
    for (name, _) in read_sources()? {
        let Some(module) = module_path(&name) else {
            continue;
        };
        if let Some(top) = module.first() {
            assert!(
                LAYERS.iter().any(|(m, _)| m == top),
                "{name}: module {top} is missing from LAYERS"
            );
        }
    }
    Ok(())
}

fn tree(files: &[(&str, &str)]) -> Vec<(String, String)> {
    files
        .iter()
        .map(|(n, t)| ((*n).to_owned(), (*t).to_owned()))
        .collect()
}

#[test]
fn an_upward_import_is_reported() {
    let v = violations(&tree(&[
        ("src/lib.rs", "pub mod decode; pub mod proxy;"),
        ("src/decode/mod.rs", "use crate::proxy::conn::Conn;\n"),
        ("src/proxy/mod.rs", "pub mod conn;"),
        ("src/proxy/conn.rs", "pub struct Conn;"),
    ]));
    assert_eq!(
        v,
        ["src/decode/mod.rs: layer decode imports src/proxy/conn.rs of layer proxy (crate::proxy::conn::Conn)"]
    );
}

#[test]
fn upward_imports_in_use_trees_and_inline_paths_are_reported() {
    let v = violations(&tree(&[
        ("src/proxy/mod.rs", "pub mod conn;"),
        ("src/proxy/conn.rs", ""),
        ("src/cli/mod.rs", ""),
        (
            "src/timeline/engine.rs",
            "use crate::{model::Exchange, proxy::{conn::{self, X}}};\nfn f() { crate::cli::run(); }",
        ),
    ]));
    assert_eq!(v.len(), 2, "{v:?}");
    assert!(
        v[0].contains("imports src/cli/mod.rs of layer cli"),
        "{v:?}"
    );
    assert!(
        v[1].contains("imports src/proxy/conn.rs of layer proxy"),
        "{v:?}"
    );
}

#[test]
fn two_files_importing_each_other_are_reported() {
    let v = violations(&tree(&[
        ("src/tui/mod.rs", "mod app; mod layout;"),
        ("src/tui/app.rs", "use super::layout::Areas;"),
        ("src/tui/layout.rs", "use crate::tui::app::App;"),
    ]));
    assert_eq!(
        v,
        ["src/tui/app.rs and src/tui/layout.rs import each other"]
    );
}

#[test]
fn io_in_a_pure_module_is_reported() {
    let v = violations(&tree(&[
        ("src/decode/a.rs", "use std::{fs, io};"),
        (
            "src/decode/b.rs",
            "fn f() { let _ = std::net::TcpStream::connect(x); }",
        ),
        ("src/model/mod.rs", "async fn f() { tokio::spawn(g()); }"),
        ("src/decode/c.rs", "use hyper::Request;"),
    ]));
    assert_eq!(
        v,
        [
            "src/decode/a.rs: a pure module uses std::fs",
            "src/decode/b.rs: a pure module uses std::net",
            "src/decode/c.rs: a pure module uses hyper",
            "src/model/mod.rs: a pure module uses tokio",
        ]
    );
}

#[test]
fn comments_strings_tests_and_the_module_tree_are_not_imports() {
    let v = violations(&tree(&[
        (
            "src/decode/mod.rs",
            "//! see [`crate::proxy::conn`]\npub mod a;\npub use a::X;\nuse self::a::Y;\n\
             const S: &str = \"crate::proxy::conn and std::fs\";\n\
             const R: &str = r#\"use crate::cli;\"#;\nconst C: char = '\"';\n\
             fn f<'a>(x: &'a str) {}\n\
             #[cfg(test)]\nmod tests {\n    use std::fs;\n    use crate::cli::run;\n}\n\
             #[cfg(test)]\nmod more;\n",
        ),
        ("src/decode/a.rs", "use super::Diagnostic; /* crate::cli */"),
        ("src/decode/more.rs", "use crate::cli::run; use std::fs;"),
        (
            "src/decode/tests.rs",
            "use crate::proxy::conn; use std::fs;",
        ),
        ("src/proxy/conn.rs", ""),
        ("src/cli/mod.rs", ""),
    ]));
    assert!(v.is_empty(), "{v:?}");
}
