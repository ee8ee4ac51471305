//! Parameters as one flat vector ⇄ named tensors ⇄ `params.json`.
//!
//! The optimizers see `θ ∈ ℝⁿ`; the compiled program sees named leaves (`u.0.W`, `u.0.b`,
//! …, `mu`); people and other programs see `params.json`, keyed by net name (a list of
//! layers `{"W": [[..]], "b": [..]}`, `W` one row per output unit) and by scalar name
//! (a number). The flat order is the declaration order of [`nabla_frontend::problem::Objective::init`]:
//! every net's layers (`W` then `b`, row-major), then the trainable scalars.

use super::TrainError;
use nabla_frontend::problem::Problem;
use nabla_ir::{Shape, Tensor};
use serde_json::Value;

/// The named tensors that make up `θ`, in order, with their offsets.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    entries: Vec<Entry>,
}

#[derive(Clone, Debug, PartialEq)]
struct Entry {
    name: String,
    shape: Shape,
    offset: usize,
}

impl Layout {
    /// The layout of these named tensors, in this order.
    pub fn new(named: &[(String, Tensor)]) -> Layout {
        let mut offset = 0;
        let entries = named
            .iter()
            .map(|(name, t)| {
                let e = Entry {
                    name: name.clone(),
                    shape: t.shape.clone(),
                    offset,
                };
                offset += t.shape.numel();
                e
            })
            .collect();
        Layout { entries }
    }

    /// Total number of scalars.
    pub fn len(&self) -> usize {
        self.entries
            .last()
            .map_or(0, |e| e.offset + e.shape.numel())
    }

    /// Whether there is nothing to train.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Names in order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.entries.iter().map(|e| e.name.as_str())
    }

    /// `(name, number of scalars)` for every entry, in order.
    pub fn sizes(&self) -> impl Iterator<Item = (&str, usize)> {
        (self.entries.iter()).map(|e| (e.name.as_str(), e.shape.numel()))
    }

    /// The values of `named` concatenated in layout order.
    pub fn flatten(&self, named: &[(String, Tensor)]) -> Vec<f64> {
        named
            .iter()
            .flat_map(|(_, t)| t.data.iter().copied())
            .collect()
    }

    /// `(name, slice of θ)` for every entry.
    pub fn split<'a>(&'a self, theta: &'a [f64]) -> impl Iterator<Item = (&'a str, &'a [f64])> {
        self.entries.iter().map(move |e| {
            let r = e.offset..e.offset + e.shape.numel();
            (e.name.as_str(), &theta[r])
        })
    }

    /// The slice of θ that belongs to `name`, if any.
    pub fn get<'a>(&self, theta: &'a [f64], name: &str) -> Option<&'a [f64]> {
        let e = self.entries.iter().find(|e| e.name == name)?;
        Some(&theta[e.offset..e.offset + e.shape.numel()])
    }

    /// θ as named tensors, in layout order.
    pub fn tensors(&self, theta: &[f64]) -> Vec<(String, Tensor)> {
        self.split(theta)
            .zip(&self.entries)
            .map(|((n, v), e)| (n.to_string(), Tensor::new(e.shape.clone(), v.to_vec())))
            .collect()
    }

    /// Writes `values` (for `name`) into θ; `false` when the name is unknown or the length
    /// differs.
    fn put(&self, theta: &mut [f64], name: &str, values: &[f64]) -> bool {
        match self.entries.iter().find(|e| e.name == name) {
            Some(e) if e.shape.numel() == values.len() => {
                theta[e.offset..e.offset + values.len()].copy_from_slice(values);
                true
            }
            _ => false,
        }
    }
}

/// `θ` as the JSON object of `params.json` (the layout of [`crate::data`]).
pub fn to_json(problem: &Problem, layout: &Layout, theta: &[f64]) -> Value {
    crate::data::params_file_json(problem, &layout.tensors(theta))
}

/// Reads `params.json` into θ. Every net layer and scalar of the problem must be present
/// with the right shape; the error names the layer and both shapes.
pub fn from_json(
    problem: &Problem,
    layout: &Layout,
    theta: &mut [f64],
    v: &Value,
) -> Result<(), TrainError> {
    let named =
        crate::data::params_from_json(problem, v).map_err(|e| TrainError::Params(e.to_string()))?;
    for (name, t) in named {
        if !layout.put(theta, &name, &t.data) {
            return Err(TrainError::Params(format!(
                "`{name}` does not match the compiled objective"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use nabla_frontend::nn::{Act, Mlp};
    use nabla_frontend::problem::{NetDecl, ScalarParam};
    use serde_json::json;

    fn problem() -> Problem {
        Problem {
            nets: vec![NetDecl {
                name: "u".into(),
                args: vec!["x".into(), "y".into()],
                outputs: vec!["u".into()],
                mlp: Mlp::new(&[2, 3, 1], Act::Tanh),
                seed: 0,
                embed: Default::default(),
            }],
            params: vec![ScalarParam {
                name: "mu".into(),
                init: 0.5,
            }],
            ..Problem::default()
        }
    }

    fn init(p: &Problem) -> Vec<(String, Tensor)> {
        let mut v: Vec<(String, Tensor)> = Vec::new();
        for (l, layer) in p.nets[0].mlp.init(1).into_iter().enumerate() {
            v.push((format!("u.{l}.W"), layer.w));
            v.push((format!("u.{l}.b"), layer.b));
        }
        v.push(("mu".into(), Tensor::scalar(0.5)));
        v
    }

    #[test]
    fn layout_offsets_follow_declaration_order() {
        let p = problem();
        let named = init(&p);
        let lay = Layout::new(&named);
        assert_eq!(lay.len(), 6 + 3 + 3 + 1 + 1);
        let theta = lay.flatten(&named);
        assert_eq!(lay.get(&theta, "u.1.W").unwrap(), &named[2].1.data[..]);
        assert_eq!(lay.get(&theta, "mu").unwrap(), &[0.5]);
    }

    #[test]
    fn json_layout_matches_the_cli_spec_and_round_trips() {
        let p = problem();
        let named = init(&p);
        let lay = Layout::new(&named);
        let theta: Vec<f64> = (0..lay.len()).map(|i| i as f64 * 0.25).collect();
        let v = to_json(&p, &lay, &theta);
        // W of layer 0 is [3][2], one row per output unit
        assert_eq!(
            v["u"][0]["W"],
            json!([[0.0, 0.25], [0.5, 0.75], [1.0, 1.25]])
        );
        assert_eq!(v["u"][0]["b"], json!([1.5, 1.75, 2.0]));
        assert_eq!(v["u"][1]["W"], json!([[2.25, 2.5, 2.75]]));
        assert_eq!(v["mu"], json!(3.25));
        let mut back = vec![0.0; lay.len()];
        from_json(&p, &lay, &mut back, &v).unwrap();
        assert_eq!(back, theta);
    }

    #[test]
    fn wrong_shapes_name_the_layer_and_both_shapes() {
        let p = problem();
        let lay = Layout::new(&init(&p));
        let v = json!({"u": [{"W": [[1.0, 2.0]], "b": [0.0]}, {"W": [[1.0]], "b": [0.0]}],
                       "mu": 1.0});
        let err = from_json(&p, &lay, &mut vec![0.0; lay.len()], &v).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("`u` layer 0"), "{msg}");
        assert!(msg.contains("[1,2]") && msg.contains("[3,2]"), "{msg}");
    }
}
