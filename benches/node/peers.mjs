// Node's side of the peer comparison: the operations of DESIGN §8 written
// with Node's own `async_hooks`, `AsyncLocalStorage` and the worker pool of
// Node's docs ("Using AsyncResource for a Worker thread pool", the seed),
// timed with the same method as `examples/compare.rs`: calibrate a loop to
// about 10 ms, warm up, and keep the best of N samples.
//
// Usage: node benches/node/peers.mjs [--rounds N]
// Prints progress to stderr and one JSON object to stdout:
//   {"node": "v20.20.2", "ns_per_op": {"run_plus_get": 123.4, ...}}

import { AsyncLocalStorage, AsyncResource, createHook, executionAsyncId } from 'node:async_hooks';
import { EventEmitter } from 'node:events';
import { Worker } from 'node:worker_threads';

const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 15;
const SAMPLE_NS = 10e6;
const POOL_THREADS = 2;

// Results are summed into this and printed, so no loop is dead code.
let sink = 0;
const noop = () => {};

function hrtime() {
  return process.hrtime.bigint();
}

// Returns how many iterations of `loop(n)` take about SAMPLE_NS, after
// enough warm-up calls for the JIT to have optimized the loop.
function calibrate(loop) {
  for (let i = 0; i < 20; i++) loop(1000);
  let n = 1000;
  for (;;) {
    const start = hrtime();
    loop(n);
    const elapsed = Number(hrtime() - start);
    if (elapsed >= SAMPLE_NS / 4 || n >= 1e9) {
      // A GC pause in one run would make the loop far too short: scale by
      // the fastest of three runs at this length.
      let fastest = elapsed;
      for (let i = 0; i < 2; i++) {
        const again = hrtime();
        loop(n);
        fastest = Math.min(fastest, Number(hrtime() - again));
      }
      return Math.max(1, Math.round((n * SAMPLE_NS) / Math.max(fastest, 1)));
    }
    n *= 2;
  }
}

// Best ns/op of ROUNDS samples of a synchronous loop. `afterSample` (async)
// runs inside the timed region, e.g. to let queued destroy hooks drain.
async function measure(name, loop, afterSample) {
  const n = calibrate(loop);
  let best = Infinity;
  for (let round = 0; round < ROUNDS + 2; round++) {
    const start = hrtime();
    loop(n);
    if (afterSample) await afterSample();
    const perOp = Number(hrtime() - start) / n;
    // The first two samples are warm-up.
    if (round >= 2) best = Math.min(best, perOp);
  }
  process.stderr.write(`  node ${name}: ${best.toFixed(1)} ns/op (n=${n})\n`);
  return best;
}

const nextTurn = () => new Promise((resolve) => setImmediate(resolve));

// A hook set of no-op callbacks for every event, as ours in peer_ops.
function noopHookSet() {
  return createHook({ init() {}, before() {}, after() {}, destroy() {}, promiseResolve() {} });
}

function lifecycleLoop(n) {
  for (let i = 0; i < n; i++) {
    const resource = new AsyncResource('Bench');
    resource.runInAsyncScope(noop);
    resource.emitDestroy();
  }
}

// The worker pool of Node's docs, written out again: each task is a
// `WorkerPoolTaskInfo` AsyncResource created when a worker is free, the
// callback runs in its scope, and a busy pool queues the task by waiting
// for the next "worker freed" event.
const kTaskInfo = Symbol('kTaskInfo');
const kWorkerFreedEvent = Symbol('kWorkerFreedEvent');
const processorSource = `
  const { parentPort } = require('node:worker_threads');
  parentPort.on('message', (task) => parentPort.postMessage(task.a + task.b));
`;

class WorkerPoolTaskInfo extends AsyncResource {
  constructor(callback) {
    super('WorkerPoolTaskInfo');
    this.callback = callback;
  }

  done(err, result) {
    this.runInAsyncScope(this.callback, null, err, result);
    this.emitDestroy();
  }
}

class WorkerPool extends EventEmitter {
  constructor(numThreads) {
    super();
    this.setMaxListeners(0);
    this.workers = [];
    this.freeWorkers = [];
    for (let i = 0; i < numThreads; i++) this.addNewWorker();
  }

  addNewWorker() {
    const worker = new Worker(processorSource, { eval: true });
    worker.on('message', (result) => {
      worker[kTaskInfo].done(null, result);
      worker[kTaskInfo] = null;
      this.freeWorkers.push(worker);
      this.emit(kWorkerFreedEvent);
    });
    worker.on('error', (err) => {
      if (worker[kTaskInfo]) worker[kTaskInfo].done(err, null);
      else this.emit('error', err);
      this.workers.splice(this.workers.indexOf(worker), 1);
      this.addNewWorker();
    });
    this.workers.push(worker);
    this.freeWorkers.push(worker);
  }

