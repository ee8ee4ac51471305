//! The text format: one node per line, `%N` ids, types shown; `parse(print(g)) == g`.
//!
//! ```text
//! %0 = input "x" : f64[4,1]
//! %1 = const 2.0 : f64[]
//! %2 = broadcast %1 : f64[4,1]
//! %3 = mul %0, %2 : f64[4,1]
//! %4 = diff L0 order=1 method=auto %3, %0 : f64[4,1]
//! output "du" = %4
//! ```
//!
//! A line is `%N = MNEMONIC ATTR* OPERANDS : TYPE`. Attributes are a level (`L3`), a quoted
//! name, a number, or `key=value`. `broadcast` and `reshape` take their target shape from the
//! type. `;` starts a comment.

use crate::graph::{AddError, Graph, NodeId};
use crate::op::{BinOp, Level, Method, Num, Op, UnOp};
use crate::types::{DType, Shape, Type};
use std::fmt::Write;
use std::sync::Arc;

/// Prints the whole graph.
pub fn print(g: &Graph) -> String {
    let mut s = String::new();
    for id in g.ids() {
        let _ = writeln!(s, "{}", node_line(g, id));
    }
    for (name, id) in g.outputs() {
        let _ = writeln!(s, "output {} = {id}", quote(name));
    }
    s
}

/// One node's line (without newline).
pub fn node_line(g: &Graph, id: NodeId) -> String {
    let n = g.node(id);
    let mut s = format!("{id} = {}", n.op.mnemonic());
    for a in attrs(&n.op) {
        s.push(' ');
        s.push_str(&a);
    }
    for (i, a) in n.args.iter().enumerate() {
        s.push_str(if i == 0 { " " } else { ", " });
        let _ = write!(s, "{a}");
    }
    let _ = write!(s, " : {}", n.ty);
    s
}

fn attrs(op: &Op) -> Vec<String> {
    match op {
        Op::Input { name, .. } | Op::Param { name, .. } => vec![quote(name)],
        Op::Bound { level, .. } => vec![level.to_string()],
        Op::Const { value, .. } => vec![num(value.get())],
        Op::Tensor { data, .. } => {
            let vals: Vec<String> = data.iter().map(|v| num(v.get())).collect();
            vec![format!("[{}]", vals.join(", "))]
        }
        Op::Powi(n) => vec![n.to_string()],
        Op::Sum(a) | Op::Mean(a) | Op::Concat(a) => vec![format!("axis={a}")],
        Op::MatMul { ta, tb } => vec![format!("{}{}", flag(*ta), flag(*tb))],
        Op::Slice { axis, start, len } => {
            vec![
                format!("axis={axis}"),
                format!("start={start}"),
                format!("len={len}"),
            ]
        }
        Op::Diff {
            level,
            order,
            method,
        } => vec![
            level.to_string(),
            format!("order={order}"),
            format!("method={}", method.name()),
        ],
        Op::Laplacian { level, method } => {
            vec![level.to_string(), format!("method={}", method.name())]
        }
        Op::Grad { level } => vec![level.to_string()],
        Op::Unary(_) | Op::Binary(_) | Op::Broadcast(_) | Op::Reshape(_) | Op::At => vec![],
    }
}

fn flag(t: bool) -> char {
    if t {
        't'
    } else {
        'n'
    }
}

/// Shortest text that parses back to the same `f64` (Rust's `{:?}`).
fn num(v: f64) -> String {
    format!("{v:?}")
}

/// A double-quoted string with `\\`, `\"` and `\n` escaped.
pub fn quote(s: &str) -> String {
    let mut q = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => q.push_str("\\\""),
            '\\' => q.push_str("\\\\"),
            '\n' => q.push_str("\\n"),
            c => q.push(c),
        }
    }
    q.push('"');
    q
}

/// A parse error with its 1-based line and column.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {msg}")]
pub struct ParseError {
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// What was expected and found.
    pub msg: String,
}

