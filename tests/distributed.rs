//! `mpirun -np K nabla train FILE --distributed` (the `mpi` feature; `mpirun` from
//! OpenMPI on the PATH): the loss history of 2 and 3 processes against one process, output
//! written once, a failing or killed rank ending the job within seconds, bad input
//! reported once, and a killed distributed run resumed bit for bit.
//!
//! Tolerances: none. Every run cuts its points into the same tiles (at least four, as
//! many as the set sizes call for, whatever the number of processes), every tile's
//! program is the same in every process, the tiles' gradients are added over one tree
//! and the loss, the causal weights and Levenberg–Marquardt's system are added up from
//! per-point values gathered in one process's order: 2 and 3 processes reproduce one
//! process's loss history bit for bit, with every optimizer. (The issue asked for 1e-10;
//! anything but 0 would mean a value computed in another order.)
#![cfg(feature = "mpi")]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

mod runs_common;
use runs_common::{csv_column, csv_losses, wait_for, TINY};

/// The tiny problem with a wider net: more parameters (337) than residual values (141),
/// so Levenberg–Marquardt works in point space (the ranks gather `J`).
fn wide() -> String {
    TINY.replace("widths = [8, 8]", "widths = [16, 16]")
}

fn bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("nabla")
}

/// `mpirun` with the flags a container needs (root, more ranks than cores).
fn mpirun(np: usize) -> Command {
    let mut c = Command::new("mpirun");
    c.args([
        "--allow-run-as-root",
        "--oversubscribe",
        "-np",
        &np.to_string(),
    ]);
    c.env("OMPI_MCA_rmaps_base_oversubscribe", "1");
    c
}

/// Trains `file` with `np` processes (0: without MPI) into `out`.
fn train(np: usize, file: &Path, out: &Path, flags: &[&str]) -> Output {
    let mut c = if np == 0 {
        Command::new(bin())
    } else {
        let mut c = mpirun(np);
        c.arg(bin());
        c
    };
    c.arg("train").arg(file).args(flags).arg("--out").arg(out);
    if np > 0 {
        c.arg("--distributed");
    }
    let o = c.output().expect("mpirun runs (install openmpi-bin)");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "np {np}: {err}");
    o
}

fn problem_file(dir: &Path, text: &str) -> PathBuf {
    let f = dir.join("p.nabla");
    std::fs::write(&f, text).unwrap();
    f
}

/// The largest relative difference of two loss histories, step by step.
fn max_rel_diff(a: &[u64], b: &[u64]) -> f64 {
    assert_eq!(a.len(), b.len());
    (a.iter().zip(b))
        .map(|(x, y)| {
            let (x, y) = (f64::from_bits(*x), f64::from_bits(*y));
            (x - y).abs() / x.abs()
        })
        .fold(0.0, f64::max)
}

fn compare(text: &str, nps: &[usize], flags: &[&str], tol: f64) {
    let dir = tempfile::tempdir().unwrap();
    let file = problem_file(dir.path(), text);
    let one = dir.path().join("one");
    train(0, &file, &one, flags);
    let reference = csv_losses(&one.join("history.csv"));
    for &np in nps {
        let out = dir.path().join(format!("np{np}"));
        let o = train(np, &file, &out, flags);
        let d = max_rel_diff(&reference, &csv_losses(&out.join("history.csv")));
        assert!(d <= tol, "{flags:?} with {np} processes: {d:e}");
        let stdout = String::from_utf8_lossy(&o.stdout);
        assert_eq!(
            stdout.matches("rel_l2 u =").count(),
            1,
            "rank 0 alone reports"
        );
    }
}

#[test]
fn adam_matches_one_process_at_every_step() {
    let flags = ["--dtype", "f64", "--optimizer", "adam", "--steps", "300"];
    compare(TINY, &[2, 3], &flags, 0.0);
}

#[test]
fn lbfgs_matches_one_process_at_every_step() {
    // before the tiles, the ranks' gradients were sums over their shares of the points,
    // grouped unlike one process's: the line searches drifted to 7e-5 in 120 steps
    let lbfgs = ["--dtype", "f64", "--optimizer", "lbfgs", "--steps", "200"];
    compare(TINY, &[2, 3], &lbfgs, 0.0);
}

#[test]
fn long_gradients_are_added_blockwise_in_the_same_order() {
    // [256, 256] layers: 66 817 gradient values, past the one-gather limit (2¹⁶ values)
    // with a single block per rank, so every rank combines one range of entries of every
    // rank's blocks (`Mpi`'s all-to-all path) — and still gets one process's bits
    let wide = TINY.replace("widths = [8, 8]", "widths = [256, 256]");
    let flags = ["--dtype", "f64", "--optimizer", "adam", "--steps", "20"];
    compare(&wide, &[2, 3], &flags, 0.0);
}