  runTask(task, callback) {
    if (this.freeWorkers.length === 0) {
      this.once(kWorkerFreedEvent, () => this.runTask(task, callback));
      return;
    }
    const worker = this.freeWorkers.pop();
    worker[kTaskInfo] = new WorkerPoolTaskInfo(callback);
    worker.postMessage(task);
  }

  close() {
    for (const worker of this.workers) worker.terminate();
  }
}

// Submits `tasks` tasks and resolves when every callback ran.
function poolBatch(pool, tasks) {
  return new Promise((resolve, reject) => {
    let finished = 0;
    for (let i = 0; i < tasks; i++) {
      pool.runTask({ a: i, b: 100 }, (err, result) => {
        if (err) return reject(err);
        sink += result;
        if (++finished === tasks) resolve();
      });
    }
  });
}

// Best ns/task over samples of about 20 ms of back-to-back batches of
// `tasks` tasks, after a warm-up sample.
async function measurePool(pool, tasks) {
  const rounds = Math.max(3, Math.ceil(ROUNDS / 3));
  let best = Infinity;
  for (let round = 0; round < rounds + 1; round++) {
    const start = hrtime();
    let done = 0;
    while (Number(hrtime() - start) < 2 * SAMPLE_NS) {
      await poolBatch(pool, tasks);
      done += tasks;
    }
    const perTask = Number(hrtime() - start) / done;
    if (round >= 1) best = Math.min(best, perTask);
  }
  process.stderr.write(`  node pool_round_trip batch ${tasks}: ${best.toFixed(0)} ns/task\n`);
  return best;
}

async function main() {
  const results = {};

  results.execution_async_id = await measure('execution_async_id', (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += executionAsyncId();
    sink += sum;
  });

  // Resource lifecycles run before any AsyncLocalStorage exists: on Node 20
  // the first `run` enables ALS's own init hook, which would count as a hook
  // set here. Destroy hooks are queued and emitted on a later turn, so each
  // sample waits for that turn inside the timed region.
  results.lifecycle_0_hooks = await measure('lifecycle_0_hooks', lifecycleLoop, nextTurn);
  const hookSets = [noopHookSet(), noopHookSet(), noopHookSet(), noopHookSet()];
  hookSets[0].enable();
  results.lifecycle_1_hook = await measure('lifecycle_1_hook', lifecycleLoop, nextTurn);
  for (const hookSet of hookSets.slice(1)) hookSet.enable();
  results.lifecycle_4_hooks = await measure('lifecycle_4_hooks', lifecycleLoop, nextTurn);
  for (const hookSet of hookSets) hookSet.disable();
  await nextTurn();

  const als = new AsyncLocalStorage();
  await als.run(7, () =>
    measure('get_inside_run', (n) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += als.getStore();
      sink += sum;
    }).then((ns) => {
      results.get_inside_run = ns;
    }),
  );

  const getter = () => als.getStore();
  results.run_plus_get = await measure('run_plus_get', (n) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += als.run(i, getter);
    sink += sum;
  });

  const nested = Array.from({ length: 10 }, () => new AsyncLocalStorage());
  const nest = (stores, f) => (stores.length === 0 ? f() : stores[0].run(1, () => nest(stores.slice(1), f)));
  await nest(nested, () =>
    measure('get_10_nested', (n) => {
      let sum = 0;
      for (let i = 0; i < n; i++) sum += nested[5].getStore();
      sink += sum;
    }).then((ns) => {
      results.get_10_nested = ns;
    }),
  );

  await als.run(7, () =>
    measure('snapshot', (n) => {
      for (let i = 0; i < n; i++) {
        const snapshot = AsyncLocalStorage.snapshot();
        snapshot(noop);
      }
    }).then((ns) => {
      results.snapshot = ns;
    }),
  );
  als.disable();
  for (const store of nested) store.disable();

  // The seed pool with POOL_THREADS workers, hooks off. Its queue is a
  // "once" listener per waiting task, and every freed worker wakes all of
  // them, so its cost per task grows with the batch (about 1.4 ms per task
  // in batches of 1000): small batches are measured and the best is kept.
  const pool = new WorkerPool(POOL_THREADS);
  const perBatch = [];
  for (const tasks of [2, 10, 100]) perBatch.push([tasks, await measurePool(pool, tasks)]);
  pool.close();
  const [bestBatch, bestNs] = perBatch.reduce((a, b) => (b[1] < a[1] ? b : a));
  results.pool_round_trip = bestNs;
  results.pool_round_trip_batch = bestBatch;

  process.stdout.write(`${JSON.stringify({ node: process.version, sink: sink % 1000, ns_per_op: results })}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
