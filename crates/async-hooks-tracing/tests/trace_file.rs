//! A Chrome/Perfetto trace file of resources.
#![cfg(feature = "trace-file")]

use async_hooks_core::AsyncResource;
use async_hooks_tracing::trace_file::TraceFile;

#[test]
fn install_writes_each_resource_scope_as_a_slice_with_its_fields() {
    let path = std::env::temp_dir().join(format!("async-hooks-trace-file-test-{}.json", std::process::id()));
    let guard = TraceFile::new(&path).install().expect("the only subscriber of this test");
    let request = AsyncResource::builder("TracedRequest").attribute("pool.name", "p").build();
    let id = request.async_id();
    request.run_in_async_scope(|| AsyncResource::new("TracedChild").run_in_async_scope(|| {}));
    drop(request);
    assert_eq!(guard.path(), path);
    drop(guard);

    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    let events: Vec<serde_like::Event> = serde_like::events(&text);
    let request_begin = events
        .iter()
        .find(|event| event.name == "TracedRequest" && event.phase == "B")
        .unwrap_or_else(|| panic!("no begin slice for the request in {text}"));
    assert!(request_begin.raw.contains(&format!("\"async_id\":\"{}\"", id.as_u64())), "{}", request_begin.raw);
    // tracing-chrome writes string arguments in their Debug form.
    assert!(request_begin.raw.contains(r#""pool.name":"\"p\"""#), "{}", request_begin.raw);
    assert!(events.iter().any(|event| event.name == "TracedChild" && event.phase == "E"), "{text}");
}

/// Just enough of the Chrome trace format to find events, without a JSON
/// dependency: tracing-chrome writes one event object per line.
mod serde_like {
    pub(crate) struct Event {
        pub(crate) name: String,
        pub(crate) phase: String,
        pub(crate) raw: String,
    }

    fn string_field(line: &str, key: &str) -> Option<String> {
        let start = line.find(&format!("\"{key}\":\""))? + key.len() + 4;
        let end = start + line[start..].find('"')?;
        Some(line[start..end].to_owned())
    }

    pub(crate) fn events(text: &str) -> Vec<Event> {
        text.lines()
            .filter_map(|line| {
                Some(Event {
                    name: string_field(line, "name")?,
                    phase: string_field(line, "ph")?,
                    raw: line.to_owned(),
                })
            })
            .collect()
    }
}
