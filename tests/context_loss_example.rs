//! Runs the `context_loss` example's three scenarios and checks that each
//! loss is found and explained with the right resource and file:line, and
//! that each fix keeps the context.

#[path = "../examples/context_loss.rs"]
mod example;

use async_hooks::context::diagnostics::LossCause;

#[test]
fn each_classic_loss_is_explained_and_each_fix_keeps_the_context() {
    let diagnostics = example::enable_diagnostics();
    let outcomes = [
        example::raw_thread(&diagnostics),
        example::raw_tokio_spawn(&diagnostics),
        example::callback_registry(&diagnostics),
    ];
    for outcome in &outcomes {
        println!("=== {}\n{}\n", outcome.name, outcome.report);
        assert_eq!(outcome.lost, None, "{}: the buggy version loses the id", outcome.name);
        assert!(outcome.report.is_missing(), "{}", outcome.name);
        assert!(outcome.fixed.is_some(), "{}: the fix keeps the id", outcome.name);
        assert!(!outcome.fixed_report.is_missing(), "{}: {}", outcome.name, outcome.fixed_report);
        assert!(outcome.site.file().ends_with("examples/context_loss.rs"), "{}", outcome.site);
        let site = format!("{}:{}", outcome.site.file(), outcome.site.line());
        assert!(outcome.report.to_string().contains(&site), "{}: the report points to {site}", outcome.name);
    }

    for outcome in &outcomes[..2] {
        let loss = outcome.report.loss().unwrap();
        assert!(matches!(loss.cause(), LossCause::UnpropagatedThread { .. }), "{}", outcome.name);
        assert_eq!(loss.candidates()[0].id(), outcome.culprit, "{}: the spawning side", outcome.name);
        assert_eq!(loss.checkpoints()[0].location(), outcome.site, "{}: the spawn site", outcome.name);
    }
    assert_eq!(
        outcomes[0].report.loss().unwrap().observation().unwrap().thread().name(),
        Some("report-writer"),
        "the raw thread is named"
    );

    let callback = &outcomes[2];
    let loss = callback.report.loss().unwrap();
    let resource = loss.resource().expect("the callback's resource");
    assert_eq!(resource.id(), callback.culprit);
    assert_eq!(resource.resource_type(), "Callback");
    assert_eq!(resource.location(), callback.site);
    let source = include_str!("../examples/context_loss.rs");
    let line = source.lines().nth(callback.site.line() as usize - 1).unwrap();
    assert!(line.contains("created at registry construction"), "the site is the registry's constructor: {line}");

    let report = diagnostics.loss_report(&example::REQUEST_ID);
    println!("{report}");
    assert_eq!(report.losses().len(), 3, "exactly the three losses: {report}");
}
