//! Worker threads kept across runs, and the claims of one run.
//!
//! A run is a list of steps, each cut into a fixed number of chunks (its share of the
//! outermost loop, of a product's rows, of a reduction's outputs). Every thread — the
//! caller and the pool's workers — claims the next chunk of the current step from an
//! atomic counter, runs it, and counts it done; whoever completes a step's last chunk
//! opens the next step. Nobody waits at a barrier for a thread that has nothing to do, so
//! a worker the OS has descheduled (another process on its core) costs at most the chunk
//! it holds, not a wait at every step: the other threads take the remaining chunks. The
//! caller returns once every step is done and no worker is inside the run's claims.
//!
//! Which thread runs a chunk varies from run to run; what the chunk computes does not
//! (the cut depends only on the thread count), so runs reproduce bit for bit.
//!
//! ## Why the hand-over is safe
//!
//! A worker announces itself (`holders += 1`) before it reads the published run and
//! withdraws after its claim; the caller withdraws the run (`job = null`) and then waits
//! for `holders == 0`. Both sides use sequentially consistent operations, so either the
//! caller sees the worker's announcement and waits for it, or the worker sees no run and
//! touches nothing. A worker holds its announcement only while it claims and runs one
//! chunk; it withdraws while it waits for a step to finish, so the caller never waits
//! for a descheduled worker that holds no chunk.
//!
//! ## One pool per process and thread count
//!
//! Programs and models take their pool from [`Pool::shared`]: every one that runs on `n`
//! threads in this process uses the same `n − 1` workers. With a pool each, a process
//! that holds several programs (`nabla bench` holds a loss+grad and a loss model) had
//! more threads waiting for work than cores: a worker woken while another pool's worker
//! still lingered on the other core was queued behind the caller on its core, and stayed
//! there for every later run, since a lingering worker never sleeps and so is never
//! placed again. From a third to all of `nabla bench benches/problems/B5.nabla`
//! processes, depending on the hour, ran every loss+grad on one thread (0.54–0.57 ms
//! against 0.29–0.30 ms; with one pool, ten of ten on two threads). A pool runs one
//! caller's run at a time; a run that finds it busy (another thread's program, or a run
//! inside a run) runs on its caller alone, chunk by chunk in the same cut, so its values
//! are the same to the bit.
//!
//! ## A worker moves off its caller's core
//!
//! When another process keeps a core busy, the OS may queue a worker on the caller's
//! core, where the two take turns and the worker adds nothing. The caller records its
//! core with every run, and a worker that finds itself there after a run moves to
//! another core it may run on (it leaves that core out of its allowed set, which makes
//! the OS migrate it at once, and gives the set back). With `yes > /dev/null` on one of
//! two cores, B5's loss+grad on two threads took 0.29–0.31 ms against 0.55–0.57 on one
//! (0.55–0.60 on two before); B1's and B4's, whose workers the OS's balancing brings
//! back beside the caller during a run, stay at one thread's time.

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, TryLockError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Spins before yielding the core while waiting (a few microseconds).
const SPINS: u32 = 1 << 10;

/// How long a worker that finished a run keeps watching for the next one before it
/// parks on the condition variable. Training and `nabla bench` run one evaluation after
/// another, a few host-side microseconds apart; a parked worker takes tens of
/// microseconds to wake, which on B5 (four tiles, 0.5 ms on two threads) was a tenth of
/// the run: its loss+grad took 0.473–0.514 ms parked and 0.434–0.455 ms with 200 µs of
/// lingering (`nabla bench benches/problems/B5.nabla --dtypes f32 --reps 50`, six
/// alternating runs each, 2-core Xeon). The cost is at most this much of one core's time
/// after the last run of a batch.
const LINGER: Duration = Duration::from_micros(200);

/// The claims of one run: which step is current and, per step, chunks claimed and done.
pub struct Job {
    /// The step in progress (`chunks.len()` when all are done).
    cur: AtomicUsize,
    claimed: Vec<AtomicUsize>,
    done: Vec<AtomicUsize>,
    /// Chunks of every step.
    chunks: Vec<usize>,
    /// Runs chunk `(step, chunk)`; `data` is what it runs on.
    run: unsafe fn(*const (), usize, usize),
    data: *const (),
}

