//! The operations of the peer comparison, shared by the criterion bench
//! (`benches/peers.rs`) and the one-command runner (`examples/compare.rs`),
//! so both time exactly the same code.
//!
//! Each subject is a closure that runs its operation `iters` times and
//! returns the elapsed time of that loop only: setup (creating pools,
//! enabling hook sets, installing a `tracing` dispatcher, entering an
//! outer `run`) happens outside the timed region. Node's rows are not
//! closures here: `benches/node/peers.mjs` measures them in a `node`
//! subprocess and reports ns/op under the keys named in [`NodePeer`].

use std::cell::Cell;
use std::future::Future;
use std::hint::black_box;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, Waker};
use std::thread;
use std::time::{Duration, Instant};

use async_hooks::context::{AsyncLocalStorage, Snapshot};
use async_hooks::pool::WorkerPool;
use async_hooks::{AsyncHook, AsyncResource, FutureExt, Hooks, create_hook, execution_async_id};
use tracing::Instrument;

/// Worker threads of every pool measured, ours and the peers'.
pub(crate) const POOL_THREADS: usize = 2;

/// What a peer's row must show for an issue-8 target to be met.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// Ours is at least this many times faster than the peer.
    Faster(f64),
    /// Ours takes at most this many times the peer's time.
    Within(f64),
}

impl Target {
    /// Whether the ratio `peer_ns / ours_ns` meets the target.
    pub(crate) fn is_met(self, peer_over_ours: f64) -> bool {
        match self {
            Target::Faster(factor) => peer_over_ours >= factor,
            Target::Within(factor) => peer_over_ours * factor >= 1.0,
        }
    }

    pub(crate) fn describe(self) -> String {
        match self {
            Target::Faster(factor) => format!(">= {factor}x faster"),
            Target::Within(factor) => format!("<= {factor}x peer"),
        }
    }
}

/// One implementation of an operation, timed by its closure.
pub(crate) struct Subject {
    /// Short id, used as the criterion function name.
    #[allow(dead_code, reason = "criterion's bench reads it; the compare example does not")]
    pub(crate) id: &'static str,
    /// What is measured, for the table.
    pub(crate) label: &'static str,
    pub(crate) target: Option<Target>,
    pub(crate) run: Box<dyn FnMut(u64) -> Duration>,
}

/// A row measured by the Node script.
pub(crate) struct NodePeer {
    /// The key in the script's JSON output.
    pub(crate) key: &'static str,
    pub(crate) label: &'static str,
    pub(crate) target: Option<Target>,
}

/// One operation of DESIGN §8: ours and every peer doing the same job.
pub(crate) struct Operation {
    /// Criterion group name.
    pub(crate) id: &'static str,
    pub(crate) title: &'static str,
    pub(crate) ours: Subject,
    pub(crate) peers: Vec<Subject>,
    pub(crate) node: Vec<NodePeer>,
}

fn subject(id: &'static str, label: &'static str, run: impl FnMut(u64) -> Duration + 'static) -> Subject {
    Subject { id, label, target: None, run: Box::new(run) }
}

fn peer(
    id: &'static str,
    label: &'static str,
    target: Option<Target>,
    run: impl FnMut(u64) -> Duration + 'static,
) -> Subject {
    Subject { id, label, target, run: Box::new(run) }
}

fn node(key: &'static str, label: &'static str, target: Option<Target>) -> NodePeer {
    NodePeer { key, label, target }
}

/// Times `iters` calls of `op`.
///
/// Results are consumed through a reference: `black_box(result)` of a
/// 16-byte value (such as `Option<u64>`) makes the compiler store it as two
/// words and load it back as one, a store-forwarding stall of a few ns that
/// would be charged to whichever subject returns the wider value.
#[inline(always)]
fn time_loop<R>(iters: u64, mut op: impl FnMut() -> R) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        let result = op();
        black_box(&result);
    }
    start.elapsed()
}

