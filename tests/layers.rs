//! The architecture, checked: every `crate::` path in `src/` points to the module's own layer
//! or one below it (the order is the "Layers, lowest first" line at the top of `src/lib.rs`),
//! the files inside one folder import each other without a cycle, and no file but a test file
//! is longer than [`MAX_LINES`]. Test code (`#[cfg(test)] mod tests` and `tests.rs`) may reach
//! anywhere and is not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest a non-test source file may be (code and its doc comments, without its tests).
const MAX_LINES: usize = 800;

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// The layer list from lib.rs's "Layers, lowest first: `a, b, …`." paragraph.
fn layers() -> Vec<String> {
    let lib = std::fs::read_to_string(src().join("lib.rs")).expect("src/lib.rs");
    let doc: String = lib
        .lines()
        .filter_map(|l| l.strip_prefix("//!"))
        .collect::<Vec<_>>()
        .join(" ");
    let after = doc
        .split_once("Layers, lowest first: `")
        .expect("src/lib.rs states \"Layers, lowest first: `a, b, ...`\"")
        .1;
    let list = after.split_once('`').expect("the layer list ends with `").0;
    list.split(',').map(|s| s.trim().to_owned()).collect()
}

/// Every `.rs` file under `dir`, as paths relative to `src/`.
fn files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).expect("read src") {
        let p = e.expect("entry").path();
        if p.is_dir() {
            files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p.strip_prefix(src()).expect("under src").to_path_buf());
        }
    }
}

fn is_test_file(rel: &Path) -> bool {
    rel.file_name().is_some_and(|n| n == "tests.rs")
}

