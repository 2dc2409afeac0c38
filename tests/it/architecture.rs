//! The shape of the crate, checked: which top-level module may use which.
//!
//! Klaxon's modules form layers, one direction of travel from intake to side effects (the
//! map is in `src/lib.rs` and `docs/architecture.md`). A module may use modules in its own
//! layer or below it; a use of a layer above, or a cycle between modules, fails here with
//! the offending lines. The graph is read from the source itself, from every `crate::…`
//! path outside comments and test code, so the check needs no tool beyond the compiler.
//!
//! `cargo test --test it architecture -- --nocapture` prints the graph.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Each top-level module of `src/` appears exactly once.
const LAYERS: &[(&str, &[&str])] = &[
    (
        "foundations",
        &[
            "clock",
            "error_text",
            "metrics",
            "open_files",
            "redacted",
            "retry_timing",
            "stored_text",
            "wire_enum",
            "client",
        ],
    ),
    ("the settings machinery", &["config"]),
    ("the phone book", &["people"]),
    ("outside services (clients)", &["signing", "llm", "merge"]),
    ("the store", &["store"]),
    ("schedules", &["oncall"]),
    ("intake", &["intake"]),
    ("the destination seam", &["destinations"]),
    ("deliveries", &["delivery"]),
    ("escalations", &["voice"]),
    ("decisions", &["pipeline"]),
    ("ingresses beside HTTP", &["ingress"]),
    ("settings", &["settings"]),
    ("simulators", &["sandbox"]),
    ("HTTP", &["http"]),
    ("wiring", &["server"]),
    ("the demo", &["demo"]),
];

/// One use of another top-level module: where it is and what it names.
#[derive(Debug, Clone)]
struct Use {
    file: PathBuf,
    line: usize,
    path: String,
}

/// Top-level module → the modules it uses, with every place that uses them.
type Graph = BTreeMap<String, BTreeMap<String, Vec<Use>>>;

#[test]
fn no_module_uses_a_layer_above_it() {
    let graph = read_graph(&source_root());
    print_graph(&graph);
    let layer_of = layer_of();
    let unplaced: Vec<_> = graph
        .keys()
        .filter(|m| !layer_of.contains_key(*m))
        .collect();
    assert!(
        unplaced.is_empty(),
        "top-level modules missing from LAYERS in tests/it/architecture.rs: {unplaced:?}"
    );
    let upward = upward_uses(&graph, &layer_of);
    assert!(
        upward.is_empty(),
        "modules that use a layer above their own:\n{}",
        upward.join("\n")
    );
}

#[test]
fn only_the_wiring_and_the_demo_start_simulators() {
    let graph = read_graph(&source_root());
    let users: Vec<&str> = graph
        .iter()
        .filter(|(_, edges)| edges.contains_key("sandbox"))
        .map(|(module, _)| module.as_str())
        .collect();
    assert!(
        users.iter().all(|m| ["server", "demo"].contains(m)),
        "only server (its zero-configuration fallback) and demo may use the sandbox: {users:?}"
    );
}

#[test]
fn no_cycles_between_modules() {
    let graph = read_graph(&source_root());
    let cycles = cycles(&graph);
    assert!(
        cycles.is_empty(),
        "cycles between top-level modules (each group uses itself through the others): {cycles:?}"
    );
}

#[test]
fn the_reader_sees_uses_and_skips_comments_and_tests() {
    let text = "//! Uses [`crate::store`] in a doc comment only.\n\
                use crate::clock;\n\
                use crate::{metrics, store::Store};\n\
                fn f() { crate::llm::call(); } // crate::voice in a comment\n\
                #[cfg(test)]\n\
                mod tests {\n\
                    use crate::sandbox;\n\
                }\n";
    let used: BTreeSet<String> = uses_in(text).into_iter().map(|(_, m, _)| m).collect();
    let expected: BTreeSet<String> = ["clock", "metrics", "store", "llm"]
        .map(String::from)
        .into();
    assert_eq!(used, expected);
}

fn source_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn layer_of() -> BTreeMap<String, usize> {
    let mut layer_of = BTreeMap::new();
    for (index, (_, modules)) in LAYERS.iter().enumerate() {
        for module in *modules {
            layer_of.insert((*module).to_owned(), index);
        }
    }
    layer_of
}

