//! The resource tree as a picture: Graphviz DOT, Mermaid, and SVG through
//! `dot -Tsvg` when Graphviz is installed.

use std::collections::HashSet;
use std::fmt::{self, Write as _};
use std::io::{self, Write as _};
use std::panic::Location;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_hooks_core::AsyncId;

use super::recorder::{ResourceRecord, Table, ThreadInfo, WatchedStore};
use super::report::{Analysis, LossCause};

/// The most resources a picture shows; resources on a loss chain come first.
const MAX_GRAPH_NODES: usize = 500;

/// One resource of the recorded tree.
#[derive(Clone, Debug)]
pub struct ResourceInfo {
    id: AsyncId,
    trigger: AsyncId,
    resource_type: &'static str,
    location: &'static Location<'static>,
    created_thread: ThreadInfo,
    stores: Vec<&'static str>,
    runs: u64,
    age: Duration,
    destroyed: bool,
}

impl ResourceInfo {
    fn of(record: &ResourceRecord, watched: &[Arc<WatchedStore>], now: Instant) -> ResourceInfo {
        let stores = watched
            .iter()
            .filter(|store| record.created_stores.visible().contains(&store.key))
            .map(|store| store.name)
            .collect();
        ResourceInfo {
            id: record.id,
            trigger: record.trigger,
            resource_type: record.resource_type,
            location: record.location,
            created_thread: record.created_thread.clone(),
            stores,
            runs: record.runs,
            age: now.duration_since(record.created_at),
            destroyed: record.destroyed_at.is_some(),
        }
    }

    /// The resource's id.
    pub fn id(&self) -> AsyncId {
        self.id
    }

    /// Its trigger id.
    pub fn trigger_async_id(&self) -> AsyncId {
        self.trigger
    }

    /// Its type.
    pub fn resource_type(&self) -> &'static str {
        self.resource_type
    }

    /// Where it was created.
    pub fn location(&self) -> &'static Location<'static> {
        self.location
    }

    /// The thread it was created on.
    pub fn created_thread(&self) -> &ThreadInfo {
        &self.created_thread
    }

    /// The watched stores set in the frame it captured.
    pub fn stores(&self) -> &[&'static str] {
        &self.stores
    }

    /// How many scopes it ran.
    pub fn runs(&self) -> u64 {
        self.runs
    }

    /// Time since its creation.
    pub fn age(&self) -> Duration {
        self.age
    }

    /// Whether it is alive (not destroyed).
    pub fn is_alive(&self) -> bool {
        !self.destroyed
    }
}

/// A break to mark: the edge `from -> to` (`from` `None` = the root).
struct MarkedBreak {
    from: Option<AsyncId>,
    to: AsyncId,
    label: String,
    /// A dashed "invoked by" edge rather than a trigger edge.
    invoked: bool,
}

/// A loss observed at the root of a thread: an extra node.
struct RootObservation {
    label: String,
    from: Option<AsyncId>,
    store: String,
}

/// What a picture shows, copied out of the table.
pub(crate) struct TreeSnapshot {
    nodes: Vec<ResourceInfo>,
    breaks: Vec<MarkedBreak>,
    observations: Vec<RootObservation>,
    omitted: usize,
}

