//! The reference interpreter behind the [`Executable`] interface (`--backend interp`).

use crate::{bindings_of, Binding, BoundLeaves, Executable, RunError};
use nabla_ir::{interp, DType, Graph, GraphInfo, NodeId, Tensor};

/// Options of the interpreter backend.
#[derive(Clone, Debug)]
pub struct Options {
    /// f64 (reference) or f32 (rounds every intermediate).
    pub dtype: DType,
}

/// The graph plus its bound leaves.
pub struct InterpExecutable {
    graph: Graph,
    leaves: BoundLeaves,
    env: interp::Env,
    dtype: DType,
    outputs: Vec<Vec<f64>>,
}

/// "Compiles" a verified, derivative-free graph for the interpreter.
pub fn compile(g: &Graph, info: &GraphInfo, opts: &Options) -> InterpExecutable {
    InterpExecutable {
        graph: g.clone(),
        leaves: BoundLeaves::new(bindings_of(g, info)),
        env: interp::Env::new(),
        dtype: opts.dtype,
        outputs: Vec::new(),
    }
}

impl Executable for InterpExecutable {
    fn bindings(&self) -> &[Binding] {
        self.leaves.bindings()
    }

    fn output_names(&self) -> Vec<String> {
        self.graph.outputs().iter().map(|o| o.0.clone()).collect()
    }

    fn dtype(&self) -> DType {
        self.dtype
    }

    fn set(&mut self, name: &str, values: &[f64]) -> Result<(), RunError> {
        let i = self.leaves.check(name, values)?;
        let t = Tensor::new(self.leaves.bindings()[i].shape.clone(), values.to_vec());
        self.env.insert(name.to_string(), t);
        self.leaves.mark_set(i);
        Ok(())
    }

    fn run(&mut self) -> Result<(), RunError> {
        self.leaves.check_all_set()?;
        let roots: Vec<NodeId> = self.graph.outputs().iter().map(|o| o.1).collect();
        let vals = interp::eval(&self.graph, &roots, &self.env, self.dtype)
            .map_err(|e| RunError::Backend(e.to_string()))?;
        self.outputs = vals.into_iter().map(|t| t.data).collect();
        self.leaves.mark_ran();
        Ok(())
    }

    fn output(&self, index: usize) -> Vec<f64> {
        self.leaves.check_output(index, self.graph.outputs().len());
        self.outputs[index].clone()
    }
}