/// Reads every `.rs` file under `src/` except the crate roots and test files.
fn read_graph(root: &Path) -> Graph {
    let mut graph = Graph::new();
    let mut files = Vec::new();
    collect_files(root, &mut files);
    // Items of the crate root (`crate::VERSION`) are not modules.
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| top_level_module(f.strip_prefix(root).unwrap_or(f)))
        .collect();
    for file in files {
        let relative = file.strip_prefix(root).unwrap_or(&file);
        let Some(module) = top_level_module(relative) else {
            continue;
        };
        let Ok(text) = fs::read_to_string(&file) else {
            continue;
        };
        let edges = graph.entry(module.clone()).or_default();
        for (line, used, path) in uses_in(&text) {
            if used != module && modules.contains(&used) {
                edges.entry(used).or_default().push(Use {
                    file: relative.to_owned(),
                    line,
                    path,
                });
            }
        }
    }
    graph
}

fn collect_files(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let mut entries: Vec<_> = entries.flatten().map(|e| e.path()).collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            collect_files(&path, files);
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
}

/// `voice/engine/mod.rs` → `voice`; `clock.rs` → `clock`; the crate roots and test files
/// (`tests.rs`, anything under a `tests/` folder) → none.
fn top_level_module(relative: &Path) -> Option<String> {
    let parts: Vec<&str> = relative.iter().filter_map(|p| p.to_str()).collect();
    let is_test = parts
        .iter()
        .any(|p| *p == "tests" || *p == "tests.rs" || p.ends_with("_tests.rs"));
    match parts.as_slice() {
        _ if is_test => None,
        ["lib.rs"] | ["main.rs"] => None,
        [file] => file.strip_suffix(".rs").map(str::to_owned),
        [dir, ..] => Some((*dir).to_owned()),
        [] => None,
    }
}

/// Every `crate::<module>…` path in the code of `text`, as (line, module, path), skipping
/// comments and everything from a `#[cfg(test)]` module on.
fn uses_in(text: &str) -> Vec<(usize, String, String)> {
    let mut found = Vec::new();
    let mut lines = text.lines().enumerate().peekable();
    while let Some((index, line)) = lines.next() {
        let code = line.split("//").next().unwrap_or("");
        if code.trim() == "#[cfg(test)]"
            && lines
                .peek()
                .is_some_and(|(_, next)| next.trim_start().starts_with("mod "))
        {
            break;
        }
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            let after = &rest[at + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    let item = item.trim();
                    let module: String = item
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !module.is_empty() {
                        found.push((index + 1, module, format!("crate::{item}")));
                    }
                }
            } else {
                let path: String = after
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == ':')
                    .collect();
                let module = path.split("::").next().unwrap_or("").to_owned();
                if !module.is_empty() {
                    found.push((index + 1, module, format!("crate::{path}")));
                }
            }
            rest = after;
        }
    }
    found
}

fn upward_uses(graph: &Graph, layer_of: &BTreeMap<String, usize>) -> Vec<String> {
    let mut upward = Vec::new();
    for (from, edges) in graph {
        let Some(from_layer) = layer_of.get(from) else {
            continue;
        };
        for (to, uses) in edges {
            let Some(to_layer) = layer_of.get(to) else {
                continue;
            };
            if to_layer > from_layer {
                for used in uses {
                    upward.push(format!(
                        "  {from} → {to}: src/{}:{} {}",
                        used.file.display(),
                        used.line,
                        used.path
                    ));
                }
            }
        }
    }
    upward
}

/// The strongly connected components of more than one module (Tarjan's algorithm).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct Search<'a> {
        graph: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'a>(search: &mut Search<'a>, module: &'a str) {
        let next = search.index.len();
        search.index.insert(module, next);
        search.low.insert(module, next);
        search.stack.push(module);
        search.on_stack.insert(module);
        let graph = search.graph;
        for to in graph.get(module).into_iter().flat_map(|edges| edges.keys()) {
            let to = to.as_str();
            if !graph.contains_key(to) {
                continue;
            }
            if !search.index.contains_key(to) {
                visit(search, to);
                let low = search.low[module].min(search.low[to]);
                search.low.insert(module, low);
            } else if search.on_stack.contains(to) {
                let low = search.low[module].min(search.index[to]);
                search.low.insert(module, low);
            }
        }
        if search.low[module] == search.index[module] {
            let mut component = Vec::new();
            while let Some(top) = search.stack.pop() {
                search.on_stack.remove(top);
                component.push(top.to_owned());
                if top == module {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                search.found.push(component);
            }
        }
    }
    let mut search = Search {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for module in graph.keys() {
        if !search.index.contains_key(module.as_str()) {
            visit(&mut search, module);
        }
    }
    search.found
}

fn print_graph(graph: &Graph) {
    let edges: usize = graph.values().map(BTreeMap::len).sum();
    println!("module graph: {} modules, {edges} edges", graph.len());
    for (from, to) in graph {
        let names: Vec<&str> = to.keys().map(String::as_str).collect();
        println!("  {from} → {}", names.join(", "));
    }
    println!("cycles: {:?}", cycles(graph));
}