impl TreeSnapshot {
    pub(crate) fn build(table: &Table, watched: &[Arc<WatchedStore>]) -> TreeSnapshot {
        let now = Instant::now();
        let mut breaks = Vec::new();
        let mut observations = Vec::new();
        let mut wanted: Vec<AsyncId> = Vec::new();
        for store in watched {
            let analysis = Analysis { table, key: store.key, store: store.name };
            for loss in analysis.losses() {
                wanted.extend(loss.chain().iter().map(|link| link.id()));
                match (loss.break_link(), loss.cause()) {
                    (Some(brk), LossCause::CreatedBeforeScopeInvokedInside { invoker }) => {
                        wanted.push(invoker.id());
                        breaks.push(MarkedBreak {
                            from: Some(invoker.id()),
                            to: brk.id(),
                            label: format!("invoked: lost {}", store.name),
                            invoked: true,
                        });
                    }
                    (Some(brk), _) => {
                        let from = if brk.trigger_async_id() == brk.id() { None } else { Some(brk.trigger_async_id()) };
                        // A break at the resource itself (disable) marks its incoming edge.
                        breaks.push(MarkedBreak {
                            from,
                            to: brk.id(),
                            label: format!("lost {}", store.name),
                            invoked: false,
                        });
                    }
                    (None, _) => {
                        let from =
                            loss.checkpoints().first().and_then(|checkpoint| checkpoint.resource().map(|r| r.id()));
                        let from = from.or_else(|| loss.candidates().first().map(|candidate| candidate.id()));
                        wanted.extend(from);
                        let label = match loss.observation() {
                            Some(observed) => format!(
                                "{} missing\n{}\nthread {} (no resource)",
                                store.name,
                                short_location(observed.location()),
                                observed.thread()
                            ),
                            None => format!("{} missing", store.name),
                        };
                        observations.push(RootObservation { label, from, store: store.name.to_owned() });
                    }
                }
            }
        }
        let mut records: Vec<&ResourceRecord> = table.records.values().collect();
        records.sort_by_key(|record| record.created_seq);
        let wanted: HashSet<AsyncId> = wanted.into_iter().collect();
        let mut chosen: Vec<&ResourceRecord> =
            records.iter().copied().filter(|record| wanted.contains(&record.id)).collect();
        for record in &records {
            if chosen.len() >= MAX_GRAPH_NODES {
                break;
            }
            if !wanted.contains(&record.id) {
                chosen.push(record);
            }
        }
        chosen.sort_by_key(|record| record.created_seq);
        let omitted = records.len().saturating_sub(chosen.len());
        let nodes = chosen.into_iter().map(|record| ResourceInfo::of(record, watched, now)).collect();
        TreeSnapshot { nodes, breaks, observations, omitted }
    }

    pub(crate) fn nodes(&self) -> &[ResourceInfo] {
        &self.nodes
    }

    fn lost_ids(&self) -> HashSet<AsyncId> {
        self.breaks.iter().map(|brk| brk.to).collect()
    }

    fn node_label(node: &ResourceInfo) -> Vec<String> {
        let mut lines = vec![format!("{} #{}", node.resource_type, node.id), short_location(node.location)];
        if !node.stores.is_empty() {
            lines.push(format!("stores: {}", node.stores.join(", ")));
        }
        if node.destroyed {
            lines.push("destroyed".to_owned());
        } else {
            lines.push("alive".to_owned());
        }
        lines
    }

    /// The trigger edges to draw, `(from, to)`; `from` `None` = the root.
    fn edges(&self) -> Vec<(Option<AsyncId>, AsyncId)> {
        let present: HashSet<AsyncId> = self.nodes.iter().map(ResourceInfo::id).collect();
        self.nodes
            .iter()
            .map(|node| {
                let from = present.contains(&node.trigger).then_some(node.trigger);
                (from, node.id)
            })
            .collect()
    }

    fn trigger_break(&self, from: Option<AsyncId>, to: AsyncId) -> Option<&MarkedBreak> {
        self.breaks.iter().find(|brk| !brk.invoked && brk.to == to && (brk.from == from || from.is_none()))
    }

