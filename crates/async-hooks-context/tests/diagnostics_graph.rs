//! The resource tree as DOT and Mermaid, with the break marked; the DOT
//! parses with Graphviz (skipped with a note when `dot` is not installed;
//! CI installs it).

use std::sync::{Mutex, MutexGuard};

use async_hooks_context::AsyncLocalStorage;
use async_hooks_context::diagnostics::{ContextDiagnostics, RenderError, graphviz_available};
use async_hooks_core::AsyncResource;

fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

static REQUEST_ID: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

/// A request whose timer loses the store (created inside `exit`), and a
/// raw thread that starts without it.
fn lossy_tree(diagnostics: &ContextDiagnostics) -> (AsyncResource, AsyncResource) {
    let request = REQUEST_ID.run(7, || AsyncResource::new("Request"));
    let timer = request.run_in_async_scope(|| {
        diagnostics.checkpoint("spawn");
        std::thread::scope(|scope| {
            scope.spawn(|| diagnostics.why_missing(&REQUEST_ID));
        });
        REQUEST_ID.exit(|| AsyncResource::new("Timer"))
    });
    timer.run_in_async_scope(|| ());
    (request, timer)
}

#[test]
fn dot_marks_the_break_and_parses_with_graphviz() {
    let _serial = serial();
    let diagnostics = ContextDiagnostics::enable();
    diagnostics.watch("request_id", &REQUEST_ID);
    let (request, timer) = lossy_tree(&diagnostics);

    let dot = diagnostics.to_dot();
    println!("{dot}");
    assert!(dot.starts_with("digraph resources {"));
    let break_edge = format!("r{} -> r{} [color=red", request.async_id(), timer.async_id());
    assert!(dot.contains(&break_edge), "the break edge is red: {dot}");
    assert!(dot.contains("lost request_id"), "{dot}");
    assert!(dot.contains("raw spawn? lost request_id"), "the thread-root loss is drawn: {dot}");
    assert!(dot.contains(&format!("diagnostics_graph.rs:{}", timer_line())), "creation sites are shown: {dot}");

    if !graphviz_available() {
        println!("note: graphviz `dot` is not installed; skipping the parse check (CI installs it)");
        return;
    }
    let output = std::process::Command::new("dot")
        .arg("-Tsvg")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(dot.as_bytes())?;
            child.wait_with_output()
        })
        .unwrap();
    assert!(output.status.success(), "dot rejected the graph: {}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stdout).contains("<svg"));

    let path = std::env::temp_dir().join(format!("context-loss-{}.svg", std::process::id()));
    diagnostics.render_svg(&path).unwrap();
    let svg = std::fs::read_to_string(&path).unwrap();
    let _ = std::fs::remove_file(&path);
    assert!(svg.contains("<svg") && svg.contains("lost request_id"));
}

/// The line of `AsyncResource::new("Timer")` in `lossy_tree`.
fn timer_line() -> u32 {
    let source = include_str!("diagnostics_graph.rs");
    source.lines().position(|line| line.contains("REQUEST_ID.exit(|| AsyncResource::new(\"Timer\"))")).unwrap() as u32
        + 1
}

#[test]
fn mermaid_marks_the_break() {
    let _serial = serial();
    let diagnostics = ContextDiagnostics::enable();
    diagnostics.watch("request_id", &REQUEST_ID);
    let (request, timer) = lossy_tree(&diagnostics);

    let mermaid = diagnostics.to_mermaid();
    println!("{mermaid}");
    assert!(mermaid.starts_with("flowchart TD"));
    assert!(
        mermaid.contains(&format!("r{} -->|\"lost request_id\"| r{}", request.async_id(), timer.async_id())),
        "{mermaid}"
    );
    assert!(mermaid.contains(&format!("class r{} lost", timer.async_id())), "{mermaid}");
    assert!(mermaid.contains("linkStyle"), "{mermaid}");
}

#[test]
fn render_error_says_when_graphviz_is_missing() {
    assert_eq!(RenderError::GraphvizNotFound.to_string(), "graphviz `dot` was not found on PATH");
}
