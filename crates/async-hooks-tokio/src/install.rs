//! Installing automatic propagation on a `tokio::runtime::Builder`.
//!
//! Always compiled, so that code calling [`install`] builds with and without
//! `--cfg tokio_unstable`; without it, installing returns
//! [`InstallError::TokioUnstableMissing`] and warns once on stderr.

use std::fmt;
#[cfg(tokio_unstable)]
use std::sync::Arc;
#[cfg(not(tokio_unstable))]
use std::sync::atomic::{AtomicBool, Ordering};

#[cfg(tokio_unstable)]
use tokio::runtime::TaskMeta;

/// A task hook of the user's, chained after (or before) ours.
#[cfg(tokio_unstable)]
type TaskCallback = Arc<dyn Fn(&TaskMeta<'_>) + Send + Sync>;

/// Whether this build can propagate context through plain `tokio::spawn`:
/// true exactly when it was built with `--cfg tokio_unstable` (tokio's task
/// hooks exist only then).
///
/// # Examples
///
/// ```
/// if !async_hooks_tokio::is_automatic_propagation_available() {
///     // Plain `tokio::spawn` will not carry context in this build: spawn
///     // through the wrappers.
///     let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
///     runtime.block_on(async { async_hooks_tokio::spawn(async {}).await }).unwrap();
/// }
/// ```
pub const fn is_automatic_propagation_available() -> bool {
    cfg!(tokio_unstable)
}

/// Installs automatic propagation on `builder`: every task the runtime
/// spawns (`tokio::spawn`, `Handle::spawn`, `JoinSet::spawn`, ...) becomes a
/// [`TASK_RESOURCE_TYPE`](crate::TASK_RESOURCE_TYPE) resource with `init`
/// on the spawning thread (the spawner is its trigger), `before`/`after`
/// around every poll, and `destroy` after its final `after`; and every poll
/// runs in the context of its spawn site.
///
/// Shorthand for `AutoPropagation::new().install(builder)`; see
/// [`AutoPropagation`] to chain task hooks of your own.
///
/// **This replaces any task hooks already set on `builder`** (tokio keeps one
/// callback per hook): `on_task_spawn`, `on_before_task_poll`,
/// `on_after_task_poll` and `on_task_terminate`. Hooks set on `builder`
/// afterwards replace ours and break propagation.
///
/// # Errors
///
/// [`InstallError::TokioUnstableMissing`] when built without
/// `--cfg tokio_unstable`. `builder` is left unchanged, and a warning is
/// printed to stderr once per process (see
/// [`AutoPropagation::warn_if_unavailable`]): plain `tokio::spawn` will not
/// carry context, and [`spawn`](crate::spawn) and the other wrappers are the
/// way to propagate it.
///
/// # Examples
///
/// ```
/// use async_hooks_context::AsyncLocalStorage;
///
/// static REQUEST: AsyncLocalStorage<u32> = AsyncLocalStorage::new();
///
/// let mut builder = tokio::runtime::Builder::new_multi_thread();
/// match async_hooks_tokio::install(&mut builder) {
///     Ok(_) => {
///         let runtime = builder.build().unwrap();
///         let seen = runtime.block_on(async {
///             // A plain tokio::spawn, no wrapper.
///             REQUEST.run(7, || tokio::spawn(async { REQUEST.get() })).await.unwrap()
///         });
///         assert_eq!(seen, Some(7));
///     }
///     Err(error) => {
///         assert!(!async_hooks_tokio::is_automatic_propagation_available());
///         assert!(error.to_string().contains("tokio_unstable"));
///     }
/// }
/// ```
pub fn install(builder: &mut tokio::runtime::Builder) -> Result<&mut tokio::runtime::Builder, InstallError> {
    AutoPropagation::new().install(builder)?;
    Ok(builder)
}

/// Automatic propagation, configured: whether to warn when it is not
/// available, and (with `--cfg tokio_unstable`) task hooks of your own to
/// run alongside it, since tokio has one slot per hook.
///
/// # Examples
///
/// ```
/// use async_hooks_tokio::AutoPropagation;
///
/// let mut builder = tokio::runtime::Builder::new_current_thread();
/// // Without the cfg, fall back to the wrappers quietly.
/// let automatic = AutoPropagation::new().warn_if_unavailable(false).install(&mut builder).is_ok();
/// assert_eq!(automatic, async_hooks_tokio::is_automatic_propagation_available());
/// ```
#[must_use = "nothing is installed until `install`"]
pub struct AutoPropagation {
    warn_if_unavailable: bool,
    #[cfg(tokio_unstable)]
    on_task_spawn: Option<TaskCallback>,
    #[cfg(tokio_unstable)]
    on_before_task_poll: Option<TaskCallback>,
    #[cfg(tokio_unstable)]
    on_after_task_poll: Option<TaskCallback>,
    #[cfg(tokio_unstable)]
    on_task_terminate: Option<TaskCallback>,
}

impl AutoPropagation {
    /// Propagation with no callbacks of your own, warning when unavailable.
    pub fn new() -> AutoPropagation {
        AutoPropagation {
            warn_if_unavailable: true,
            #[cfg(tokio_unstable)]
            on_task_spawn: None,
            #[cfg(tokio_unstable)]
            on_before_task_poll: None,
            #[cfg(tokio_unstable)]
            on_after_task_poll: None,
            #[cfg(tokio_unstable)]
            on_task_terminate: None,
        }
    }

    /// Whether [`install`](Self::install) prints a warning (once per
    /// process) when built without `--cfg tokio_unstable`. Default: true.
    /// The error is returned either way.
    pub fn warn_if_unavailable(mut self, warn: bool) -> AutoPropagation {
        self.warn_if_unavailable = warn;
        self
    }

    /// Also calls `f` from `on_task_spawn`, after the task's resource was
    /// created (and `init` dispatched).
    #[cfg(tokio_unstable)]
    pub fn on_task_spawn(mut self, f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static) -> AutoPropagation {
        self.on_task_spawn = Some(Arc::new(f));
        self
    }

    /// Also calls `f` from `on_before_task_poll`, after the task's scope was
    /// entered: `f` sees the task's execution id and context.
    #[cfg(tokio_unstable)]
    pub fn on_before_task_poll(mut self, f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static) -> AutoPropagation {
        self.on_before_task_poll = Some(Arc::new(f));
        self
    }

    /// Also calls `f` from `on_after_task_poll`, before the task's scope is
    /// left: `f` still sees the task's execution id and context.
    #[cfg(tokio_unstable)]
    pub fn on_after_task_poll(mut self, f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static) -> AutoPropagation {
        self.on_after_task_poll = Some(Arc::new(f));
        self
    }

    /// Also calls `f` from `on_task_terminate`, after the task was noted as
    /// finished. `f` is called for every terminate tokio reports, also for
    /// blocking tasks and worker threads this crate ignores.
    #[cfg(tokio_unstable)]
    pub fn on_task_terminate(mut self, f: impl Fn(&TaskMeta<'_>) + Send + Sync + 'static) -> AutoPropagation {
        self.on_task_terminate = Some(Arc::new(f));
        self
    }

    /// Installs the task hooks on `builder`, replacing any it has; see
    /// [`install`](crate::install) for what they do.
    ///
    /// # Errors
    ///
    /// [`InstallError::TokioUnstableMissing`] when built without
    /// `--cfg tokio_unstable`; `builder` is left unchanged.
    #[cfg(tokio_unstable)]
    pub fn install(self, builder: &mut tokio::runtime::Builder) -> Result<(), InstallError> {
        use crate::task_hooks;

        let AutoPropagation {
            warn_if_unavailable: _,
            on_task_spawn,
            on_before_task_poll,
            on_after_task_poll,
            on_task_terminate,
        } = self;
        builder
            .on_task_spawn(move |meta| {
                task_hooks::on_task_spawn(meta);
                if let Some(user) = &on_task_spawn {
                    user(meta);
                }
            })
            .on_before_task_poll(move |meta| {
                task_hooks::on_before_task_poll(meta);
                if let Some(user) = &on_before_task_poll {
                    // A panic here unwinds out of tokio without its
                    // after-poll hook: the guard closes the task's scope.
                    let guard = CloseScopeOnUnwind(meta.id());
                    user(meta);
                    std::mem::forget(guard);
                }
            })
            .on_after_task_poll(move |meta| {
                if let Some(user) = &on_after_task_poll {
                    // Ours still runs if the user's callback panics.
                    let guard = CloseScopeOnUnwind(meta.id());
                    user(meta);
                    std::mem::forget(guard);
                }
                task_hooks::on_after_task_poll(meta);
            })
            .on_task_terminate(move |meta| {
                task_hooks::on_task_terminate(meta);
                if let Some(user) = &on_task_terminate {
                    user(meta);
                }
            });
        Ok(())
    }

    /// Installs the task hooks on `builder`; see [`install`](crate::install).
    ///
    /// # Errors
    ///
    /// Always, in this build: [`InstallError::TokioUnstableMissing`], since
    /// it lacks `--cfg tokio_unstable`. `builder` is left unchanged.
    #[cfg(not(tokio_unstable))]
    pub fn install(self, builder: &mut tokio::runtime::Builder) -> Result<(), InstallError> {
        let _ = builder;
        if self.warn_if_unavailable {
            warn_once();
        }
        Err(InstallError::TokioUnstableMissing)
    }
}

/// Closes the scope of the task whose poll hook is running, if a user
/// callback chained to it unwinds: the task's scope is an unguarded one
/// (see `task_hooks`), which must be exited before anything else on the
/// thread goes on. Forgotten on the normal path.
#[cfg(tokio_unstable)]
struct CloseScopeOnUnwind(tokio::task::Id);

#[cfg(tokio_unstable)]
impl Drop for CloseScopeOnUnwind {
    fn drop(&mut self) {
        // Exiting dispatches `after` to hooks, whose panics the core
        // catches: nothing here panics while unwinding.
        crate::task_hooks::after_task_poll(self.0);
    }
}

#[cfg(not(tokio_unstable))]
fn warn_once() {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!(
            "warning: async-hooks-tokio: automatic context propagation was requested, but this build \
             lacks `--cfg tokio_unstable`, so plain `tokio::spawn` will NOT carry context or trigger ids. \
             Build with RUSTFLAGS=\"--cfg tokio_unstable\", or spawn through `async_hooks_tokio::spawn`."
        );
    }
}

impl Default for AutoPropagation {
    fn default() -> Self {
        AutoPropagation::new()
    }
}

impl fmt::Debug for AutoPropagation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut debug = f.debug_struct("AutoPropagation");
        debug.field("warn_if_unavailable", &self.warn_if_unavailable);
        #[cfg(tokio_unstable)]
        debug
            .field("on_task_spawn", &self.on_task_spawn.is_some())
            .field("on_before_task_poll", &self.on_before_task_poll.is_some())
            .field("on_after_task_poll", &self.on_after_task_poll.is_some())
            .field("on_task_terminate", &self.on_task_terminate.is_some());
        debug.finish()
    }
}