#[test]
fn lm_matches_one_process_until_it_converges() {
    // with geodesic acceleration (default) and without; long enough to converge
    let lm = ["--dtype", "f64", "--optimizer", "lm", "--steps", "60"];
    compare(TINY, &[2, 3], &lm, 0.0);
    let plain = [&lm[..], &["--no-geodesic"]].concat();
    compare(TINY, &[3], &plain, 0.0);
    // point space (fewer residual values than parameters)
    compare(&wide(), &[2], &lm, 0.0);
    // parameter space (more residual values than parameters)
    let tall = wide().replace("interior(101)", "interior(301)");
    compare(&tall, &[2, 3], &lm, 0.0);
}

#[test]
fn the_poisson_example_is_reproduced_with_every_optimizer() {
    // the criterion: `-np 2` and `-np 3` against one process, f64, at every step
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/poisson2d.nabla");
    let text = std::fs::read_to_string(file).unwrap();
    for flags in [
        &["--optimizer", "adam", "--steps", "300"][..],
        &["--optimizer", "lbfgs", "--steps", "300"],
        &["--optimizer", "lm", "--steps", "40"],
    ] {
        compare(
            &text,
            &[2, 3],
            &[&["--dtype", "f64"][..], flags].concat(),
            0.0,
        );
    }
}

#[test]
fn causal_weights_are_the_same_on_every_rank() {
    // the chunk losses add every rank's squares in one process's order: every rank weighs
    // its rows as one process does (x stands in for time; both sets span it). ε is small
    // enough that the weights start between 1 and e⁻¹ and move every step.
    let causal = "--causal 0.001 --causal-time x --causal-chunks 5";
    let runs = [
        ("--dtype f64 --optimizer adam --steps 60", 0.0),
        ("--dtype f64 --optimizer lm --steps 8", 0.0),
    ];
    for (run, tol) in runs {
        let flags = format!("{run} {causal}");
        let flags: Vec<&str> = flags.split(' ').collect();
        let dir = tempfile::tempdir().unwrap();
        let file = problem_file(dir.path(), TINY);
        let one = dir.path().join("one");
        train(0, &file, &one, &flags);
        let history = one.join("history.csv");
        let weights = csv_column(&history, "causal_min");
        let first = f64::from_bits(weights[0]);
        assert!(first > 0.3 && first < 0.99, "weights that weigh: {first}");
        for np in [2, 3] {
            let out = dir.path().join(format!("np{np}"));
            train(np, &file, &out, &flags);
            let theirs = out.join("history.csv");
            for col in ["loss", "causal_min"] {
                let d = max_rel_diff(&csv_column(&history, col), &csv_column(&theirs, col));
                assert!(d <= tol, "{flags:?}, {col} with {np} processes: {d:e}");
            }
        }
    }
}

/// Sets smaller than the number of tiles: an interval's two ends and three data points
/// beside 2048 interior points (f64: sixteen tiles of 128 interior points). Two and
/// three processes own the ends' tiles differently, and with three, rank 0's five tiles
/// hold no end and no data point: a rank holds no row of a set. Every optimizer, and causal weights over
/// `x`, still give one process's bits.
#[test]
fn a_set_smaller_than_the_tiles_is_reproduced_whoever_holds_its_rows() {
    let ends = "problem ends
input x in [0, 1]
net u(x) = mlp(widths = [8, 8], act = tanh, seed = 0)
points inner = interior(2048)
points ends = boundary(2)
points data = interior(3)
residual ode on inner = d(u, x, x) + pi^2 * sin(pi * x)
residual bc on ends weight 10 = u
residual fit on data = u - sin(pi * x)
exact u = sin(pi * x)
";
    let f64 = ["--dtype", "f64", "--optimizer"];
    for run in [
        &["adam", "--steps", "60"][..],
        &["lbfgs", "--steps", "60"],
        &["lm", "--steps", "10"],
        &[
            "adam",
            "--steps",
            "30",
            "--causal",
            "0.001",
            "--causal-time",
            "x",
        ],
    ] {
        compare(ends, &[2, 3], &[&f64[..], run].concat(), 0.0);
    }
}

#[test]
fn resampling_gives_every_rank_its_share_of_the_new_points() {
    let flags = ["--dtype", "f64", "--optimizer", "adam", "--steps", "60"];
    compare(
        TINY,
        &[3],
        &[&flags[..], &["--resample", "7"]].concat(),
        1e-10,
    );
}

