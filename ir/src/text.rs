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
//! type. `;` starts a comment (outside quoted names). Numbers print as Rust's shortest
//! round-trip form (`0.1`, `-0.0`, `1e-300`, `inf`, `NaN`); a NaN other than the canonical
//! one prints as its raw bits, `0x` and 16 hex digits, so that every constant round-trips
//! bit for bit.
//!
//! [`parse`] checks each line as it goes (operands defined before use, types as inferred,
//! no duplicate nodes) and reports the first problem as `line:col: message`.
//! [`parse_unchecked`] only checks the syntax and keeps what the text says, so that a
//! malformed graph reaches [`crate::verify`] and its error can be tested.

use crate::graph::{AddError, Graph, Node, NodeId};
use crate::op::{BinOp, Level, Method, Num, Op, UnOp};
use crate::types::{DType, Shape, Type};
use std::collections::HashMap;
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
        Op::Bound { level, index, .. } => vec![level.to_string(), format!("index={index}")],
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
        Op::Grad { level } | Op::Jacobian { level } => vec![level.to_string()],
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

/// Shortest text that parses back to the same `f64` bits: Rust's `{:?}`, except for a
/// NaN other than [`f64::NAN`], which prints as `0x` and its 16 hex digits.
fn num(v: f64) -> String {
    if v.is_nan() && v.to_bits() != f64::NAN.to_bits() {
        format!("0x{:016x}", v.to_bits())
    } else {
        format!("{v:?}")
    }
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
    /// 1-based column (in characters).
    pub col: usize,
    /// What was expected and found.
    pub msg: String,
}

/// The most elements a parsed shape may have (2⁴⁰). Far beyond any real tensor, and small
/// enough that no later size computation (a concat of many such operands) can overflow.
pub const MAX_NUMEL: usize = 1 << 40;

/// Parses the text format, checking every line against the graph built so far, so that
/// the graph returned verifies.
pub fn parse(src: &str) -> Result<Graph, ParseError> {
    let mut g = Graph::new();
    let mut names = HashMap::new();
    for stmt in statements(src) {
        let (stmt, at) = stmt?;
        if let Stmt::Node { op, .. } = &stmt {
            at.fresh_leaf_name(op, g.len(), &mut names)?;
        }
        apply_checked(&mut g, stmt, &at)?;
    }
    Ok(g)
}

/// Parses the syntax only: node ids must still be dense and in order, but operands may
/// name any id, types are taken as written and nothing is hash-consed. The result must go
/// through [`crate::verify`] before anything else looks at it.
pub fn parse_unchecked(src: &str) -> Result<Graph, ParseError> {
    let mut nodes = Vec::new();
    let mut outputs: Vec<(String, NodeId)> = Vec::new();
    for stmt in statements(src) {
        let (stmt, at) = stmt?;
        match stmt {
            Stmt::Node { id, op, args, ty } => {
                at.dense(id, nodes.len())?;
                nodes.push(Node {
                    op,
                    args: args.iter().map(|a| a.0).collect(),
                    ty,
                });
            }
            Stmt::Output { name, id } => {
                at.fresh_output(&name, outputs.iter().map(|o| o.0.as_str()))?;
                outputs.push((name, id.0));
            }
        }
    }
    Ok(Graph::from_parts_unchecked(nodes, outputs))
}

/// A node id as written, with the column where it starts.
#[derive(Clone, Copy)]
struct Ref(NodeId, usize);

/// One non-empty line, parsed but not yet checked against a graph.
enum Stmt {
    /// `%N = op ... : type`.
    Node {
        id: Ref,
        op: Op,
        args: Vec<Ref>,
        ty: Type,
    },
    /// `output "name" = %N`.
    Output { name: String, id: Ref },
}

/// Where a statement sits, for error messages: its line number, text, and the columns of
/// the mnemonic and the type.
struct At<'a> {
    line: usize,
    text: &'a str,
    op_pos: usize,
    ty_pos: usize,
}