/// The error of [`install`] and [`AutoPropagation::install`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InstallError {
    /// The build lacks `--cfg tokio_unstable`, so tokio has no task hooks to
    /// install. Plain `tokio::spawn` does not propagate context; use
    /// [`spawn`](crate::spawn) and the other wrappers, or rebuild with
    /// `RUSTFLAGS="--cfg tokio_unstable"`.
    TokioUnstableMissing,
}

impl fmt::Display for InstallError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            InstallError::TokioUnstableMissing => f.write_str(
                "automatic context propagation needs tokio's task hooks, which exist only in builds with \
                 `--cfg tokio_unstable`; plain `tokio::spawn` will not carry context (use \
                 `async_hooks_tokio::spawn`)",
            ),
        }
    }
}

impl std::error::Error for InstallError {}

/// How many tasks of runtimes with automatic propagation are alive now
/// (spawned and not yet terminated). Always 0 without `--cfg tokio_unstable`.
///
/// A diagnostic: after every such runtime was dropped it is 0, so a
/// non-zero value then means a lifecycle was lost.
///
/// # Examples
///
/// ```
/// assert_eq!(async_hooks_tokio::live_task_count(), 0);
/// ```
pub fn live_task_count() -> usize {
    #[cfg(tokio_unstable)]
    {
        crate::task_hooks::live_task_count()
    }
    #[cfg(not(tokio_unstable))]
    {
        0
    }
}