/// What a claim found.
enum Claim {
    /// Chunk `.1` of step `.0` is this thread's.
    Chunk(usize, usize),
    /// Every chunk of the current step is taken; wait for it to finish.
    Busy(usize),
    /// Every step is done.
    Finished,
}

impl Job {
    /// A job over steps with these chunk counts (each at least 1).
    pub fn new(chunks: Vec<usize>) -> Job {
        let n = chunks.len();
        Job {
            cur: AtomicUsize::new(0),
            claimed: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            done: (0..n).map(|_| AtomicUsize::new(0)).collect(),
            chunks,
            run: noop,
            data: std::ptr::null(),
        }
    }

    fn claim(&self) -> Claim {
        let i = self.cur.load(Acquire);
        if i >= self.chunks.len() {
            return Claim::Finished;
        }
        let c = self.claimed[i].fetch_add(1, AcqRel);
        if c < self.chunks[i] {
            Claim::Chunk(i, c)
        } else {
            Claim::Busy(i)
        }
    }

    /// Counts chunk of step `i` done; the last one opens the next step. (The chain of
    /// read-modify-writes on `done` carries every chunk's writes to whoever opens it.)
    fn complete(&self, i: usize) {
        if self.done[i].fetch_add(1, AcqRel) + 1 == self.chunks[i] {
            self.cur.store(i + 1, Release);
        }
    }

    /// Runs a claimed chunk and counts it done.
    ///
    /// # Safety
    /// `run` and `data` must be valid for this job (set by [`Pool::run`]).
    unsafe fn work(&self, i: usize, c: usize) {
        // SAFETY: the caller's contract.
        unsafe { (self.run)(self.data, i, c) };
        self.complete(i);
    }

    fn reset(&self) {
        self.cur.store(0, Relaxed);
        for (a, b) in self.claimed.iter().zip(&self.done) {
            a.store(0, Relaxed);
            b.store(0, Relaxed);
        }
    }
}

unsafe fn noop(_: *const (), _: usize, _: usize) {}

/// What the caller and the workers share.
struct Shared {
    /// The run in progress, or null.
    job: AtomicPtr<Job>,
    /// Workers inside a claim of the published run.
    holders: AtomicUsize,
    /// Bumped for every run (and at shutdown) to wake parked workers.
    generation: Mutex<u64>,
    /// The last generation published (read without the lock by workers that linger).
    published: AtomicU64,
    /// The core the caller of the last run was on ([`NO_CPU`] where unknown; see the
    /// [module](self)).
    caller_cpu: AtomicUsize,
    wake: Condvar,
    shutdown: AtomicBool,
}

/// `n − 1` worker threads that help the calling thread run jobs.
pub struct Pool {
    shared: Arc<Shared>,
    workers: Vec<JoinHandle<()>>,
    /// Held by the caller of the run in progress.
    busy: Mutex<()>,
}

/// The pools of this process ([`Pool::shared`]), alive while a program holds them.
static POOLS: Mutex<Vec<(usize, Weak<Pool>)>> = Mutex::new(Vec::new());

impl Pool {
    /// The pool of this process for runs on `threads` threads: the one another program
    /// or model holds, or a new one (see the [module](self)).
    pub fn shared(threads: usize) -> Arc<Pool> {
        let mut pools = POOLS.lock().unwrap_or_else(|e| e.into_inner());
        pools.retain(|(_, p)| p.strong_count() > 0);
        let live = pools.iter().find(|(n, _)| *n == threads);
        if let Some(pool) = live.and_then(|(_, p)| p.upgrade()) {
            return pool;
        }
        let pool = Arc::new(Pool::new(threads));
        pools.push((threads, Arc::downgrade(&pool)));
        pool
    }