/// A hook set that implements every event with an empty body, like
/// Node's `createHook({ init() {}, before() {}, ... })` in the script.
struct NoopHooks;

impl Hooks for NoopHooks {}

/// `n_hooks` disabled hook sets, enabled only while a subject's loop runs.
struct HookSets(Vec<AsyncHook<NoopHooks>>);

impl HookSets {
    fn new(n_hooks: usize) -> HookSets {
        HookSets((0..n_hooks).map(|_| create_hook(NoopHooks)).collect())
    }

    fn while_enabled<R>(&self, f: impl FnOnce() -> R) -> R {
        for hook in &self.0 {
            hook.enable();
        }
        let result = f();
        for hook in &self.0 {
            hook.disable();
        }
        result
    }
}

static STORE: AsyncLocalStorage<u64> = AsyncLocalStorage::new();

tokio::task_local! {
    static TASK_LOCAL: u64;
}

thread_local! {
    static THREAD_ID: Cell<u64> = const { Cell::new(1) };
}

/// An OpenTelemetry context entry; `N` makes distinct types for nesting.
#[derive(Clone, Copy, Debug)]
struct OtelValue<const N: usize>(u64);

/// A future that is never ready, so every poll is a full scope.
struct AlwaysPending;

impl Future for AlwaysPending {
    type Output = ();

    fn poll(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<()> {
        Poll::Pending
    }
}

fn poll_loop<F: Future>(iters: u64, future: F) -> Duration {
    let mut cx = Context::from_waker(Waker::noop());
    let mut future = pin!(future);
    time_loop(iters, || future.as_mut().poll(&mut cx).is_pending())
}

fn registry_dispatch() -> tracing::Dispatch {
    tracing::Dispatch::new(tracing_subscriber::registry())
}

fn process(task: u64) -> u64 {
    black_box(task).wrapping_mul(31).wrapping_add(7)
}

/// Blocks until `done` reaches `target`, leaving the cores to the workers.
fn wait_for(done: &AtomicU64, target: u64) {
    while done.load(Ordering::Acquire) < target {
        std::hint::spin_loop();
        thread::yield_now();
    }
}

/// Our pool, shared by the hooks-off and one-hook-set subjects.
struct OurPool {
    pool: WorkerPool<u64, u64>,
    done: Arc<AtomicU64>,
}

impl OurPool {
    fn new() -> OurPool {
        let pool = WorkerPool::builder()
            .name("peers")
            .num_threads(POOL_THREADS)
            .build(process)
            .expect("the benchmark pool starts");
        OurPool { pool, done: Arc::new(AtomicU64::new(0)) }
    }

