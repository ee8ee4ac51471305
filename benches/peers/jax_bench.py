"""JAX on the Laplacian objectives B1–B5 and the Burgers objective B8 of
spec/benchmarks.md, for comparison with `nabla bench` on the same machine in the same
session.

Optional: needs `pip install "jax[cpu]"`. Prints one Markdown row per objective, method
and dtype: jit compile time, median run time of loss+grad (jax.value_and_grad of the
loss), and the loss value.

Methods for Δu (all under jit, then value_and_grad over the parameters):
  hessian  trace of jax.hessian of the scalar network at each point (vmap);
  fwdfwd   Σ_j of nested jvp (forward over forward) along each unit direction;
  fd       central differences u(x ± h e_j), h = eps^(1/4) of the dtype;
  folx     the Forward Laplacian of the `folx` package (`pip install folx`), when present:
           JAX's fastest exact Laplacian, the one nabla's collapsed Taylor mode matches.

  stde4    the sampled Laplacian with 4 Rademacher directions per point (nested jvp along
           each), as `lap(u; sample = 4)`.

B8 (Burgers, u_t + u·u_x − (0.01/π)·u_xx at 10 000 points of [0,1]², eight layers of 20)
has its own methods: hessian (u_t, u_x by jax.grad, u_xx from jax.hessian), fwdfwd (jvp
along t, nested jvp along x), jet (Taylor mode along x by jax.experimental.jet, jvp
along t) and fd (central differences, h = eps^(1/4)).

Usage: python3 benches/peers/jax_bench.py [B1 B5 B8 ...] [--f64] [--threads N] [--methods a,b]
H10, H100, H1000 (high-dimensional rows: 128³, 256 points) run only when named.
The MLP, its initialisation and the points follow the same recipe as nabla (tanh MLP,
uniform points in [0,1]^d) but not the same random numbers: compare times, not losses.
"""

import math
import os
import statistics
import sys
import time

THREADS = next((int(sys.argv[i + 1]) for i, a in enumerate(sys.argv) if a == "--threads"), None)
if THREADS:
    os.environ["XLA_FLAGS"] = (
        f"--xla_cpu_multi_thread_eigen={'true' if THREADS > 1 else 'false'} "
        f"intra_op_parallelism_threads={THREADS}"
    )

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402

F64 = "--f64" in sys.argv
jax.config.update("jax_enable_x64", F64)
DT = jnp.float64 if F64 else jnp.float32

OBJECTIVES = {
    "B1": (2, [64, 64, 64], 4096),
    "B2": (10, [128, 128, 128], 1024),
    "B3": (100, [128, 128, 128], 256),
    "B4": (2, [128, 128, 128, 128], 8192),
    "B5": (2, [32, 32, 32], 1024),
}
# Burgers (B8): (inputs t, x; widths; points)
BURGERS = {"B8": (2, [20] * 8, 10000)}
NU = 0.01 / math.pi
# The high-dimensional rows of the README (examples/poisson_highdim.rs: 128³, 256 points);
# only when named on the command line.
HIGH_D = {f"H{d}": (d, [128, 128, 128], 256) for d in (10, 100, 1000)}


def init(key, widths):
    params = []
    for a, b in zip(widths[:-1], widths[1:]):
        key, k1 = jax.random.split(key)
        w = jax.random.normal(k1, (b, a), DT) * math.sqrt(1.0 / a)
        params.append((w, jnp.zeros((b,), DT)))
    return params


def mlp(params, x):
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w.T + b
        if i + 1 < len(params):
            h = jnp.tanh(h)
    return h[..., 0]


def lap_hessian(params, x):
    f = lambda p: mlp(params, p)  # noqa: E731
    return jax.vmap(lambda p: jnp.trace(jax.hessian(f)(p)))(x)


def lap_fwdfwd(params, x):
    f = lambda p: mlp(params, p)  # noqa: E731
    d = x.shape[1]

    def second(p, e):
        g = lambda q: jax.jvp(f, (q,), (e,))[1]  # noqa: E731
        return jax.jvp(g, (p,), (e,))[1]

    eye = jnp.eye(d, dtype=DT)
    return jax.vmap(lambda p: sum(second(p, eye[j]) for j in range(d)))(x)


def lap_fd(params, x):
    h = jnp.finfo(DT).eps ** 0.25
    u0 = mlp(params, x)
    d = x.shape[1]
    total = 0.0
    for j in range(d):
        e = jnp.zeros((d,), DT).at[j].set(h)
        total = total + mlp(params, x + e) + mlp(params, x - e) - 2 * u0
    return total / (h * h)


def lap_stde4(params, x):
    """The sampled Laplacian with 4 Rademacher directions per point, each term a nested
    jvp along its direction (the stochastic Taylor estimator; the directions are fixed
    here: one draw, as one training step sees)."""
    f = lambda p: mlp(params, p)  # noqa: E731
    n, d = x.shape
    s = jax.random.rademacher(jax.random.PRNGKey(2), (4, n, d), DT)

    def along(p, v):
        g = lambda q: jax.jvp(f, (q,), (v,))[1]  # noqa: E731
        return jax.jvp(g, (p,), (v,))[1]

    per_dir = jax.vmap(lambda sk: jax.vmap(along)(x, sk))(s)
    return jnp.mean(per_dir, axis=0)


