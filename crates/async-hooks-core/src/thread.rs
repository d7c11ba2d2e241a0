//! Threads whose body runs inside an async resource created at the spawn
//! site, so that context and trigger flow into them.

use std::io;
use std::panic::Location;
use std::thread::JoinHandle;

use crate::AsyncResource;

/// The resource type of threads spawned through this module.
pub const THREAD_RESOURCE_TYPE: &str = "Thread";

/// Spawns a thread like [`std::thread::spawn`], whose body runs inside a
/// resource of type `"Thread"` created here: its trigger is the spawner's
/// execution id and the spawner's context is current in the thread.
///
/// # Panics
///
/// If the OS cannot create a thread, as `std::thread::spawn` does; use
/// [`spawn_with`] to get the error instead.
///
/// # Examples
///
/// ```
/// use async_hooks_core::{execution_async_id, thread, trigger_async_id, AsyncResource};
///
/// let request = AsyncResource::new("Request");
/// let handle = request.run_in_async_scope(|| thread::spawn(trigger_async_id));
/// assert_eq!(handle.join().unwrap(), request.async_id());
/// ```
#[track_caller]
pub fn spawn<F, T>(f: F) -> JoinHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    match spawn_with(std::thread::Builder::new(), f) {
        Ok(handle) => handle,
        Err(error) => panic!("failed to spawn thread: {error}"),
    }
}

/// Spawns a thread from `builder` (name, stack size), like [`spawn`].
///
/// # Errors
///
/// The OS error if the thread could not be created. The resource created for
/// it is destroyed then.
#[track_caller]
pub fn spawn_with<F, T>(builder: std::thread::Builder, f: F) -> io::Result<JoinHandle<T>>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let resource = AsyncResource::builder(THREAD_RESOURCE_TYPE).location(Location::caller()).build();
    builder.spawn(move || resource.run_in_async_scope(f))
}