    /// Submits `tasks` tasks and waits for all their callbacks.
    fn batch(&self, tasks: u64) -> Duration {
        let target = self.done.load(Ordering::Acquire) + tasks;
        let start = Instant::now();
        for task in 0..tasks {
            let done = self.done.clone();
            let submitted = self.pool.run_task(task, move |result| {
                let _ = black_box(result);
                done.fetch_add(1, Ordering::Release);
            });
            debug_assert!(submitted.is_ok());
        }
        wait_for(&self.done, target);
        start.elapsed()
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// What one writes by hand with crossbeam-channel: boxed jobs on an
/// unbounded channel, `POOL_THREADS` workers, the callback on the worker.
struct CrossbeamPool {
    sender: Option<crossbeam_channel::Sender<Job>>,
    workers: Vec<thread::JoinHandle<()>>,
    done: Arc<AtomicU64>,
}

impl CrossbeamPool {
    fn new() -> CrossbeamPool {
        let (sender, receiver) = crossbeam_channel::unbounded::<Job>();
        let workers = (0..POOL_THREADS)
            .map(|_| {
                let receiver = receiver.clone();
                thread::spawn(move || {
                    for job in receiver {
                        job();
                    }
                })
            })
            .collect();
        CrossbeamPool { sender: Some(sender), workers, done: Arc::new(AtomicU64::new(0)) }
    }

    fn batch(&self, tasks: u64) -> Duration {
        let sender = self.sender.as_ref().expect("the pool is open while measured");
        let target = self.done.load(Ordering::Acquire) + tasks;
        let start = Instant::now();
        for task in 0..tasks {
            let done = self.done.clone();
            let callback = move |result: u64| {
                black_box(result);
                done.fetch_add(1, Ordering::Release);
            };
            sender.send(Box::new(move || callback(process(task)))).expect("the workers are alive");
        }
        wait_for(&self.done, target);
        start.elapsed()
    }
}

impl Drop for CrossbeamPool {
    fn drop(&mut self) {
        drop(self.sender.take());
        for worker in self.workers.drain(..) {
            let _ = worker.join();
        }
    }
}

/// A rayon pool with `POOL_THREADS` threads, fed by `spawn`.
struct RayonPool {
    pool: rayon::ThreadPool,
    done: Arc<AtomicU64>,
}

impl RayonPool {
    fn new() -> RayonPool {
        let pool = rayon::ThreadPoolBuilder::new().num_threads(POOL_THREADS).build().expect("the rayon pool starts");
        RayonPool { pool, done: Arc::new(AtomicU64::new(0)) }
    }

    fn batch(&self, tasks: u64) -> Duration {
        let target = self.done.load(Ordering::Acquire) + tasks;
        let start = Instant::now();
        for task in 0..tasks {
            let done = self.done.clone();
            self.pool.spawn(move || {
                black_box(process(task));
                done.fetch_add(1, Ordering::Release);
            });
        }
        wait_for(&self.done, target);
        start.elapsed()
    }
}

fn execution_id() -> Operation {
    Operation {
        id: "execution_async_id",
        title: "execution_async_id()",
        ours: subject("ours", "execution_async_id()", |iters| time_loop(iters, execution_async_id)),
        peers: vec![peer("thread_local", "thread_local! const Cell<u64> get", None, |iters| {
            time_loop(iters, || THREAD_ID.with(Cell::get))
        })],
        node: vec![node("execution_async_id", "Node executionAsyncId()", None)],
    }
}

fn lifecycle(n_hooks: usize) -> Operation {
    let (id, title, node_target) = match n_hooks {
        0 => ("lifecycle_0_hooks", "resource lifecycle, no hooks", Some(Target::Faster(5.0))),
        1 => ("lifecycle_1_hook", "resource lifecycle, 1 hook set", Some(Target::Faster(30.0))),
        _ => ("lifecycle_4_hooks", "resource lifecycle, 4 hook sets", None),
    };
    let node_key = match n_hooks {
        0 => "lifecycle_0_hooks",
        1 => "lifecycle_1_hook",
        _ => "lifecycle_4_hooks",
    };
    let hooks = HookSets::new(n_hooks);
    let ours = subject("ours", "new + run_in_async_scope(noop) + drop", move |iters| {
        hooks.while_enabled(|| {
            time_loop(iters, || {
                let resource = AsyncResource::new("Bench");
                resource.run_in_async_scope(|| black_box(()));
                // Observed in place: moving it into `black_box` copies it with wide
                // loads of narrow stores, a stall that would measure the copy.
                black_box(&resource);
            })
        })
    });
    let mut peers = Vec::new();
    if n_hooks == 1 {
        let dispatch = registry_dispatch();
        peers.push(peer("tracing_span", "tracing span new+enter+exit+close, Registry", None, move |iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                time_loop(iters, || {
                    let span = tracing::info_span!("Bench");
                    let entered = span.enter();
                    black_box(());
                    drop(entered);
                    // Observed in place, as ours.
                    black_box(&span);
                })
            })
        }));
    }
    Operation {
        id,
        title,
        ours,
        peers,
        node: vec![node(node_key, "Node new AsyncResource + runInAsyncScope + emitDestroy", node_target)],
    }
}

