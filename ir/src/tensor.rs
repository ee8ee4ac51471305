//! Dense f64 tensors: the interpreter's values and the runtime's buffers.

use crate::types::Shape;

/// A dense row-major tensor of `f64` values.
#[derive(Clone, Debug, PartialEq)]
pub struct Tensor {
    /// Shape.
    pub shape: Shape,
    /// `shape.numel()` values, row-major.
    pub data: Vec<f64>,
}

impl Tensor {
    /// A tensor from its shape and data. Panics when the lengths disagree (a caller bug;
    /// user data goes through [`Tensor::try_new`]).
    pub fn new(shape: Shape, data: Vec<f64>) -> Tensor {
        assert_eq!(shape.numel(), data.len(), "tensor data length");
        Tensor { shape, data }
    }

    /// A tensor from user data, or `None` when the lengths disagree.
    pub fn try_new(shape: Shape, data: Vec<f64>) -> Option<Tensor> {
        (shape.numel() == data.len()).then_some(Tensor { shape, data })
    }

    /// A rank-0 tensor.
    pub fn scalar(v: f64) -> Tensor {
        Tensor::new(Shape::scalar(), vec![v])
    }

    /// A tensor filled with `v`.
    pub fn full(shape: Shape, v: f64) -> Tensor {
        let n = shape.numel();
        Tensor::new(shape, vec![v; n])
    }

    /// A `[n, 1]` column.
    pub fn column(data: Vec<f64>) -> Tensor {
        Tensor::new(Shape::matrix(data.len(), 1), data)
    }

    /// The only value of a one-element tensor.
    pub fn item(&self) -> f64 {
        assert_eq!(
            self.data.len(),
            1,
            "item() of a tensor with {} values",
            self.data.len()
        );
        self.data[0]
    }

    /// Rounds every value to f32 precision.
    pub fn round_f32(&mut self) {
        for v in &mut self.data {
            *v = *v as f32 as f64;
        }
    }
}