impl At<'_> {
    fn err<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            col: self.text[..pos].chars().count() + 1,
            msg: msg.into(),
        })
    }

    /// Ids are positional: the `n`-th node must be written `%n`.
    fn dense(&self, id: Ref, n: usize) -> Result<(), ParseError> {
        if id.0.index() == n {
            Ok(())
        } else {
            self.err(id.1, format!("expected %{n} (ids are dense and in order)"))
        }
    }

    fn defined(&self, r: Ref, g: &Graph) -> Result<NodeId, ParseError> {
        if r.0.index() < g.len() {
            Ok(r.0)
        } else {
            self.err(r.1, format!("{} is not defined before this line", r.0))
        }
    }

    /// An `input` or `param` may not take a name an earlier one has (the runtime binds
    /// leaves by name).
    fn fresh_leaf_name(
        &self,
        op: &Op,
        id: usize,
        names: &mut HashMap<String, NodeId>,
    ) -> Result<(), ParseError> {
        let (Op::Input { name, .. } | Op::Param { name, .. }) = op else {
            return Ok(());
        };
        match names.get(name) {
            Some(&earlier) => self.err(
                self.op_pos,
                format!("{earlier} already has the name {}", quote(name)),
            ),
            None => {
                names.insert(name.clone(), NodeId(id as u32));
                Ok(())
            }
        }
    }

    fn fresh_output<'n>(
        &self,
        name: &str,
        mut names: impl Iterator<Item = &'n str>,
    ) -> Result<(), ParseError> {
        if names.any(|n| n == name) {
            self.err(
                self.op_pos,
                format!("output {} is named twice", quote(name)),
            )
        } else {
            Ok(())
        }
    }
}

/// Adds one statement to `g`, checking what [`parse`] promises.
fn apply_checked(g: &mut Graph, stmt: Stmt, at: &At<'_>) -> Result<(), ParseError> {
    match stmt {
        Stmt::Output { name, id } => {
            at.fresh_output(&name, g.outputs().iter().map(|o| o.0.as_str()))?;
            let id = at.defined(id, g)?;
            g.set_output(&name, id);
            Ok(())
        }
        Stmt::Node { id, op, args, ty } => {
            at.dense(id, g.len())?;
            let args = args
                .into_iter()
                .map(|a| at.defined(a, g))
                .collect::<Result<Vec<_>, _>>()?;
            let made = match g.add(op, &args) {
                Ok(made) => made,
                Err(e) => return at.err(at.op_pos, add_error(e)),
            };
            if made != id.0 {
                return at.err(at.op_pos, format!("duplicates {made}"));
            }
            if *g.ty(made) != ty {
                let msg = format!("type is {ty}, operands give {}", g.ty(made));
                return at.err(at.ty_pos, msg);
            }
            Ok(())
        }
    }
}

fn add_error(e: AddError) -> String {
    e.to_string()
}

/// The statements of `src`, one per non-blank line, with where each sits.
fn statements(src: &str) -> impl Iterator<Item = Result<(Stmt, At<'_>), ParseError>> {
    src.lines().enumerate().filter_map(|(i, raw)| {
        let text = strip_comment(raw);
        if text.trim().is_empty() {
            return None;
        }
        let mut c = Cursor {
            s: text,
            pos: 0,
            line: i + 1,
            op_pos: 0,
            ty_pos: 0,
        };
        Some(c.statement().map(|stmt| {
            let at = At {
                line: i + 1,
                text,
                op_pos: c.op_pos,
                ty_pos: c.ty_pos,
            };
            (stmt, at)
        }))
    })
}

/// The line up to its first `;` outside a quoted name.
fn strip_comment(line: &str) -> &str {
    let (mut quoted, mut escaped) = (false, false);
    for (i, c) in line.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => return &line[..i],
            _ => {}
        }
    }
    line
}

/// A position in one line of text.
struct Cursor<'a> {
    s: &'a str,
    pos: usize,
    line: usize,
    /// Where the mnemonic (or `output`) starts.
    op_pos: usize,
    /// Where the `: type` starts.
    ty_pos: usize,
}

impl<'a> Cursor<'a> {
    fn err<T>(&self, msg: impl Into<String>) -> Result<T, ParseError> {
        self.err_at(self.pos, msg)
    }

