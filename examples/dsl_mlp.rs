//! The Rust DSL's motivating example: `u(t) = t·NN(t)`, the ODE residual `u' − cos t`
//! through a closure that captures the network's parameters, and the exact parameter
//! gradient of the loss (reverse mode over forward mode). Compiled for the reference
//! interpreter and evaluated once; the gradient is checked against central differences.
//!
//! Run: `cargo run --example dsl_mlp`.

use nabla::prelude::*;

/// The traced objective: outputs `loss` and one `grad.P` per parameter.
fn objective(n: usize) -> (Graph, Vec<(String, Tensor)>) {
    let b = Builder::new();
    let t = b.input("t", n);
    let theta = Mlp::new(&[1, 12, 12, 12, 1], Act::Tanh).params(&b, "theta", 0);
    let net = |x| x * theta.apply(x); // the closure captures the parameters
    let u_t = diff(net, t); // du/dt through the closure
    let loss = mean(square(u_t - cos(t)));
    b.output("loss", loss);
    for (g, (name, _)) in grad(loss, &theta).into_iter().zip(b.initial_params()) {
        b.output(&format!("grad.{name}"), g);
    }
    (
        b.finish().expect("the program type-checks"),
        b.initial_params(),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n = 100;
    let (graph, params) = objective(n);
    let mut exe = compile(&graph, &Options::interp())?;
    let ts: Vec<f64> = (0..n).map(|i| i as f64 / (n - 1) as f64).collect();
    exe.set("t", &ts)?;
    for (name, value) in &params {
        exe.set(name, &value.data)?;
    }
    exe.run()?;
    let names = exe.output_names();
    let loss = exe.output(0)[0];
    println!("loss = {loss:.6e}");

    // Check one gradient entry, ∂loss/∂theta.0.W[0], by central differences.
    let (name, w0) = &params[0];
    let gi = names
        .iter()
        .position(|o| o == &format!("grad.{name}"))
        .ok_or("no grad")?;
    let exact = exe.output(gi)[0];
    let h = 1e-6;
    let mut at = |dw: f64| -> Result<f64, Box<dyn std::error::Error>> {
        let mut w = w0.data.clone();
        w[0] += dw;
        exe.set(name, &w)?;
        exe.run()?;
        Ok(exe.output(0)[0])
    };
    let fd = (at(h)? - at(-h)?) / (2.0 * h);
    println!(
        "d loss / d {name}[0]: reverse-over-forward {exact:.10e}, central difference {fd:.10e}"
    );
    Ok(())
}