def lap_folx(params, x):
    f = lambda p: mlp(params, p)  # noqa: E731
    return jax.vmap(lambda p: folx.forward_laplacian(f)(p).laplacian)(x)


METHODS = {"hessian": lap_hessian, "fwdfwd": lap_fwdfwd, "fd": lap_fd, "stde4": lap_stde4}
try:
    import folx  # noqa: E402

    METHODS["folx"] = lap_folx
except ImportError:
    print("folx not installed: skipping the Forward Laplacian (pip install folx)", file=sys.stderr)


def burgers_hessian(params, x):
    f = lambda p: mlp(params, p)  # noqa: E731

    def at(p):
        g = jax.grad(f)(p)
        return f(p), g[0], g[1], jax.hessian(f)(p)[1, 1]

    return jax.vmap(at)(x)


def burgers_fwdfwd(params, x):
    f = lambda p: mlp(params, p)  # noqa: E731
    et, ex = jnp.eye(2, dtype=DT)

    def at(p):
        u, ut = jax.jvp(f, (p,), (et,))
        ux_of = lambda q: jax.jvp(f, (q,), (ex,))[1]  # noqa: E731
        ux, uxx = jax.jvp(ux_of, (p,), (ex,))
        return u, ut, ux, uxx

    return jax.vmap(at)(x)


def burgers_jet(params, x):
    from jax.experimental import jet

    f = lambda p: mlp(params, p)  # noqa: E731
    et, ex = jnp.eye(2, dtype=DT)

    def at(p):
        u, (ux, uxx) = jet.jet(f, (p,), ((ex, jnp.zeros_like(ex)),))
        ut = jax.jvp(f, (p,), (et,))[1]
        return u, ut, ux, uxx

    return jax.vmap(at)(x)


def burgers_fd(params, x):
    h = jnp.finfo(DT).eps ** 0.25
    ht = jnp.array([h, 0.0], DT)
    hx = jnp.array([0.0, h], DT)
    u = mlp(params, x)
    up, um = mlp(params, x + hx), mlp(params, x - hx)
    ut = (mlp(params, x + ht) - mlp(params, x - ht)) / (2 * h)
    return u, ut, (up - um) / (2 * h), (up + um - 2 * u) / (h * h)


BURGERS_METHODS = {
    "hessian": burgers_hessian,
    "fwdfwd": burgers_fwdfwd,
    "jet": burgers_jet,
    "fd": burgers_fd,
}


def burgers_loss_fn(parts):
    def loss(params, x):
        u, ut, ux, uxx = parts(params, x)
        return jnp.mean((ut + u * ux - NU * uxx) ** 2)

    return loss


def loss_fn(lap):
    def loss(params, x):
        d = x.shape[1]
        f = -d * math.pi**2 * jnp.prod(jnp.sin(math.pi * x), axis=1)
        return jnp.mean((lap(params, x) - f) ** 2)

    return loss


def bench(oid, method):
    d, hidden, n = {**OBJECTIVES, **HIGH_D, **BURGERS}[oid]
    params = init(jax.random.PRNGKey(0), [d, *hidden, 1])
    x = jax.random.uniform(jax.random.PRNGKey(1), (n, d), DT)
    if oid in BURGERS:
        objective = burgers_loss_fn(BURGERS_METHODS[method])
    else:
        objective = loss_fn(METHODS[method])
    step = jax.jit(jax.value_and_grad(objective))
    t = time.perf_counter()
    val, _ = step(params, x)
    jax.block_until_ready(val)
    compile_s = time.perf_counter() - t
    times = []
    start = time.perf_counter()
    while len(times) < 10 or time.perf_counter() - start < 1.0:
        t = time.perf_counter()
        out = step(params, x)
        jax.block_until_ready(out)
        times.append(time.perf_counter() - t)
    med = statistics.median(times) * 1e3
    dname = "f64" if F64 else "f32"
    print(f"| {oid} | JAX {method} | {dname} | {compile_s:.3f} | {med:.3f} | {float(val):.6e} |", flush=True)


def chosen_methods(oid):
    """`--methods a,b` restricts the methods (the Hessian one is slow at D = 100)."""
    known = BURGERS_METHODS if oid in BURGERS else METHODS
    arg = next((sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "--methods"), None)
    return [m for m in (arg.split(",") if arg else known) if m in known]


def main():
    named = {**OBJECTIVES, **HIGH_D, **BURGERS}
    ids = [a for a in sys.argv[1:] if a in named] or [*OBJECTIVES, *BURGERS]
    print(f"jax {jax.__version__}, devices {jax.devices()}, threads {THREADS or 'default'}")
    print("| id | method | dtype | compile (s) | median loss+grad (ms) | loss |")
    print("|---|---|---|---|---|---|")
    for oid in ids:
        for method in chosen_methods(oid):
            bench(oid, method)


if __name__ == "__main__":
    main()
