//! Without `--cfg tokio_unstable`, asking for automatic propagation fails
//! loudly: `install` returns a typed error, leaves the builder usable, and
//! warns once per process on stderr.

#![cfg(not(tokio_unstable))]

mod support;

use async_hooks_tokio::{AutoPropagation, InstallError};
use support::{Flavor, STORE, is_child, run_child_test};

#[test]
fn install_returns_a_typed_error_and_leaves_the_builder_usable() {
    assert!(!async_hooks_tokio::is_automatic_propagation_available());
    let mut builder = Flavor::MultiThread.builder();
    let error = AutoPropagation::new().warn_if_unavailable(false).install(&mut builder).unwrap_err();
    assert_eq!(error, InstallError::TokioUnstableMissing);
    assert!(error.to_string().contains("--cfg tokio_unstable"), "{error}");
    let runtime = builder.build().expect("the builder still builds");
    // Plain spawns do not propagate; the wrappers still do.
    let (plain, wrapped) = runtime.block_on(async {
        STORE.run(1, || (tokio::spawn(async { STORE.get() }), async_hooks_tokio::spawn(async { STORE.get() })))
    });
    assert_eq!(runtime.block_on(plain).unwrap(), None);
    assert_eq!(runtime.block_on(wrapped).unwrap(), Some(1));
    assert_eq!(async_hooks_tokio::live_task_count(), 0);
}

#[test]
fn install_warns_once_per_process() {
    if is_child() {
        for _ in 0..3 {
            let mut builder = Flavor::CurrentThread.builder();
            assert_eq!(async_hooks_tokio::install(&mut builder).unwrap_err(), InstallError::TokioUnstableMissing);
        }
        return;
    }
    let output = run_child_test("install_warns_once_per_process");
    assert!(output.status.success(), "the child passed: {output:?}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(
        stderr.matches("warning: async-hooks-tokio: automatic context propagation was requested").count(),
        1,
        "{stderr}"
    );
    assert!(stderr.contains("tokio_unstable"), "{stderr}");
}

#[test]
fn the_warning_can_be_turned_off() {
    if is_child() {
        let mut builder = Flavor::CurrentThread.builder();
        assert!(AutoPropagation::new().warn_if_unavailable(false).install(&mut builder).is_err());
        return;
    }
    let output = run_child_test("the_warning_can_be_turned_off");
    assert!(output.status.success(), "the child passed: {output:?}");
    assert!(!String::from_utf8_lossy(&output.stderr).contains("warning"), "{output:?}");
}