/// The file's code without its test module and without comments.
fn code(rel: &Path) -> String {
    let text = std::fs::read_to_string(src().join(rel)).expect("read");
    let text = match text.find("#[cfg(test)]\nmod tests") {
        Some(i) => &text[..i],
        None => &text[..],
    };
    text.lines()
        .map(|l| match l.find("//") {
            // A `//` inside a string (a URL) is rare in paths; cut only comment lines and
            // trailing comments that follow code.
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The top-level module a file belongs to (`lib.rs` and `main.rs` are the crate root; the
/// binaries in `bin/` use the library from outside).
fn top(rel: &Path) -> Option<String> {
    let first = rel.components().next()?.as_os_str().to_str()?.to_owned();
    if first == "bin" {
        return None;
    }
    if rel.components().count() == 1 {
        let stem = first.trim_end_matches(".rs");
        return (stem != "lib" && stem != "main").then(|| stem.to_owned());
    }
    Some(first)
}

/// Each `crate::a::b` path in `code`, as its segments (`["a", "b"]`), including those inside
/// `use crate::{a::b, c}` groups (each group member counts).
fn crate_paths(code: &str) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    let mut rest = code;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `my_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = matching_brace(group);
            for member in split_top(&group[..end]) {
                out.push(segments(member));
            }
            continue;
        }
        out.push(segments(rest));
    }
    out.retain(|p| !p.is_empty());
    out
}

fn matching_brace(s: &str) -> usize {
    let mut depth = 0;
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => return i,
            '}' => depth -= 1,
            _ => {}
        }
    }
    s.len()
}

fn split_top(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut out) = (0, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

fn segments(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s;
    loop {
        let end = rest
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        if end == 0 {
            break;
        }
        out.push(rest[..end].to_owned());
        match rest[end..].strip_prefix("::") {
            Some(r) if !r.starts_with('{') && !r.starts_with('*') => rest = r,
            _ => break,
        }
    }
    out
}

#[test]
fn the_layer_list_names_every_module_once() {
    let layers = layers();
    let mut on_disk = BTreeSet::new();
    let mut all = Vec::new();
    files(&src(), &mut all);
    for f in &all {
        if let Some(t) = top(f) {
            on_disk.insert(t);
        }
    }
    let listed: BTreeSet<String> = layers.iter().cloned().collect();
    assert_eq!(
        listed.len(),
        layers.len(),
        "a layer is listed twice: {layers:?}"
    );
    assert_eq!(
        listed, on_disk,
        "src/lib.rs's layer list and the modules in src/ differ"
    );
}

#[test]
fn every_module_imports_only_from_its_layer_and_below() {
    let layers = layers();
    let rank = |m: &str| layers.iter().position(|l| l == m);
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut wrong = Vec::new();
    for f in all.iter().filter(|f| !is_test_file(f)) {
        let Some(me) = top(f) else { continue };
        let my_rank = rank(&me).unwrap_or_else(|| panic!("{me} is not in lib.rs's layer list"));
        for path in crate_paths(&code(f)) {
            let to = &path[0];
            let Some(r) = rank(to) else { continue };
            if r > my_rank {
                wrong.push(format!(
                    "src/{}: crate::{} ({to} is above {me})",
                    f.display(),
                    path.join("::")
                ));
            }
        }
    }
    wrong.sort();
    wrong.dedup();
    assert!(
        wrong.is_empty(),
        "imports against the layer order (lib.rs: {}):\n{}",
        layers.join(", "),
        wrong.join("\n")
    );
}

#[test]
fn files_in_one_folder_import_each_other_without_a_cycle() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    // Edges between sibling files: `crate::folder::file` and `super::file` (from a file that is
    // not the folder's mod.rs). A folder's mod.rs is its face: files may use what it declares.
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let name = |f: &Path| f.with_extension("").display().to_string();
    for f in all.iter().filter(|f| !is_test_file(f)) {
        let Some(dir) = f.parent().filter(|d| !d.as_os_str().is_empty()) else {
            continue;
        };
        if f.file_name().is_some_and(|n| n == "mod.rs") {
            continue;
        }
        let dir_path: Vec<String> = dir
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        let code = code(f);
        let mut targets = BTreeSet::new();
        for path in crate_paths(&code) {
            if path.len() > dir_path.len() && path[..dir_path.len()] == dir_path[..] {
                targets.insert(path[dir_path.len()].clone());
            }
        }
        let mut rest = &code[..];
        while let Some(i) = rest.find("super::") {
            rest = &rest[i + "super::".len()..];
            let seg = segments(rest);
            if let Some(s) = seg.first() {
                targets.insert(s.clone());
            }
        }
        let me = name(f);
        for t in targets {
            let sibling = dir.join(format!("{t}.rs"));
            let sibling_dir = dir.join(&t).join("mod.rs");
            let target = if all.contains(&sibling) {
                name(&sibling)
            } else if all.contains(&sibling_dir) {
                dir.join(&t).display().to_string()
            } else {
                continue; // an item of mod.rs, not a file
            };
            if target != me {
                edges.entry(me.clone()).or_default().insert(target);
            }
        }
    }
    // Depth-first search for a cycle.
    fn visit(
        n: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_owned());
            return Some(cycle);
        }
        if done.contains(n) {
            return None;
        }
        stack.push(n.to_owned());
        for m in edges.get(n).into_iter().flatten() {
            if let Some(c) = visit(m, edges, stack, done) {
                return Some(c);
            }
        }
        stack.pop();
        done.insert(n.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    for n in edges.keys() {
        if let Some(c) = visit(n, &edges, &mut Vec::new(), &mut done) {
            panic!("files import each other in a cycle: {}", c.join(" -> "));
        }
    }
}

#[test]
fn no_source_file_but_tests_is_longer_than_the_limit() {
    let mut all = Vec::new();
    files(&src(), &mut all);
    let mut long: Vec<String> = all
        .iter()
        .filter(|f| !is_test_file(f))
        .filter_map(|f| {
            let text = std::fs::read_to_string(src().join(f)).expect("read");
            let without_tests = match text.find("#[cfg(test)]\nmod tests") {
                Some(i) => &text[..i],
                None => &text[..],
            };
            let n = without_tests.lines().count();
            (n > MAX_LINES).then(|| format!("src/{}: {n} lines", f.display()))
        })
        .collect();
    long.sort();
    assert!(
        long.is_empty(),
        "files over {MAX_LINES} lines (split them by job; tests may go to a tests.rs beside):\n{}",
        long.join("\n")
    );
}

#[test]
fn the_parser_reads_paths_and_groups() {
    let c = "use crate::{common::secret::Secret, decide::{Record, Sink}};\nlet x = crate::export::finding::Finding::parse(s);\nuse my_crate::x;";
    let got: Vec<String> = crate_paths(c).into_iter().map(|p| p.join("::")).collect();
    assert_eq!(
        got,
        [
            "common::secret::Secret",
            "decide",
            "export::finding::Finding::parse"
        ]
    );
}