fn get_inside_run() -> Operation {
    Operation {
        id: "get_inside_run",
        title: "get() inside run",
        ours: subject("ours", "AsyncLocalStorage::get", |iters| STORE.run(7, || time_loop(iters, || STORE.get()))),
        peers: vec![
            peer("tokio_task_local", "tokio task_local! with, in sync_scope", None, |iters| {
                TASK_LOCAL.sync_scope(7, || time_loop(iters, || TASK_LOCAL.with(|value| *value)))
            }),
            peer("otel_context", "OTel Context::map_current(get), attached", None, |iters| {
                let _attached = opentelemetry::Context::current_with_value(OtelValue::<0>(7)).attach();
                time_loop(iters, || opentelemetry::Context::map_current(|cx| cx.get::<OtelValue<0>>().map(|v| v.0)))
            }),
        ],
        node: vec![node("get_inside_run", "Node als.getStore() inside run", None)],
    }
}

fn run_plus_get() -> Operation {
    let mut counter = 0_u64;
    Operation {
        id: "run_plus_get",
        title: "run + get",
        ours: subject("ours", "AsyncLocalStorage::run(v, get)", |iters| {
            time_loop(iters, || STORE.run(black_box(7), || STORE.get()))
        }),
        peers: vec![
            peer("tokio_task_local", "tokio task_local! sync_scope(v, with)", Some(Target::Within(1.5)), |iters| {
                time_loop(iters, || TASK_LOCAL.sync_scope(black_box(7), || TASK_LOCAL.with(|value| *value)))
            }),
            peer("otel_context", "OTel current_with_value + attach + get", None, move |iters| {
                time_loop(iters, || {
                    counter += 1;
                    let _attached = opentelemetry::Context::current_with_value(OtelValue::<0>(counter)).attach();
                    opentelemetry::Context::map_current(|cx| cx.get::<OtelValue<0>>().map(|v| v.0))
                })
            }),
        ],
        node: vec![node("run_plus_get", "Node als.run(v, () => als.getStore())", Some(Target::Faster(10.0)))],
    }
}

fn nested_get() -> Operation {
    let stores: Arc<Vec<AsyncLocalStorage<u64>>> = Arc::new((0..10).map(|_| AsyncLocalStorage::new()).collect());
    fn nest<R>(stores: &[AsyncLocalStorage<u64>], f: &mut dyn FnMut() -> R) -> R {
        match stores.split_first() {
            Some((first, rest)) => first.run(1, || nest(rest, f)),
            None => f(),
        }
    }
    Operation {
        id: "get_10_nested",
        title: "get() with 10 nested stores",
        ours: subject("ours", "get of the 6th of 10 nested runs", move |iters| {
            nest(&stores, &mut || time_loop(iters, || stores[5].get()))
        }),
        peers: vec![peer("otel_context", "OTel Context with 10 values, map_current(get)", None, |iters| {
            let cx = opentelemetry::Context::current()
                .with_value(OtelValue::<0>(1))
                .with_value(OtelValue::<1>(1))
                .with_value(OtelValue::<2>(1))
                .with_value(OtelValue::<3>(1))
                .with_value(OtelValue::<4>(1))
                .with_value(OtelValue::<5>(1))
                .with_value(OtelValue::<6>(1))
                .with_value(OtelValue::<7>(1))
                .with_value(OtelValue::<8>(1))
                .with_value(OtelValue::<9>(1));
            let _attached = cx.attach();
            time_loop(iters, || opentelemetry::Context::map_current(|cx| cx.get::<OtelValue<5>>().map(|v| v.0)))
        })],
        node: vec![node("get_10_nested", "Node getStore() of the 6th of 10 nested runs", None)],
    }
}