    fn err_at<T>(&self, pos: usize, msg: impl Into<String>) -> Result<T, ParseError> {
        Err(ParseError {
            line: self.line,
            col: self.s[..pos].chars().count() + 1,
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

    /// A run of characters that can make up a word, number or id, and where it starts.
    fn word(&mut self) -> Result<(&'a str, usize), ParseError> {
        self.skip_ws();
        let rest = &self.s[self.pos..];
        let n = rest
            .find(|c: char| !(c.is_alphanumeric() || "_.+-=%".contains(c)))
            .unwrap_or(rest.len());
        if n == 0 {
            return self.err("expected a word");
        }
        let start = self.pos;
        self.pos += n;
        Ok((&rest[..n], start))
    }

    /// A word parsed as `T`, or an error naming what was expected.
    fn parsed<T: std::str::FromStr>(&mut self, what: &str) -> Result<T, ParseError> {
        let (w, start) = self.word()?;
        w.parse()
            .or_else(|_| self.err_at(start, format!("expected {what}, found `{w}`")))
    }

    fn statement(&mut self) -> Result<Stmt, ParseError> {
        self.skip_ws();
        self.op_pos = self.pos;
        if self.eat("output") {
            let name = self.string()?;
            self.expect("=")?;
            let id = self.node_ref()?;
            self.end()?;
            return Ok(Stmt::Output { name, id });
        }
        let id = self.node_ref()?;
        self.expect("=")?;
        self.skip_ws();
        self.op_pos = self.pos;
        let (mnemonic, _) = self.word()?;
        let (op, args, ty) = self.node_body(mnemonic)?;
        self.end()?;
        Ok(Stmt::Node { id, op, args, ty })
    }

    fn end(&mut self) -> Result<(), ParseError> {
        match self.peek() {
            None => Ok(()),
            Some(c) => self.err(format!("unexpected `{c}`")),
        }
    }

    fn node_ref(&mut self) -> Result<Ref, ParseError> {
        self.skip_ws();
        let start = self.pos;
        if !self.eat("%") {
            return self.err("expected a node id `%N`");
        }
        let rest = &self.s[self.pos..];
        let n = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let v: u32 = rest[..n]
            .parse()
            .or_else(|_| self.err("expected a node number after `%`"))?;
        self.pos += n;
        Ok(Ref(NodeId(v), start))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        self.skip_ws();
        let start = self.pos;
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
        self.err_at(start, "unterminated string")
    }

    /// A number: anything Rust parses as `f64`, or `0x` and up to 16 hex digits of raw
    /// bits (how non-canonical NaNs print). A textual NaN is [`f64::NAN`].
    fn number(&mut self) -> Result<f64, ParseError> {
        let (w, start) = self.word()?;
        let v = match w.strip_prefix("0x") {
            Some(hex) if hex.len() <= 16 => u64::from_str_radix(hex, 16).ok().map(f64::from_bits),
            Some(_) => None,
            None => w.parse::<f64>().ok(),
        };
        match v {
            Some(v) if v.is_nan() && !w.starts_with("0x") => Ok(f64::NAN),
            Some(v) => Ok(v),
            None => self.err_at(start, format!("expected a number, found `{w}`")),
        }
    }

    fn level(&mut self) -> Result<Level, ParseError> {
        let (w, start) = self.word()?;
        match w.strip_prefix('L').and_then(|d| d.parse().ok()) {
            Some(l) => Ok(Level(l)),
            None => self.err_at(start, format!("expected a level `L<n>`, found `{w}`")),
        }
    }

    /// `key=value`, returning the value text.
    fn keyed(&mut self, key: &str) -> Result<&'a str, ParseError> {
        let (w, start) = self.word()?;
        match w.strip_prefix(key).and_then(|r| r.strip_prefix('=')) {
            Some(v) => Ok(v),
            None => self.err_at(start, format!("expected `{key}=...`, found `{w}`")),
        }
    }

    fn keyed_num<T: std::str::FromStr>(&mut self, key: &str) -> Result<T, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let v = self.keyed(key)?;
        v.parse()
            .or_else(|_| self.err_at(start, format!("bad value for `{key}`: `{v}`")))
    }

    fn operands(&mut self) -> Result<Vec<Ref>, ParseError> {
        let mut v = Vec::new();
        if self.peek() != Some('%') {
            return Ok(v);
        }
        loop {
            v.push(self.node_ref()?);
            if !self.eat(",") {
                return Ok(v);
            }
        }
    }

    fn ty(&mut self) -> Result<Type, ParseError> {
        self.skip_ws();
        self.ty_pos = self.pos;
        self.expect(":")?;
        self.skip_ws();
        let d = self.s[self.pos..].get(..3).and_then(DType::parse);
        let Some(dtype) = d else {
            return self.err("expected a dtype `f32` or `f64`");
        };
        self.pos += 3;
        Ok(Type::new(dtype, self.shape()?))
    }

    /// `[d0,d1,...]` with at most [`MAX_NUMEL`] elements.
    fn shape(&mut self) -> Result<Shape, ParseError> {
        let start = self.pos;
        self.expect("[")?;
        let mut dims = Vec::new();
        if !self.eat("]") {
            loop {
                dims.push(self.parsed::<usize>("an extent")?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        let numel = dims.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        match numel {
            Some(n) if n <= MAX_NUMEL => Ok(Shape::new(&dims)),
            _ => self.err_at(start, "shape has more than 2^40 elements"),
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
    fn node_body(&mut self, m: &str) -> Result<(Op, Vec<Ref>, Type), ParseError> {
        let leaf = match m {
            "input" | "param" => Some(self.named_leaf(m == "input")?),
            "bound" => Some(self.bound()?),
            "const" => Some(self.constant()?),
            "tensor" => Some(self.tensor()?),
            _ => None,
        };
        if let Some((op, ty)) = leaf {
            return Ok((op, vec![], ty));
        }
        let op = self.attrs_op(m)?;
        let args = self.operands()?;
        let ty = self.ty()?;
        let op = match op {
            Op::Broadcast(_) => Op::Broadcast(ty.shape.clone()),
            Op::Reshape(_) => Op::Reshape(ty.shape.clone()),
            o => o,
        };
        Ok((op, args, ty))
    }

    fn named_leaf(&mut self, input: bool) -> Result<(Op, Type), ParseError> {
        let name = self.string()?;
        let ty = self.ty()?;
        let (dtype, shape) = (ty.dtype, ty.shape.clone());
        let op = if input {
            Op::Input { name, dtype, shape }
        } else {
            Op::Param { name, dtype, shape }
        };
        Ok((op, ty))
    }

    fn bound(&mut self) -> Result<(Op, Type), ParseError> {
        let level = self.level()?;
        let index = self.keyed_num("index")?;
        let ty = self.ty()?;
        let (dtype, shape) = (ty.dtype, ty.shape.clone());
        Ok((
            Op::Bound {
                level,
                index,
                dtype,
                shape,
            },
            ty,
        ))
    }

    fn constant(&mut self) -> Result<(Op, Type), ParseError> {
        let value = Num::new(self.number()?);
        let ty = self.ty()?;
        let dtype = ty.dtype;
        Ok((Op::Const { value, dtype }, ty))
    }

    fn tensor(&mut self) -> Result<(Op, Type), ParseError> {
        let data: Arc<[Num]> = self.tensor_data()?.into();
        let ty = self.ty()?;
        let (dtype, shape) = (ty.dtype, ty.shape.clone());
        Ok((Op::Tensor { data, dtype, shape }, ty))
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
            "powi" => Op::Powi(self.parsed("an integer exponent")?),
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
            "jacobian" => Op::Jacobian {
                level: self.level()?,
            },
            "at" => Op::At,
            _ => return self.err_at(self.op_pos, format!("unknown op `{m}`")),
        })
    }

    fn matmul_flags(&mut self) -> Result<Op, ParseError> {
        let (w, start) = self.word()?;
        let f = |c: u8| match c {
            b'n' => Some(false),
            b't' => Some(true),
            _ => None,
        };
        match w.as_bytes() {
            [a, b] => match (f(*a), f(*b)) {
                (Some(ta), Some(tb)) => Ok(Op::MatMul { ta, tb }),
                _ => self.err_at(
                    start,
                    format!("expected matmul flags nn|nt|tn|tt, found `{w}`"),
                ),
            },
            _ => self.err_at(
                start,
                format!("expected matmul flags nn|nt|tn|tt, found `{w}`"),
            ),
        }
    }

    fn method(&mut self) -> Result<Method, ParseError> {
        self.skip_ws();
        let start = self.pos;
        let v = self.keyed("method")?;
        match Method::parse(v) {
            Some(m) => Ok(m),
            None => self.err_at(start, format!("unknown method `{v}`")),
        }
    }
}
