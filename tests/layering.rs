//! The house rules of DESIGN.md §1, checked on the source: arrows point
//! down, and `unsafe` code lives only at the two foreign boundaries.
//!
//! Layers, top to bottom (a module may use the ones below it, never one
//! above): `abi` (C callers), `library`, `token`, `kms`, `object`,
//! `mechanism`, `audit`, `store`, `crypto`. `crypto::ffi` is the engine's
//! FFI home, below everything. Shared by all (no layer): `ck`, `error`,
//! `types`, `clock`, `logging`, and `config`, which composes the sections
//! the layers read. The binary (`src/bin/`) is above everything.
//!
//! The test reads every `crate::<module>` path of every file under `src/`
//! and prints each offending edge as `file: layer -> layer`.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const LAYERS: &[&str] = &["abi", "library", "token", "kms", "object", "mechanism", "audit", "store", "crypto"];
const SHARED: &[&str] = &["ck", "error", "types", "clock", "logging", "config"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The layer a file belongs to: its first path component under `src/`.
fn layer_of(rel: &Path) -> Option<&'static str> {
    let first = rel.components().next()?.as_os_str().to_str()?;
    let name = first.strip_suffix(".rs").unwrap_or(first);
    LAYERS.iter().chain(SHARED).find(|l| **l == name).copied()
}

/// Source text without comments (line and block) and string literals, so a
/// doc comment naming `crate::token` or the word `unsafe` is not code.
fn code_only(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            while i < b.len() && b[i] != b'\n' {
                i += 1;
            }
        } else if b[i..].starts_with(b"/*") {
            let mut depth = 0;
            while i < b.len() {
                if b[i..].starts_with(b"/*") {
                    depth += 1;
                    i += 2;
                } else if b[i..].starts_with(b"*/") {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
        } else if b[i] == b'"' {
            i += 1;
            while i < b.len() && b[i] != b'"' {
                if b[i] == b'\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if b[i] == b'\'' && i + 2 < b.len() && (b[i + 2] == b'\'' || (b[i + 1] == b'\\' && i + 3 < b.len())) {
            // A char literal ('"', '\n', '\''); lifetimes stay.
            let end = if b[i + 1] == b'\\' { i + 4 } else { i + 3 };
            i = end.min(b.len());
            out.push_str("' '");
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// The `crate::<module>` paths a file uses (also inside `use crate::{a, b}`).
fn crate_refs(code: &str) -> BTreeSet<String> {
    let mut refs = BTreeSet::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let after = &rest[at + "crate::".len()..];
        if let Some(group) = after.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name: String = item.trim().chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                if !name.is_empty() {
                    refs.insert(name);
                }
            }
        } else {
            let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                refs.insert(name);
            }
        }
        rest = after;
    }
    refs
}

fn src_files() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    files.sort();
    files
        .into_iter()
        .map(|p| {
            let rel = p.strip_prefix(&root).unwrap().to_path_buf();
            let text = std::fs::read_to_string(&p).unwrap();
            (rel, text)
        })
        .collect()
}

/// The upward edges of `files`: `(file, from, to)`.
fn upward_edges(files: &[(PathBuf, String)]) -> Vec<(String, &'static str, String)> {
    let rank = |l: &str| LAYERS.iter().position(|x| *x == l);
    let mut bad = Vec::new();
    for (rel, text) in files {
        let Some(from) = layer_of(rel) else { continue };
        let Some(from_rank) = rank(from) else { continue };
        let in_ffi = rel.starts_with("crypto/ffi");
        for to in crate_refs(&code_only(text)) {
            let Some(to_rank) = rank(&to) else { continue };
            let upward = to_rank < from_rank || (in_ffi && to != "crypto" && to_rank <= from_rank);
            if upward {
                bad.push((rel.display().to_string(), from, to));
            }
        }
    }
    bad
}

/// Files with `unsafe` code outside `src/abi/` and `src/crypto/ffi/`.
fn unsafe_outside_ffi(files: &[(PathBuf, String)]) -> Vec<String> {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    files
        .iter()
        .filter(|(rel, _)| !rel.starts_with("abi") && !rel.starts_with("crypto/ffi"))
        .filter(|(_, text)| {
            let code = code_only(text);
            code.match_indices("unsafe").any(|(i, _)| {
                let before = code[..i].chars().next_back().is_none_or(|c| !is_word(c));
                let after = code[i + 6..].chars().next().is_none_or(|c| !is_word(c));
                // `#![deny(unsafe_code)]` / `#[allow(unsafe_code)]` are rules, not unsafe code.
                before && after && !code[i..].starts_with("unsafe_code")
            })
        })
        .map(|(rel, _)| rel.display().to_string())
        .collect()
}

#[test]
fn arrows_point_down() {
    let files = src_files();
    let bad = upward_edges(&files);
    let report: Vec<String> = bad.iter().map(|(f, a, b)| format!("src/{f}: {a} -> {b}")).collect();
    assert!(report.is_empty(), "upward imports (DESIGN.md §1):\n{}", report.join("\n"));
}

#[test]
fn unsafe_only_at_the_foreign_boundaries() {
    let files = src_files();
    let bad = unsafe_outside_ffi(&files);
    assert!(bad.is_empty(), "unsafe code outside src/abi/ and src/crypto/ffi/: {bad:?}");
}

/// The checks themselves: an upward import and stray `unsafe` are caught,
/// comments and strings are not code.
#[test]
fn the_checks_catch_what_they_should() {
    let f = |p: &str, t: &str| (PathBuf::from(p), t.to_string());
    let files = vec![
        f("crypto/aes.rs", "use crate::abi::awslc;\n// crate::token in a comment\nlet s = \"crate::kms\";"),
        f("token/mod.rs", "use crate::{kms::attrs, store::Store, error::Result};"),
        f("store/mod.rs", "fn f() { crate::token::Token::open(); }"),
        f("kms/rules.rs", "/// unsafe in a doc\nfn g() { let x = unsafe { 1 }; }"),
        f("abi/util.rs", "unsafe fn h() {}"),
        f("lib.rs", "#![deny(unsafe_code)]"),
    ];
    let edges = upward_edges(&files);
    assert_eq!(
        edges,
        vec![
            ("crypto/aes.rs".to_string(), "crypto", "abi".to_string()),
            ("store/mod.rs".to_string(), "store", "token".to_string()),
        ]
    );
    assert_eq!(unsafe_outside_ffi(&files), vec!["kms/rules.rs".to_string()]);
}

/// One room per concern (issue 15): no source file over 800 lines, and
/// every file opens with a module doc naming what it owns.
#[test]
fn files_are_small_and_say_what_they_own() {
    let mut bad = Vec::new();
    for (path, text) in src_files() {
        let lines = text.lines().count();
        if lines > 800 {
            bad.push(format!("{}: {lines} lines (> 800)", path.display()));
        }
        if !text.trim_start().starts_with("//!") {
            bad.push(format!("{}: no module doc (//! ...) at the top", path.display()));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