fn snapshot() -> Operation {
    Operation {
        id: "snapshot",
        title: "snapshot capture + run",
        ours: subject("ours", "Snapshot::capture() + run(noop)", |iters| {
            STORE.run(7, || {
                time_loop(iters, || {
                    let snapshot = Snapshot::capture();
                    snapshot.run(|| black_box(()))
                })
            })
        }),
        peers: vec![peer("otel_context", "OTel Context::current() + attach + drop guard", None, |iters| {
            let _attached = opentelemetry::Context::current_with_value(OtelValue::<0>(7)).attach();
            time_loop(iters, || {
                let captured = opentelemetry::Context::current();
                let attached = captured.attach();
                black_box(());
                drop(attached);
            })
        })],
        node: vec![node("snapshot", "Node AsyncLocalStorage.snapshot() + call(noop)", Some(Target::Faster(100.0)))],
    }
}

fn future_poll(n_hooks: usize) -> Operation {
    let hooks = HookSets::new(n_hooks);
    let ours = subject("ours", "poll of in_async_resource(pending)", move |iters| {
        hooks.while_enabled(|| poll_loop(iters, AlwaysPending.in_async_resource("Bench")))
    });
    let peers = if n_hooks == 0 {
        vec![
            peer("bare", "poll of the bare pending future", None, |iters| poll_loop(iters, AlwaysPending)),
            peer("tokio_task_local", "poll of task_local! scope(v, pending)", None, |iters| {
                poll_loop(iters, TASK_LOCAL.scope(7, AlwaysPending))
            }),
            peer("tracing_instrumented", "poll of Instrumented, no subscriber", None, |iters| {
                poll_loop(iters, AlwaysPending.instrument(tracing::info_span!("Bench")))
            }),
        ]
    } else {
        let dispatch = registry_dispatch();
        vec![peer("tracing_instrumented", "poll of Instrumented, Registry", None, move |iters| {
            tracing::dispatcher::with_default(&dispatch, || {
                poll_loop(iters, AlwaysPending.instrument(tracing::info_span!("Bench")))
            })
        })]
    };
    Operation {
        id: if n_hooks == 0 { "poll_0_hooks" } else { "poll_1_hook" },
        title: if n_hooks == 0 { "future poll, no hooks" } else { "future poll, 1 hook set" },
        ours,
        peers,
        node: Vec::new(),
    }
}

fn pool_round_trip(our_pool: &Arc<OurPool>, n_hooks: usize) -> Operation {
    let hooks = HookSets::new(n_hooks);
    let pool = our_pool.clone();
    let ours =
        subject("ours", "WorkerPool run_task + callback", move |iters| hooks.while_enabled(|| pool.batch(iters)));
    let crossbeam = CrossbeamPool::new();
    let crossbeam_target = if n_hooks == 0 { Some(Target::Within(1.5)) } else { None };
    let mut peers = vec![peer("crossbeam_pool", "crossbeam-channel pool, boxed job", crossbeam_target, move |iters| {
        crossbeam.batch(iters)
    })];
    let mut node_peers = Vec::new();
    if n_hooks == 0 {
        let rayon = RayonPool::new();
        peers.push(peer("rayon_spawn", "rayon ThreadPool::spawn", None, move |iters| rayon.batch(iters)));
        node_peers.push(node("pool_round_trip", "Node seed WorkerPool (worker_threads)", Some(Target::Faster(500.0))));
    }
    Operation {
        id: if n_hooks == 0 { "pool_0_hooks" } else { "pool_1_hook" },
        title: if n_hooks == 0 {
            "pool round trip (2 threads), no hooks"
        } else {
            "pool round trip (2 threads), 1 hook set"
        },
        ours,
        peers,
        node: node_peers,
    }
}

/// Every operation, in table order. Pools and hook sets are created here
/// and live as long as the returned values.
pub(crate) fn operations() -> Vec<Operation> {
    let our_pool = Arc::new(OurPool::new());
    vec![
        execution_id(),
        lifecycle(0),
        lifecycle(1),
        lifecycle(4),
        get_inside_run(),
        run_plus_get(),
        nested_get(),
        snapshot(),
        future_poll(0),
        future_poll(1),
        pool_round_trip(&our_pool, 0),
        pool_round_trip(&our_pool, 1),
    ]
}