    pub(crate) fn to_dot(&self) -> String {
        let mut dot = String::new();
        let lost = self.lost_ids();
        dot.push_str("digraph resources {\n");
        dot.push_str("  rankdir=TB;\n  node [shape=box, fontname=\"monospace\", fontsize=10];\n");
        dot.push_str("  edge [fontname=\"monospace\", fontsize=9];\n");
        dot.push_str("  root [label=\"root\", shape=ellipse];\n");
        for node in &self.nodes {
            let label = Self::node_label(node).iter().map(|line| dot_escape(line)).collect::<Vec<_>>().join("\\n");
            let mut style = Vec::new();
            if lost.contains(&node.id) {
                style.push("color=red, penwidth=2, fontcolor=red");
            } else if !node.stores.is_empty() {
                style.push("color=darkgreen");
            }
            if node.destroyed {
                style.push("style=dashed");
            }
            let style = if style.is_empty() { String::new() } else { format!(", {}", style.join(", ")) };
            let _ = writeln!(dot, "  r{} [label=\"{label}\"{style}];", node.id);
        }
        for (from, to) in self.edges() {
            let from_name = from.map_or_else(|| "root".to_owned(), |id| format!("r{id}"));
            match self.trigger_break(from, to) {
                Some(brk) => {
                    let _ = writeln!(
                        dot,
                        "  {from_name} -> r{to} [color=red, penwidth=2, fontcolor=red, label=\"{}\"];",
                        dot_escape(&brk.label)
                    );
                }
                None => {
                    let _ = writeln!(dot, "  {from_name} -> r{to};");
                }
            }
        }
        for brk in self.breaks.iter().filter(|brk| brk.invoked) {
            if let Some(from) = brk.from {
                let _ = writeln!(
                    dot,
                    "  r{from} -> r{} [color=red, style=dashed, fontcolor=red, constraint=false, label=\"{}\"];",
                    brk.to,
                    dot_escape(&brk.label)
                );
            }
        }
        let present: HashSet<AsyncId> = self.nodes.iter().map(ResourceInfo::id).collect();
        for (index, observation) in self.observations.iter().enumerate() {
            let label = observation.label.lines().map(dot_escape).collect::<Vec<_>>().join("\\n");
            let _ =
                writeln!(dot, "  obs{index} [label=\"{label}\", shape=note, color=red, fontcolor=red, penwidth=2];");
            let from = observation
                .from
                .filter(|id| present.contains(id))
                .map_or_else(|| "root".to_owned(), |id| format!("r{id}"));
            let _ = writeln!(
                dot,
                "  {from} -> obs{index} [color=red, style=dotted, fontcolor=red, label=\"raw spawn? lost {}\"];",
                dot_escape(&observation.store)
            );
        }
        if self.omitted > 0 {
            let _ = writeln!(dot, "  omitted [label=\"{} more resources not shown\", shape=plaintext];", self.omitted);
        }
        dot.push_str("}\n");
        dot
    }

    pub(crate) fn to_mermaid(&self) -> String {
        let mut mermaid = String::new();
        let lost = self.lost_ids();
        mermaid.push_str("flowchart TD\n");
        mermaid.push_str("  classDef lost stroke:#d00,stroke-width:3px,color:#d00\n");
        mermaid.push_str("  classDef hasStore stroke:#080\n");
        mermaid.push_str("  classDef destroyed stroke-dasharray: 5 5\n");
        mermaid.push_str("  root((root))\n");
        for node in &self.nodes {
            let label =
                Self::node_label(node).iter().map(|line| mermaid_escape(line)).collect::<Vec<_>>().join("<br/>");
            let _ = writeln!(mermaid, "  r{}[\"{label}\"]", node.id);
            let mut classes = Vec::new();
            if lost.contains(&node.id) {
                classes.push("lost");
            } else if !node.stores.is_empty() {
                classes.push("hasStore");
            }
            if node.destroyed {
                classes.push("destroyed");
            }
            if !classes.is_empty() {
                let _ = writeln!(mermaid, "  class r{} {}", node.id, classes.join(","));
            }
        }
        let mut link_index = 0;
        let mut red_links = Vec::new();
        for (from, to) in self.edges() {
            let from_name = from.map_or_else(|| "root".to_owned(), |id| format!("r{id}"));
            match self.trigger_break(from, to) {
                Some(brk) => {
                    let _ = writeln!(mermaid, "  {from_name} -->|\"{}\"| r{to}", mermaid_escape(&brk.label));
                    red_links.push(link_index);
                }
                None => {
                    let _ = writeln!(mermaid, "  {from_name} --> r{to}");
                }
            }
            link_index += 1;
        }
        for brk in self.breaks.iter().filter(|brk| brk.invoked) {
            if let Some(from) = brk.from {
                let _ = writeln!(mermaid, "  r{from} -.->|\"{}\"| r{}", mermaid_escape(&brk.label), brk.to);
                red_links.push(link_index);
                link_index += 1;
            }
        }
        let present: HashSet<AsyncId> = self.nodes.iter().map(ResourceInfo::id).collect();
        for (index, observation) in self.observations.iter().enumerate() {
            let label = observation.label.lines().map(mermaid_escape).collect::<Vec<_>>().join("<br/>");
            let _ = writeln!(mermaid, "  obs{index}>\"{label}\"]");
            let _ = writeln!(mermaid, "  class obs{index} lost");
            let from = observation
                .from
                .filter(|id| present.contains(id))
                .map_or_else(|| "root".to_owned(), |id| format!("r{id}"));
            let _ = writeln!(
                mermaid,
                "  {from} -.->|\"raw spawn? lost {}\"| obs{index}",
                mermaid_escape(&observation.store)
            );
            red_links.push(link_index);
            link_index += 1;
        }
        if !red_links.is_empty() {
            let links: Vec<String> = red_links.iter().map(ToString::to_string).collect();
            let _ = writeln!(mermaid, "  linkStyle {} stroke:#d00,stroke-width:2px,color:#d00", links.join(","));
        }
        if self.omitted > 0 {
            let _ = writeln!(mermaid, "  omitted[\"{} more resources not shown\"]", self.omitted);
        }
        mermaid
    }
}

