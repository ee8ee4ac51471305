//! Element types and shapes.
//!
//! Every node has a [`Type`]: an element type ([`DType`]) and a row-major [`Shape`].
//! Tensors that depend on collocation points have the batch axis first (`[N, k]`);
//! parameters have none (`W: [out, in]`, `b: [out]`); scalars have rank 0 (`[]`).

use smallvec::SmallVec;
use std::fmt;

/// Element type. f64 is the reference dtype, f32 the fast one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DType {
    /// IEEE binary32.
    F32,
    /// IEEE binary64.
    F64,
}

impl DType {
    /// Name as printed in the text format (`f32`, `f64`).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "f32",
            DType::F64 => "f64",
        }
    }

    /// Machine epsilon of the type, used for default finite-difference steps.
    pub fn epsilon(self) -> f64 {
        match self {
            DType::F32 => f32::EPSILON as f64,
            DType::F64 => f64::EPSILON,
        }
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::F32 => 4,
            DType::F64 => 8,
        }
    }

    /// Parses `f32` or `f64`.
    pub fn parse(s: &str) -> Option<DType> {
        match s {
            "f32" => Some(DType::F32),
            "f64" => Some(DType::F64),
            _ => None,
        }
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A row-major shape: the extent of each axis, outermost first.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Shape(pub SmallVec<[usize; 3]>);

impl Shape {
    /// The rank-0 shape of a scalar.
    pub fn scalar() -> Shape {
        Shape(SmallVec::new())
    }

    /// A shape from its extents.
    pub fn new(dims: &[usize]) -> Shape {
        Shape(SmallVec::from_slice(dims))
    }

    /// A `[rows, cols]` matrix shape.
    pub fn matrix(rows: usize, cols: usize) -> Shape {
        Shape::new(&[rows, cols])
    }

    /// Number of axes.
    pub fn rank(&self) -> usize {
        self.0.len()
    }

    /// Extents, outermost first.
    pub fn dims(&self) -> &[usize] {
        &self.0
    }

    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.0.iter().product()
    }

    /// Row-major strides in elements.
    pub fn strides(&self) -> SmallVec<[usize; 3]> {
        let mut s: SmallVec<[usize; 3]> = SmallVec::from_elem(1, self.rank());
        for i in (0..self.rank().saturating_sub(1)).rev() {
            s[i] = s[i + 1] * self.0[i + 1];
        }
        s
    }

    /// Whether `self` broadcasts to `to` under NumPy rules: align trailing axes; each
    /// axis of `self` is either equal to the target axis or 1.
    pub fn broadcasts_to(&self, to: &Shape) -> bool {
        if self.rank() > to.rank() {
            return false;
        }
        let off = to.rank() - self.rank();
        self.0
            .iter()
            .enumerate()
            .all(|(i, &d)| d == 1 || d == to.0[i + off])
    }

    /// The NumPy broadcast of two shapes, if they are compatible.
    pub fn broadcast(a: &Shape, b: &Shape) -> Option<Shape> {
        let r = a.rank().max(b.rank());
        let mut out = SmallVec::from_elem(1, r);
        for i in 0..r {
            let da = dim_from_end(a, r - 1 - i);
            let db = dim_from_end(b, r - 1 - i);
            out[i] = match (da, db) {
                (x, y) if x == y => x,
                (1, y) => y,
                (x, 1) => x,
                _ => return None,
            };
        }
        Some(Shape(out))
    }
}

/// Extent of the axis `k` places from the end (1 when the shape is shorter).
fn dim_from_end(s: &Shape, k: usize) -> usize {
    if k < s.rank() {
        s.0[s.rank() - 1 - k]
    } else {
        1
    }
}

impl fmt::Display for Shape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[")?;
        for (i, d) in self.0.iter().enumerate() {
            if i > 0 {
                write!(f, ",")?;
            }
            write!(f, "{d}")?;
        }
        write!(f, "]")
    }
}

/// The type of a node's value: element type and shape.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Type {
    /// Element type.
    pub dtype: DType,
    /// Shape.
    pub shape: Shape,
}

impl Type {
    /// A type from its parts.
    pub fn new(dtype: DType, shape: Shape) -> Type {
        Type { dtype, shape }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}{}", self.dtype, self.shape)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broadcast_rules() {
        let a = Shape::new(&[4, 1]);
        let b = Shape::new(&[3]);
        assert_eq!(Shape::broadcast(&a, &b), Some(Shape::new(&[4, 3])));
        assert_eq!(
            Shape::broadcast(&Shape::scalar(), &a),
            Some(Shape::new(&[4, 1]))
        );
        assert_eq!(Shape::broadcast(&Shape::new(&[2]), &Shape::new(&[3])), None);
        assert!(Shape::new(&[3]).broadcasts_to(&Shape::new(&[5, 3])));
        assert!(!Shape::new(&[5, 3]).broadcasts_to(&Shape::new(&[3])));
        assert_eq!(&Shape::new(&[2, 3, 4]).strides()[..], &[12, 4, 1]);
    }
}