    /// A pool for runs on `threads` threads (the caller and `threads − 1` workers).
    pub fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            job: AtomicPtr::new(std::ptr::null_mut()),
            holders: AtomicUsize::new(0),
            generation: Mutex::new(0),
            published: AtomicU64::new(0),
            caller_cpu: AtomicUsize::new(NO_CPU),
            wake: Condvar::new(),
            shutdown: AtomicBool::new(false),
        });
        let workers = (1..threads)
            .map(|k| {
                let s = shared.clone();
                std::thread::Builder::new()
                    .name(format!("nabla-cpu-{k}"))
                    .spawn(move || worker(&s))
                    .expect("the operating system starts a worker thread")
            })
            .collect();
        Pool {
            shared,
            workers,
            busy: Mutex::new(()),
        }
    }

    /// Runs every chunk of every step of `job`, chunk `(i, c)` by `run(data, i, c)`, on
    /// this thread and the workers; returns when all are done and no worker holds a claim.
    /// While another run holds the pool, runs them all on this thread, in order.
    ///
    /// # Safety
    /// `run(data, i, c)` must be safe to call from any thread for every chunk `c` of every
    /// step `i`, chunks of one step concurrently, steps in order.
    pub unsafe fn run(
        &self,
        job: &mut Job,
        run: unsafe fn(*const (), usize, usize),
        data: *const (),
    ) {
        let _held = match self.busy.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                for (i, &chunks) in job.chunks.iter().enumerate() {
                    // SAFETY: the caller's contract; one thread runs the steps in order.
                    (0..chunks).for_each(|c| unsafe { run(data, i, c) });
                }
                return;
            }
        };
        job.reset();
        job.run = run;
        job.data = data;
        let s = &*self.shared;
        s.caller_cpu.store(current_cpu().unwrap_or(NO_CPU), Relaxed);
        s.job.store(job as *mut Job, SeqCst);
        {
            let mut g = s.generation.lock().unwrap_or_else(|e| e.into_inner());
            *g += 1;
            s.published.store(*g, SeqCst);
            s.wake.notify_all();
        }
        loop {
            match job.claim() {
                // SAFETY: the caller's contract.
                Claim::Chunk(i, c) => unsafe { job.work(i, c) },
                Claim::Busy(i) => wait_past(&job.cur, i),
                Claim::Finished => break,
            }
        }
        s.job.store(std::ptr::null_mut(), SeqCst);
        let mut spins = 0u32;
        while s.holders.load(SeqCst) != 0 {
            pause(&mut spins);
        }
    }
}

impl Pool {
    /// Runs `f(0)`, …, `f(n − 1)` once each on this thread and the workers, indices
    /// claimed in increasing order, and returns when every call has returned. A worker
    /// that has not claimed an index by the time the last one is taken is not waited for
    /// (the training model runs its tiles so: a descheduled worker delays nothing). A
    /// panic in `f` is caught where it happens, the other indices still run, and the
    /// first panic is resumed here once no thread is inside the run. A `for_each` on the
    /// same pool inside `f` runs on its caller alone.
    pub fn for_each(&self, n: usize, f: &(dyn Fn(usize) + Sync)) {
        /// `data` is the `Guarded` of the call below.
        unsafe fn call(data: *const (), _step: usize, c: usize) {
            // SAFETY: `data` points at `guarded`, borrowed for the whole run.
            let g = unsafe { &*(data as *const Guarded<'_>) };
            if let Err(p) = catch_unwind(AssertUnwindSafe(|| (g.f)(c))) {
                let mut first = g.panic.lock().unwrap_or_else(|e| e.into_inner());
                first.get_or_insert(p);
            }
        }
        if n == 0 {
            return;
        }
        let guarded = Guarded {
            f,
            panic: Mutex::new(None),
        };
        let mut job = Job::new(vec![n]);
        let data = &guarded as *const Guarded<'_> as *const ();
        // SAFETY: `f` is `Sync`, so it may be called from any thread for any index; no
        // call unwinds out of `call`, so every chunk completes and `run` returns normally,
        // once no thread is inside the run; `guarded` outlives it.
        unsafe { self.run(&mut job, call, data) };
        let panic = guarded
            .panic
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(p) = panic {
            resume_unwind(p);
        }
    }
}

/// The function of a [`Pool::for_each`] and the first panic it raised.
struct Guarded<'f> {
    f: &'f (dyn Fn(usize) + Sync),
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.shutdown.store(true, SeqCst);
        {
            let mut g = (self.shared.generation.lock()).unwrap_or_else(|e| e.into_inner());
            *g += 1;
            self.shared.published.store(*g, SeqCst);
            self.shared.wake.notify_all();
        }
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
    }
}