/// `file:line` with the file's last two path components: enough to find it,
/// short enough for a box.
fn short_location(location: &Location<'_>) -> String {
    let file = location.file();
    let mut parts = file.rsplitn(3, ['/', '\\']);
    let last = parts.next().unwrap_or(file);
    let short = match parts.next() {
        Some(parent) => format!("{parent}/{last}"),
        None => last.to_owned(),
    };
    format!("{short}:{}", location.line())
}

fn dot_escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn mermaid_escape(text: &str) -> String {
    text.replace('"', "#quot;").replace('<', "#lt;").replace('>', "#gt;")
}

/// The error of [`ContextDiagnostics::render_svg`](super::ContextDiagnostics::render_svg).
#[derive(Debug)]
#[non_exhaustive]
pub enum RenderError {
    /// Graphviz's `dot` is not on `PATH`.
    GraphvizNotFound,
    /// Running `dot` or writing to it failed.
    Io(io::Error),
    /// `dot` ran and failed.
    Graphviz {
        /// Its exit status.
        status: ExitStatus,
        /// What it wrote to stderr.
        stderr: String,
    },
}

impl fmt::Display for RenderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RenderError::GraphvizNotFound => f.write_str("graphviz `dot` was not found on PATH"),
            RenderError::Io(error) => write!(f, "running graphviz `dot` failed: {error}"),
            RenderError::Graphviz { status, stderr } => write!(f, "graphviz `dot` failed ({status}): {stderr}"),
        }
    }
}

impl std::error::Error for RenderError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RenderError::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// Whether Graphviz's `dot` can be run.
pub fn graphviz_available() -> bool {
    Command::new("dot")
        .arg("-V")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Runs `dot -Tsvg -o path` on `dot_source`.
pub(crate) fn render_svg(dot_source: &str, path: &Path) -> Result<(), RenderError> {
    let mut child = match Command::new("dot")
        .arg("-Tsvg")
        .arg("-o")
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(error) if error.kind() == io::ErrorKind::NotFound => return Err(RenderError::GraphvizNotFound),
        Err(error) => return Err(RenderError::Io(error)),
    };
    {
        let mut stdin = child.stdin.take().expect("stdin was piped");
        stdin.write_all(dot_source.as_bytes()).map_err(RenderError::Io)?;
    }
    let output = child.wait_with_output().map_err(RenderError::Io)?;
    if output.status.success() {
        Ok(())
    } else {
        Err(RenderError::Graphviz {
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_escaped_for_both_formats() {
        assert_eq!(dot_escape("a \"b\" \\ c"), "a \\\"b\\\" \\\\ c");
        assert_eq!(mermaid_escape("<\"x\">"), "#lt;#quot;x#quot;#gt;");
    }

    #[test]
    fn short_location_keeps_the_last_two_components() {
        let location = Location::caller();
        let short = short_location(location);
        assert!(short.starts_with("diagnostics/graph.rs:"), "{short}");
    }
}
