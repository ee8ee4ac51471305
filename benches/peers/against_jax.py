"""nabla against JAX on the same machine in one session, and two threads against one on
a busy machine: the tables of BENCHMARKS.md ("nabla bench against JAX").

    python3 benches/peers/against_jax.py [--nabla PATH] [--ids B1,B2,...]
        JAX first (benches/peers/jax_bench.py, f32, both cores), then `nabla bench --methods
        auto --dtypes f32,f64` on each objective; one Markdown table: nabla's loss+grad
        median (f32, f64), its peak resident memory, JAX's fastest exact method and its
        central differences, and the ratios.

    python3 benches/peers/against_jax.py --busy [--repeats 3] [--nabla PATH] [--ids ...]
        No JAX: `nabla bench --threads 1` and `--threads 2` alternately, `repeats` times
        each, while `yes > /dev/null` keeps one core busy; the medians of the loss+grad
        medians (f32).

PATH defaults to target/release/nabla (build it with `cargo build --release`). Needs
`pip install "jax[cpu]" folx` for the first mode. Peak memory is the child's maximum
resident set (`wait4`), the whole `nabla bench` run, f64 reference included.
"""

import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXACT = {"hessian", "fwdfwd", "folx", "jet"}
# JAX's methods worth running per objective (the Hessian takes minutes to compile at d ≥ 10)
JAX_METHODS = {
    "B1": "hessian,fwdfwd,folx,fd",
    "B2": "fwdfwd,folx,fd",
    "B3": "folx,fd",
    "B4": "fwdfwd,folx,fd",
    "B5": "hessian,fwdfwd,folx,fd",
    "B8": "hessian,fwdfwd,jet,fd",
}


def arg(name, default):
    return next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == name), default)


def nabla_bench(nabla, oid, *extra):
    """`nabla bench` on <oid>.nabla with --json: (rows by dtype, peak RSS in MB)."""
    cmd = [nabla, "bench", f"{ROOT}/benches/problems/{oid}.nabla", "--methods", "auto", "--json"]
    cmd += list(extra)
    with tempfile.TemporaryFile() as err:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err)
        out = p.stdout.read()
        _, status, usage = os.wait4(p.pid, 0)
        if status != 0:
            err.seek(0)
            sys.exit(f"{' '.join(cmd)} failed:\n{err.read().decode(errors='replace')}")
    rows = {r["dtype"]: r for r in json.loads(out)["results"]}
    for r in rows.values():
        if "error" in r:
            sys.exit(f"{' '.join(cmd)}: {r['dtype']}: {r['error']}")
    return rows, usage.ru_maxrss / 1024


def jax_rows(oid):
    """jax_bench.py's rows for `oid`: {method: median ms} (empty where JAX failed or has
    no such objective)."""
    if oid not in JAX_METHODS:
        return {}
    cmd = [sys.executable, f"{ROOT}/benches/peers/jax_bench.py", oid, "--methods", JAX_METHODS[oid]]
    run = subprocess.run(cmd, capture_output=True, text=True)
    if run.returncode != 0:
        print(f"{' '.join(cmd)} failed:\n{run.stderr}", file=sys.stderr)
    out = run.stdout
    times = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 6 and cells[0] == oid and cells[1].startswith("JAX "):
            times[cells[1][4:]] = float(cells[4])
    return times


def against_jax(nabla, ids):
    jax = {oid: jax_rows(oid) for oid in ids}
    print("| id | nabla f32 (ms) | nabla f64 (ms) | f64/f32 | GFLOP/s f32 | peak RSS (MB) "
          "| JAX fastest exact (ms) | JAX fd (ms) | nabla / JAX exact | nabla / JAX fd |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for oid in ids:
        rows, rss = nabla_bench(nabla, oid, "--dtypes", "f32,f64")
        f32, f64 = rows["f32"]["loss_grad_ms"], rows["f64"]["loss_grad_ms"]
        exact = {m: t for m, t in jax[oid].items() if m in EXACT}
        best = min(exact, key=exact.get) if exact else None
        fd = jax[oid].get("fd")
        jax_exact = f"{exact[best]:.2f} ({best})" if best else "–"
        jax_fd = f"{fd:.2f}" if fd else "–"
        vs_exact = f"{f32 / exact[best]:.2f}" if best else "–"
        vs_fd = f"{f32 / fd:.2f}" if fd else "–"
        print(f"| {oid} | {f32:.2f} | {f64:.2f} | {f64 / f32:.2f} | {rows['f32']['gflops']:.1f} "
              f"| {rss:.0f} | {jax_exact} | {jax_fd} | {vs_exact} | {vs_fd} |", flush=True)


def busy(nabla, ids, repeats):
    yes = subprocess.Popen(["yes"], stdout=subprocess.DEVNULL)
    try:
        print("| id | 1 thread (ms) | 2 threads (ms) | 2 / 1 |")
        print("|---|---|---|---|")
        for oid in ids:
            runs = {1: [], 2: []}
            for _ in range(repeats):
                for t in (1, 2):
                    rows, _ = nabla_bench(nabla, oid, "--dtypes", "f32", "--threads", str(t))
                    runs[t].append(rows["f32"]["loss_grad_ms"])
            one, two = statistics.median(runs[1]), statistics.median(runs[2])
            print(f"| {oid} | {one:.3f} | {two:.3f} | {two / one:.2f} |", flush=True)
    finally:
        yes.kill()
        yes.wait()


def main():
    nabla = arg("--nabla", f"{ROOT}/target/release/nabla")
    if "--busy" in sys.argv:
        ids = arg("--ids", "B1,B2,B3,B4,B5,B6,B7,B8").split(",")
        busy(nabla, ids, int(arg("--repeats", "3")))
    else:
        against_jax(nabla, arg("--ids", "B1,B2,B3,B4,B5,B8").split(","))


if __name__ == "__main__":
    main()
