//! Loop layout of a kernel: the iteration space after collapsing, the strides of every
//! memory access, and whether the innermost loop can be vectorised.
//!
//! The scheduler's iteration space has the graph's rank. Axes of extent 1 are dropped, and
//! two neighbouring axes `k, k+1` are merged when every access steps through them as one
//! (`stride[k] == stride[k+1]·dim[k+1]`), so `[N,1]` becomes one loop of `N` and a fully
//! contiguous `[N,64]` one loop of `64N`, while `x + b` with a broadcast bias `b` stays two
//! loops (rows × 64 columns). Axis 0 of the result is what threads split.
//!
//! The innermost loop is vectorised when every load moves by 0 (splat, hoisted out of the
//! loop) or 1 element per iteration and every store by 1: then lanes are independent and
//! contiguous. Otherwise the kernel runs scalar.

use nabla_passes::schedule::{Affine, Expr, Kernel};

/// A memory access in the collapsed space: element offset and one stride per axis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    /// Element offset of iteration `(0, ..., 0)`.
    pub offset: usize,
    /// Element stride per collapsed axis.
    pub strides: Vec<usize>,
}

/// The collapsed loop nest of one kernel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Extent of each loop, outermost first (at least one loop).
    pub dims: Vec<usize>,
    /// One access per body instruction that is a load (`None` for other instructions).
    pub loads: Vec<Option<Access>>,
    /// One access per store.
    pub stores: Vec<Access>,
    /// Whether the innermost loop runs with SIMD vectors.
    pub vector: bool,
}

impl Layout {
    /// The layout of `k`.
    pub fn of(k: &Kernel) -> Layout {
        let maps: Vec<&Affine> = k.accesses().map(|a| a.map).collect();
        let (dims, strides) = collapse(k.shape.dims(), &maps);
        let mut acc = maps.iter().zip(strides).map(|(m, s)| Access {
            offset: m.offset,
            strides: s,
        });
        let loads: Vec<Option<Access>> = k
            .body
            .iter()
            .map(|e| matches!(e, Expr::Load { .. }).then(|| acc.next().unwrap()))
            .collect();
        let stores: Vec<Access> = acc.collect();
        let last = dims.len() - 1;
        let vector = loads.iter().flatten().all(|a| a.strides[last] <= 1)
            && stores.iter().all(|a| a.strides[last] == 1);
        Layout {
            dims,
            loads,
            stores,
            vector,
        }
    }

    /// Iterations of the outermost loop (what threads split).
    pub fn outer(&self) -> usize {
        self.dims[0]
    }
}

/// Drops extent-1 axes and merges axes that every map walks contiguously.
fn collapse(dims: &[usize], maps: &[&Affine]) -> (Vec<usize>, Vec<Vec<usize>>) {
    let keep: Vec<usize> = (0..dims.len()).filter(|&k| dims[k] != 1).collect();
    let mut d: Vec<usize> = keep.iter().map(|&k| dims[k]).collect();
    let mut s: Vec<Vec<usize>> = maps
        .iter()
        .map(|m| keep.iter().map(|&k| m.strides[k]).collect())
        .collect();
    if d.is_empty() {
        return (vec![1], maps.iter().map(|_| vec![0]).collect());
    }
    let mut k = d.len() - 1;
    while k > 0 {
        let mergeable = s.iter().all(|st| st[k - 1] == st[k] * d[k]);
        if mergeable {
            d[k - 1] *= d[k];
            d.remove(k);
            for st in &mut s {
                st.remove(k - 1);
            }
        }
        k -= 1;
    }
    (d, s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_ir::Shape;
    use nabla_passes::schedule::{BufId, Store, Val};

    fn kernel(dims: &[usize], loads: &[&[usize]], store: &[usize]) -> Kernel {
        let mut body: Vec<Expr> = loads
            .iter()
            .map(|s| Expr::Load {
                buf: BufId(0),
                map: Affine {
                    offset: 0,
                    strides: s.iter().copied().collect(),
                },
            })
            .collect();
        body.push(Expr::Const(1.0));
        let n = body.len();
        Kernel {
            shape: Shape::new(dims),
            body,
            nodes: vec![None; n],
            stores: vec![Store {
                buf: BufId(1),
                map: Affine {
                    offset: 0,
                    strides: store.iter().copied().collect(),
                },
                value: Val(0),
            }],
        }
    }

    #[test]
    fn contiguous_collapses_to_one_loop() {
        let l = Layout::of(&kernel(&[7, 3], &[&[3, 1]], &[3, 1]));
        assert_eq!(l.dims, vec![21]);
        assert!(l.vector);
        let l = Layout::of(&kernel(&[7, 1], &[&[1, 1]], &[1, 0]));
        assert_eq!(l.dims, vec![7]);
        assert_eq!(l.stores[0].strides, vec![1]);
    }

    #[test]
    fn broadcast_bias_keeps_rows_and_vectorises() {
        let l = Layout::of(&kernel(&[5, 64], &[&[64, 1], &[0, 1]], &[64, 1]));
        assert_eq!(l.dims, vec![5, 64]);
        assert!(l.vector);
        assert_eq!(l.loads[1].as_ref().unwrap().strides, vec![0, 1]);
        assert_eq!(l.loads[2], None);
    }

    #[test]
    fn transposed_reads_are_scalar_and_scalars_are_one_iteration() {
        let l = Layout::of(&kernel(&[4, 3], &[&[1, 4]], &[3, 1]));
        assert_eq!(l.dims, vec![4, 3]);
        assert!(!l.vector);
        let l = Layout::of(&kernel(&[], &[&[]], &[]));
        assert_eq!(l.dims, vec![1]);
    }
}