/// A worker: waits for a run to be published ([`linger`]ing, then parked), helps with it,
/// waits again.
fn worker(s: &Shared) {
    let mut seen = 0u64;
    loop {
        if let Some(cpu) = beside_caller(s) {
            step_aside(cpu);
        }
        linger(s, seen);
        {
            let mut g = s.generation.lock().unwrap_or_else(|e| e.into_inner());
            while *g == seen && !s.shutdown.load(SeqCst) {
                g = s.wake.wait(g).unwrap_or_else(|e| e.into_inner());
            }
            seen = *g;
        }
        if s.shutdown.load(SeqCst) {
            return;
        }
        help(s);
    }
}

/// Watches for the next run for up to [`LINGER`] (spinning, then yielding the core)
/// before the worker parks: a run that follows within that time starts on every thread
/// at once instead of after a wake-up.
fn linger(s: &Shared, seen: u64) {
    let t0 = Instant::now();
    let mut spins = 0u32;
    while s.published.load(SeqCst) == seen && !s.shutdown.load(SeqCst) && t0.elapsed() < LINGER {
        pause(&mut spins);
    }
}

/// [`Shared::caller_cpu`] when the core is not known.
const NO_CPU: usize = usize::MAX;

/// The core of the last run's caller if this thread is on it too; `None` where either is
/// unknown.
fn beside_caller(s: &Shared) -> Option<usize> {
    let caller = s.caller_cpu.load(Relaxed);
    (caller != NO_CPU && current_cpu() == Some(caller)).then_some(caller)
}

/// The core this thread is running on now.
#[cfg(target_os = "linux")]
fn current_cpu() -> Option<usize> {
    // SAFETY: `sched_getcpu` takes no arguments and only reads the calling thread's state.
    let cpu = unsafe { libc::sched_getcpu() };
    usize::try_from(cpu).ok()
}

/// The core this thread is running on now (not known here).
#[cfg(not(target_os = "linux"))]
fn current_cpu() -> Option<usize> {
    None
}

/// Moves this thread off core `cpu` and returns the core it landed on: the OS migrates a
/// thread at once when its core leaves its allowed set, and the thread stays where it
/// landed when the set is given back. `None` (nothing moved) where `cpu` is its only
/// allowed core or the OS refuses.
#[cfg(target_os = "linux")]
fn step_aside(cpu: usize) -> Option<usize> {
    let size = std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `cpu_set_t` is a plain bit array (all zeros is the empty set); the calls
    // read and write only the sets passed, of the size given, for this thread (0).
    unsafe {
        let mut allowed: libc::cpu_set_t = std::mem::zeroed();
        if cpu >= 8 * size || libc::sched_getaffinity(0, size, &mut allowed) != 0 {
            return None;
        }
        let mut elsewhere = allowed;
        libc::CPU_CLR(cpu, &mut elsewhere);
        if libc::CPU_COUNT(&elsewhere) == 0 || libc::sched_setaffinity(0, size, &elsewhere) != 0 {
            return None;
        }
        // read while `cpu` is not allowed, so certainly not `cpu`
        let landed = current_cpu();
        libc::sched_setaffinity(0, size, &allowed);
        landed
    }
}

/// Moves this thread off a core (not done here).
#[cfg(not(target_os = "linux"))]
fn step_aside(_cpu: usize) -> Option<usize> {
    None
}

/// Claims and runs chunks of the published run until it is finished or withdrawn.
fn help(s: &Shared) {
    loop {
        s.holders.fetch_add(1, SeqCst);
        let job = s.job.load(SeqCst);
        if job.is_null() {
            s.holders.fetch_sub(1, SeqCst);
            return;
        }
        // SAFETY: the caller of `Pool::run` keeps the job alive until `holders` is 0.
        let job = unsafe { &*job };
        match job.claim() {
            Claim::Chunk(i, c) => {
                // SAFETY: `Pool::run`'s contract.
                unsafe { job.work(i, c) };
                s.holders.fetch_sub(1, SeqCst);
            }
            Claim::Busy(i) => {
                s.holders.fetch_sub(1, SeqCst);
                // wait outside the claims: re-announce for every look at the job
                let mut spins = 0u32;
                loop {
                    s.holders.fetch_add(1, SeqCst);
                    let j = s.job.load(SeqCst);
                    // SAFETY: as above, the job lives while we are announced.
                    let moved = j.is_null() || unsafe { (*j).cur.load(Acquire) } != i;
                    s.holders.fetch_sub(1, SeqCst);
                    if moved {
                        break;
                    }
                    pause(&mut spins);
                }
            }
            Claim::Finished => {
                s.holders.fetch_sub(1, SeqCst);
                return;
            }
        }
    }
}

