//! Shared by the checkpoint and distributed tests: a small problem, the loss column of a
//! `history.csv`, waiting for a file.

#![allow(dead_code)]

use std::path::Path;
use std::time::{Duration, Instant};

/// A small Poisson problem: 101 + 40 points (shares of 2 and 3 processes are uneven).
pub const TINY: &str = "problem tiny
input x in [0, 1]
input y in [0, 1]
net u(x, y) = mlp(widths = [8, 8], act = tanh, seed = 0)
points inner = interior(101)
points walls = boundary(40)
residual pde on inner = -lap(u) - 2 * pi^2 * sin(pi * x) * sin(pi * y)
residual bc on walls weight 10 = u
exact u = sin(pi * x) * sin(pi * y)
";

/// The `loss` column of a history.csv, as bits.
pub fn csv_losses(path: &Path) -> Vec<u64> {
    csv_column(path, "loss")
}

/// Column `name` of a history.csv, as bits.
pub fn csv_column(path: &Path, name: &str) -> Vec<u64> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = header.iter().position(|h| *h == name).unwrap();
    lines
        .map(|l| {
            l.split(',')
                .nth(col)
                .unwrap()
                .parse::<f64>()
                .unwrap()
                .to_bits()
        })
        .collect()
}

/// Waits until `file` exists (a checkpoint was written), at most a minute.
pub fn wait_for(file: &Path) {
    let t0 = Instant::now();
    while !file.exists() {
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "no {}",
            file.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