/// Parses the text format.
pub fn parse(src: &str) -> Result<Graph, ParseError> {
    let mut g = Graph::new();
    for (i, raw) in src.lines().enumerate() {
        let line = raw.split(';').next().unwrap_or("");
        if line.trim().is_empty() {
            continue;
        }
        let mut c = Cursor {
            s: line,
            pos: 0,
            line: i + 1,
        };
        c.statement(&mut g)?;
    }
    Ok(g)
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            col: self.s[..self.pos].chars().count() + 1,
            msg: msg.into(),
        })
    }

    fn skip_ws(&mut self) {
        let rest = &self.s[self.pos..];
        self.pos += rest.len() - rest.trim_start().len();
    }

    fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.s[self.pos..].chars().next()
    }

    fn eat(&mut self, tok: &str) -> bool {
        self.skip_ws();
        if self.s[self.pos..].starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, tok: &str) -> Result<(), ParseError> {
        if self.eat(tok) {
            Ok(())
        } else {
            self.err(format!("expected `{tok}`"))
        }
    }

    /// A run of characters that can make up a word, number or id.
    fn word(&mut self) -> Result<&'a str, ParseError> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        let n = rest
            .find(|c: char| !(c.is_alphanumeric() || "_.+-=%".contains(c)))
            .unwrap_or(rest.len());
        if n == 0 {
            return self.err("expected a word");
        }
        self.pos += n;
        Ok(&rest[..n])
    }

    fn statement(&mut self, g: &mut Graph) -> Result<(), ParseError> {
        if self.eat("output") {
            let name = self.string()?;
            self.expect("=")?;
            let id = self.id(g)?;
            g.set_output(&name, id);
            return self.end();
        }
        let start = self.pos;
        let id = self.node_id()?;
        if id.index() != g.len() {
            self.pos = start;
            return self.err(format!(
                "expected %{} (ids are dense and in order)",
                g.len()
            ));
        }
        self.expect("=")?;
        let mnemonic = self.word()?;
        let (op, args, ty) = self.node_body(g, mnemonic)?;
        let at = self.pos;
        let made = g.add(op, &args).or_else(|e| {
            self.pos = at;
            self.err(add_error(e))
        })?;
        if made != id {
            return self.err(format!("duplicates {made}"));
        }
        if *g.ty(made) != ty {
            return self.err(format!("type is {}, operands give {}", ty, g.ty(made)));
        }
        self.end()
    }

    fn end(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(c) => self.err(format!("unexpected `{c}`")),
        }
    }

    fn node_id(&mut self) -> Result<NodeId, ParseError> {
        self.skip_ws();
        if !self.eat("%") {
            return self.err("expected a node id `%N`");
        }
        let rest = &self.s[self.pos..];
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let v: u32 = rest[..n]
            .parse()
            .or_else(|_| self.err("expected digits after `%`"))?;
        self.pos += n;
        Ok(NodeId(v))
    }

    fn id(&mut self, g: &Graph) -> Result<NodeId, ParseError> {
        let start = self.pos;
        let id = self.node_id()?;
        if id.index() >= g.len() {
            self.pos = start;
            return self.err(format!("{id} is not defined before this line"));
        }
        Ok(id)
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        if !self.eat("\"") {
            return self.err("expected a quoted name");
        }
        let mut out = String::new();
        let mut chars = self.s[self.pos..].char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, c)) => out.push(c),
                    None => break,
                },
                c => out.push(c),
            }
        }
        self.err("unterminated string")
    }

    fn number(&mut self) -> Result<f64, ParseError> {
        let start = self.pos;
        let w = self.word()?;
        w.parse::<f64>().or_else(|_| {
            self.pos = start;
            self.err(format!("expected a number, found `{w}`"))
        })
    }

    fn level(&mut self) -> Result<Level, ParseError> {
        let start = self.pos;
        let w = self.word()?;
        match w.strip_prefix('L').and_then(|d| d.parse().ok()) {
            Some(l) => Ok(Level(l)),
            None => {
                self.pos = start;
                self.err(format!("expected a level `L<n>`, found `{w}`"))
            }
        }
    }

    /// `key=value`, returning the value text.
    fn keyed(&mut self, key: &str) -> Result<&'a str, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let w = self.word()?;
        match w.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            Some(v) => Ok(v),
            None => {
                self.pos = start;
                self.err(format!("expected `{key}=...`, found `{w}`"))
            }
        }
    }

    fn keyed_num<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, ParseError> {
        let start = self.pos;
        let v = self.keyed(key)?;
        v.parse().or_else(|_| {
            self.pos = start;
            self.err(format!("bad value for `{key}`: `{v}`"))
        })
    }

    fn operands(&mut self, g: &Graph) -> Result<Vec<NodeId>, ParseError> {
        let mut v = Vec::new();
        if self.peek() != Some('%') {
            return Ok(v);
        }
        loop {
            v.push(self.id(g)?);
            if !self.eat(",") {
                return Ok(v);
            }
        }
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        self.expect(":")?;
        self.skip_ws();
        let start = self.pos;
        let d = self.s[self.pos..].get(..3).and_then(DType::parse);
        let Some(dtype) = d else {
            return self.err("expected a dtype `f32` or `f64`");
        };
        self.pos += 3;
        let shape = self.shape().inspect_err(|_| self.pos = start)?;
        Ok(Type::new(dtype, shape))
    }

    fn shape(&mut self) -> Result<Shape, ParseError> {
        self.expect("[")?;
        let mut dims = Vec::new();
        if self.eat("]") {
            return Ok(Shape::new(&dims));
        }
        loop {
            let n = self.number()?;
            if n < 0.0 || n.fract() != 0.0 {
                return self.err("extents are non-negative integers");
            }
            dims.push(n as usize);
            if self.eat("]") {
                return Ok(Shape::new(&dims));
            }
            self.expect(",")?;
        }
    }

    fn tensor_data(&mut self) -> Result<Vec<Num>, ParseError> {
        self.expect("[")?;
        let mut v = Vec::new();
        if self.eat("]") {
            return Ok(v);
        }
        loop {
            v.push(Num::new(self.number()?));
            if self.eat("]") {
                return Ok(v);
            }
            self.expect(",")?;
        }
    }

    /// Parses attributes, operands and type for `mnemonic`.
    fn node_body(&mut self, g: &Graph, m: &str) -> Result<(Op, Vec<NodeId>, Type), ParseError> {
        let (op, args, ty);
        match m {
            "input" | "param" => {
                let name = self.string()?;
                ty = self.ty()?;
                let (dtype, shape) = (ty.dtype, ty.shape.clone());
                op = if m == "input" {
                    Op::Input { name, dtype, shape }
                } else {
                    Op::Param { name, dtype, shape }
                };
                args = vec![];
            }
            "bound" => {
                let level = self.level()?;
                ty = self.ty()?;
                op = Op::Bound {
                    level,
                    dtype: ty.dtype,
                    shape: ty.shape.clone(),
                };
                args = vec![];
            }
            "const" => {
                let value = Num::new(self.number()?);
                ty = self.ty()?;
                op = Op::Const {
                    value,
                    dtype: ty.dtype,
                };
                args = vec![];
            }
            "tensor" => {
                let data: Arc<[Num]> = self.tensor_data()?.into();
                ty = self.ty()?;
                op = Op::Tensor {
                    data,
                    dtype: ty.dtype,
                    shape: ty.shape.clone(),
                };
                args = vec![];
            }
            _ => {
                let o = self.attrs_op(m)?;
                args = self.operands(g)?;
                ty = self.ty()?;
                op = match o {
                    Op::Broadcast(_) => Op::Broadcast(ty.shape.clone()),
                    Op::Reshape(_) => Op::Reshape(ty.shape.clone()),
                    o => o,
                };
            }
        }
        Ok((op, args, ty))
    }

    /// Ops with operands: the op from its mnemonic and attributes.
    fn attrs_op(&mut self, m: &str) -> Result<Op, ParseError> {
        if let Some(u) = UnOp::from_name(m) {
            return Ok(Op::Unary(u));
        }
        if let Some(b) = BinOp::from_name(m) {
            return Ok(Op::Binary(b));
        }
        Ok(match m {
            "powi" => {
                let n = self.number()?;
                if n.fract() != 0.0 || n.abs() > i32::MAX as f64 {
                    return self.err("powi takes an integer exponent");
                }
                Op::Powi(n as i32)
            }
            "broadcast" => Op::Broadcast(Shape::scalar()),
            "reshape" => Op::Reshape(Shape::scalar()),
            "sum" => Op::Sum(self.keyed_num("axis")?),
            "mean" => Op::Mean(self.keyed_num("axis")?),
            "concat" => Op::Concat(self.keyed_num("axis")?),
            "matmul" => self.matmul_flags()?,
            "slice" => Op::Slice {
                axis: self.keyed_num("axis")?,
                start: self.keyed_num("start")?,
                len: self.keyed_num("len")?,
            },
            "diff" => Op::Diff {
                level: self.level()?,
                order: self.keyed_num("order")?,
                method: self.method()?,
            },
            "laplacian" => Op::Laplacian {
                level: self.level()?,
                method: self.method()?,
            },
            "grad" => Op::Grad {
                level: self.level()?,
            },
            "at" => Op::At,
            _ => return self.err(format!("unknown op `{m}`")),
        })
    }

    fn matmul_flags(&mut self) -> Result<Op, ParseError> {
        let start = self.pos;
        let w = self.word()?;
        let f = |c: u8| match c {
            b'n' => Some(false),
            b't' => Some(true),
            _ => None,
        };
        match w.as_bytes() {
            [a, b] if f(*a).is_some() && f(*b).is_some() => Ok(Op::MatMul {
                ta: f(*a).unwrap_or(false),
                tb: f(*b).unwrap_or(false),
            }),
            _ => {
                self.pos = start;
                self.err(format!("expected matmul flags nn|nt|tn|tt, found `{w}`"))
            }
        }
    }

    fn method(&mut self) -> Result<Method, ParseError> {
        let start = self.pos;
        let v = self.keyed("method")?;
        Method::parse(v).map_or_else(
            || {
                self.pos = start;
                self.err(format!("unknown method `{v}`"))
            },
            Ok,
        )
    }
}

fn add_error(e: AddError) -> String {
    e.to_string()
}