/// Waits (spinning, then yielding the core) until `cur` is past step `i`.
fn wait_past(cur: &AtomicUsize, i: usize) {
    let mut spins = 0u32;
    while cur.load(Acquire) == i {
        pause(&mut spins);
    }
}

/// One round of waiting: a spin hint for the first rounds, then the core handed to
/// another thread (the one being waited for, when the machine is oversubscribed).
fn pause(spins: &mut u32) {
    if *spins < SPINS {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        std::thread::yield_now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in `for_each`'s function, on whichever thread, comes back to the caller
    /// after every other index has run, and the pool still works afterwards.
    #[test]
    fn a_panic_in_for_each_comes_back_to_the_caller() {
        for threads in [1, 2, 3] {
            let pool = Pool::new(threads);
            for bad in [0, 5, 19] {
                let hits: Vec<AtomicUsize> = (0..20).map(|_| AtomicUsize::new(0)).collect();
                let r = catch_unwind(AssertUnwindSafe(|| {
                    pool.for_each(20, &|i| {
                        hits[i].fetch_add(1, SeqCst);
                        assert!(i != bad, "index {i}");
                    })
                }));
                assert!(r.is_err(), "{threads} threads, panic at {bad}");
                assert!(hits.iter().all(|h| h.load(SeqCst) == 1), "{threads}, {bad}");
            }
            let count = AtomicUsize::new(0);
            pool.for_each(7, &|_| {
                count.fetch_add(1, SeqCst);
            });
            assert_eq!(count.load(SeqCst), 7);
        }
    }

    /// Runs that follow each other at once (workers lingering) and after more than
    /// [`LINGER`] (workers parked) both get every index run once, and a pool dropped while
    /// its workers linger shuts down.
    #[test]
    fn runs_reach_lingering_and_parked_workers() {
        for threads in [2, 3] {
            let pool = Pool::new(threads);
            for gap in [Duration::ZERO, LINGER * 3, Duration::ZERO, LINGER * 3] {
                std::thread::sleep(gap);
                let hits: Vec<AtomicUsize> = (0..64).map(|_| AtomicUsize::new(0)).collect();
                pool.for_each(64, &|i| {
                    hits[i].fetch_add(1, SeqCst);
                });
                assert!(
                    hits.iter().all(|h| h.load(SeqCst) == 1),
                    "{threads}, {gap:?}"
                );
            }
            drop(pool);
        }
    }

    /// `for_each` calls every index once, on several threads.
    #[test]
    fn for_each_calls_every_index_once() {
        for threads in [1, 2, 4] {
            let pool = Pool::new(threads);
            for n in [0, 1, 7, 100] {
                let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
                pool.for_each(n, &|i| {
                    hits[i].fetch_add(1, SeqCst);
                });
                assert!(hits.iter().all(|h| h.load(SeqCst) == 1), "{threads}, {n}");
            }
        }
    }

    /// Every chunk of every step runs exactly once, steps in order.
    #[test]
    fn every_chunk_runs_once_and_steps_in_order() {
        struct Log {
            hits: Vec<AtomicUsize>,
            order_ok: AtomicBool,
            steps_done: Vec<AtomicUsize>,
            chunks: Vec<usize>,
        }
        unsafe fn run(data: *const (), i: usize, c: usize) {
            // SAFETY: `data` is the `Log` below.
            let log = unsafe { &*(data as *const Log) };
            if i > 0 && log.steps_done[i - 1].load(SeqCst) != log.chunks[i - 1] {
                log.order_ok.store(false, SeqCst);
            }
            let base: usize = log.chunks[..i].iter().sum();
            log.hits[base + c].fetch_add(1, SeqCst);
            log.steps_done[i].fetch_add(1, SeqCst);
        }
        for threads in [2, 3, 5] {
            let pool = Pool::new(threads);
            let chunks: Vec<usize> = (0..200).map(|i| 1 + (i * 7) % 13).collect();
            let total: usize = chunks.iter().sum();
            let mut job = Job::new(chunks.clone());
            for _ in 0..50 {
                let log = Log {
                    hits: (0..total).map(|_| AtomicUsize::new(0)).collect(),
                    order_ok: AtomicBool::new(true),
                    steps_done: (0..chunks.len()).map(|_| AtomicUsize::new(0)).collect(),
                    chunks: chunks.clone(),
                };
                // SAFETY: `run` only touches atomics of `log`, which outlives the run.
                unsafe { pool.run(&mut job, run, &log as *const Log as *const ()) };
                assert!(
                    log.hits.iter().all(|h| h.load(SeqCst) == 1),
                    "{threads} threads"
                );
                assert!(
                    log.order_ok.load(SeqCst),
                    "{threads} threads: steps overlapped"
                );
            }
        }
    }

    /// Programs on as many threads share one pool while any holds it; another thread
    /// count gets its own.
    #[test]
    fn programs_on_as_many_threads_share_one_pool() {
        let (a, b, c) = (Pool::shared(3), Pool::shared(3), Pool::shared(4));
        assert!(Arc::ptr_eq(&a, &b));
        assert!(!Arc::ptr_eq(&a, &c));
        assert_eq!((a.workers.len(), c.workers.len()), (2, 3));
    }

    /// Runs from several threads at once on one pool each call every index once (one
    /// holds the pool, the others run alone), and a run inside a run runs on its caller.
    #[test]
    fn runs_that_find_the_pool_busy_run_alone() {
        let pool = Pool::shared(2);
        std::thread::scope(|s| {
            for t in 0..4 {
                let pool = &pool;
                s.spawn(move || {
                    for round in 0..50 {
                        let hits: Vec<AtomicUsize> = (0..40).map(|_| AtomicUsize::new(0)).collect();
                        pool.for_each(40, &|i| {
                            hits[i].fetch_add(1, SeqCst);
                        });
                        let once = hits.iter().all(|h| h.load(SeqCst) == 1);
                        assert!(once, "thread {t}, round {round}");
                    }
                });
            }
        });
        let outer: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
        let inner: Vec<AtomicUsize> = (0..40).map(|_| AtomicUsize::new(0)).collect();
        let elsewhere = AtomicUsize::new(0);
        pool.for_each(8, &|i| {
            outer[i].fetch_add(1, SeqCst);
            let me = std::thread::current().id();
            pool.for_each(5, &|j| {
                inner[5 * i + j].fetch_add(1, SeqCst);
                if std::thread::current().id() != me {
                    elsewhere.fetch_add(1, SeqCst);
                }
            });
        });
        assert!(outer.iter().chain(&inner).all(|h| h.load(SeqCst) == 1));
        assert_eq!(
            elsewhere.load(SeqCst),
            0,
            "an inner index ran on another thread"
        );
    }

    /// A thread that steps aside from its core lands on another one it may run on, and
    /// keeps the cores it was allowed (where it has a second one).
    #[cfg(target_os = "linux")]
    #[test]
    fn a_thread_steps_aside_to_another_allowed_core() {
        std::thread::spawn(|| {
            let size = std::mem::size_of::<libc::cpu_set_t>();
            let allowed = || {
                // SAFETY: as in `step_aside`.
                unsafe {
                    let mut set: libc::cpu_set_t = std::mem::zeroed();
                    assert_eq!(libc::sched_getaffinity(0, size, &mut set), 0);
                    set
                }
            };
            let before = allowed();
            // SAFETY: `before` is a valid set.
            let cores = unsafe { libc::CPU_COUNT(&before) };
            let here = current_cpu().expect("Linux names the core");
            let landed = step_aside(here);
            match cores {
                1 => assert_eq!(landed, None),
                _ => {
                    let to = landed.expect("another core is allowed");
                    assert_ne!(to, here);
                    // SAFETY: `before` is a valid set and `to` a core number below its size.
                    assert!(unsafe { libc::CPU_ISSET(to, &before) });
                }
            }
            let after = allowed();
            // SAFETY: both are valid sets.
            assert!(
                unsafe { libc::CPU_EQUAL(&before, &after) },
                "the set came back"
            );
        })
        .join()
        .unwrap();
    }
}