#[test]
fn sampled_operators_draw_the_directions_of_one_process() {
    let sampled = TINY.replace("-lap(u)", "-lap(u; sample = 2)");
    let flags = ["--dtype", "f64", "--optimizer", "adam", "--steps", "60"];
    compare(&sampled, &[2], &flags, 1e-10);
}

#[test]
fn bad_input_is_reported_once_as_without_mpi() {
    let dir = tempfile::tempdir().unwrap();
    let file = problem_file(dir.path(), &TINY.replace("- 2 * pi^2", "- 2 * q"));
    let o = mpirun(2)
        .arg(bin())
        .arg("train")
        .arg(&file)
        .arg("--distributed")
        .output()
        .unwrap();
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(err.matches("unknown name `q`").count(), 1, "{err}");
    assert!(err.contains("p.nabla:7:"), "{err}");
}

/// The ranks of a job training `file`: processes named `nabla` whose command line holds
/// the file (not `mpirun`, whose command line holds it too).
fn ranks_of(file: &Path) -> Vec<u32> {
    let file = file.to_string_lossy().into_owned();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    (procs.flatten())
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            comm.trim() == "nabla" && String::from_utf8_lossy(&cmd).contains(&file)
        })
        .collect()
}

/// Starts a long distributed run and SIGKILLs one rank once `ready` exists; returns the
/// job's status and how long it took to end after the kill.
fn kill_one_rank(file: &Path, out: &Path, ready: &Path, steps: &str) -> (bool, Duration) {
    let np = 2;
    let mut job = mpirun(np)
        .arg(bin())
        .args(["train"])
        .arg(file)
        .args(["--distributed", "--dtype", "f64", "--steps", steps])
        .args(["--optimizer", "adam", "--checkpoint-every", "5", "--out"])
        .arg(out)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_for(ready);
    let t0 = Instant::now();
    let ranks = loop {
        let r = ranks_of(file);
        if r.len() >= np || t0.elapsed() > Duration::from_secs(30) {
            break r;
        }
    };
    assert_eq!(ranks.len(), np, "the ranks run");
    let victim = ranks[1];
    let killed = Command::new("kill")
        .args(["-9", &victim.to_string()])
        .status();
    assert!(killed.unwrap().success());
    let t0 = Instant::now();
    loop {
        if let Some(status) = job.try_wait().unwrap() {
            return (status.success(), t0.elapsed());
        }
        if t0.elapsed() > Duration::from_secs(30) {
            job.kill().unwrap();
            panic!("the job still runs 30 s after one rank was killed");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_killed_rank_ends_the_job_within_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let file = problem_file(dir.path(), TINY);
    let out = dir.path().join("out");
    let ready = out.join("checkpoint.json");
    let (ok, took) = kill_one_rank(&file, &out, &ready, "100000000");
    assert!(!ok, "a job with a killed rank fails");
    assert!(took < Duration::from_secs(10), "ended after {took:?}");
    assert!(ranks_of(&file).is_empty(), "no rank is left running");
}

#[test]
fn a_killed_distributed_run_resumes_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let file = problem_file(dir.path(), TINY);
    let flags = ["--dtype", "f64", "--optimizer", "adam", "--steps", "2000"];
    let whole = dir.path().join("whole");
    train(
        2,
        &file,
        &whole,
        &[&flags[..], &["--checkpoint-every", "5"]].concat(),
    );
    let cut = dir.path().join("cut");
    kill_one_rank(&file, &cut, &cut.join("checkpoint.json"), "2000");
    let saved = std::fs::read_to_string(cut.join("checkpoint.json")).unwrap();
    let saved: serde_json::Value = serde_json::from_str(&saved).unwrap();
    let step = saved["state"]["step"].as_u64().unwrap();
    assert!(step < 2000, "killed after the run had ended (step {step})");
    let resume = [
        "--checkpoint-every",
        "5",
        "--resume",
        &cut.to_string_lossy(),
    ];
    train(2, &file, &cut, &[&flags[..], &resume[..]].concat());
    let (a, b) = (whole.join("history.csv"), cut.join("history.csv"));
    assert_eq!(csv_losses(&a), csv_losses(&b));
}

/// Two network namespaces joined by a veth pair: two "hosts" with addresses that exist
/// only inside them (10.213.0.1 and 10.213.0.2). Deleted on drop.
struct TwoHosts {
    names: [String; 2],
}

impl TwoHosts {
    const ADDRS: [&'static str; 2] = ["10.213.0.1", "10.213.0.2"];

    /// `None` when this machine does not let us create namespaces (not root, no `ip`, a
    /// container without the capability), with the reason.
    fn new() -> Result<TwoHosts, String> {
        let id = std::process::id() % 100_000;
        let hosts = TwoHosts {
            names: [format!("nabla{id}a"), format!("nabla{id}b")],
        };
        let [a, b] = &hosts.names;
        let (va, vb) = (format!("nv{id}a"), format!("nv{id}b"));
        let steps: Vec<Vec<&str>> = vec![
            vec!["netns", "add", a],
            vec!["netns", "add", b],
            vec!["link", "add", &va, "type", "veth", "peer", "name", &vb],
            vec!["link", "set", &va, "netns", a],
            vec!["link", "set", &vb, "netns", b],
        ];
        for s in steps {
            ip(&s)?;
        }
        for (ns, (dev, addr)) in [a, b]
            .iter()
            .zip([(&va, Self::ADDRS[0]), (&vb, Self::ADDRS[1])])
        {
            let cidr = format!("{addr}/30");
            ip(&["-n", ns, "addr", "add", &cidr, "dev", dev])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            ip(&["-n", ns, "link", "set", dev, "up"])?;
        }
        Ok(hosts)
    }

    /// An `rsh` agent for OpenMPI that "logs in" to a host by entering its namespace.
    fn agent(&self, dir: &Path) -> PathBuf {
        let map: String = (Self::ADDRS.iter().zip(&self.names))
            .map(|(addr, ns)| format!("  {addr}) ns={ns} ;;\n"))
            .collect();
        let script = format!(
            "#!/bin/sh\n# OpenMPI calls: AGENT [ssh options] HOST COMMAND...\n\
             while [ \"${{1#-}}\" != \"$1\" ]; do shift; done\n\
             case \"$1\" in\n{map}  *) echo \"unknown host $1\" >&2; exit 1 ;;\nesac\n\
             shift\nexec ip netns exec \"$ns\" sh -c \"$*\"\n"
        );
        let path = dir.join("netns-agent.sh");
        std::fs::write(&path, script).unwrap();
        let chmod = Command::new("chmod").arg("+x").arg(&path).status();
        assert!(chmod.unwrap().success());
        path
    }
}

impl Drop for TwoHosts {
    fn drop(&mut self) {
        for ns in &self.names {
            let _ = ip(&["netns", "del", ns]);
        }
    }
}

fn ip(args: &[&str]) -> Result<(), String> {
    let o = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| format!("ip: {e}"))?;
    if o.status.success() {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&o.stderr);
    Err(format!("ip {}: {}", args.join(" "), err.trim()))
}

#[test]
fn two_hosts_over_tcp_train_like_one_process() {
    let hosts = match TwoHosts::new() {
        Ok(h) => h,
        Err(why) => {
            // the README's hostfile recipe covers machines that cannot do this
            let required = std::env::var("NABLA_REQUIRE_NETNS").is_ok_and(|v| v == "1");
            assert!(!required, "NABLA_REQUIRE_NETNS=1 and {why}");
            eprintln!("SKIPPED: network namespaces cannot be created here: {why}");
            return;
        }
    };
    let dir = tempfile::tempdir().unwrap();
    let file = problem_file(dir.path(), TINY);
    let flags = ["--dtype", "f64", "--optimizer", "adam", "--steps", "100"];
    let one = dir.path().join("one");
    train(0, &file, &one, &flags);
    let out = dir.path().join("two");
    let net = "10.213.0.0/30";
    let o = Command::new("timeout")
        .args([
            "120",
            "ip",
            "netns",
            "exec",
            &hosts.names[0],
            "mpirun",
            "--allow-run-as-root",
        ])
        .args(["-np", "2", "--host", &TwoHosts::ADDRS.join(",")])
        .arg("--mca")
        .arg("plm_rsh_agent")
        .arg(hosts.agent(dir.path()))
        .args([
            "--mca",
            "btl",
            "tcp,self",
            "--mca",
            "btl_tcp_if_include",
            net,
        ])
        .args(["--mca", "oob_tcp_if_include", net])
        .arg(bin())
        .arg("train")
        .arg(&file)
        .args(flags)
        .arg("--distributed")
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let (a, b) = (one.join("history.csv"), out.join("history.csv"));
    let d = max_rel_diff(&csv_losses(&a), &csv_losses(&b));
    assert!(d <= 1e-10, "two hosts: {d:e}");
}
