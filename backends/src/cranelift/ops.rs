//! CLIF for the arithmetic of kernel bodies, in scalar or 128-bit vector form.
//!
//! `+ − × ÷ √ |x| −x x² 1/x` are single instructions in either form. `a·b + c` and
//! `a·b − c` become one fused multiply-add when the product has no other use and the
//! host has FMA (one rounding instead of two: results may differ from the interpreter
//! in the last bit, which is why it can be turned off). `powi` is a multiplication chain
//! by binary powering (`1/x^|n|` for negative `n`), `sign` two compares and selects.
//! Transcendentals call the host functions of `math` (once per lane in vector code), or
//! for `tanh` with `inline_tanh` the inline approximation of `vmath`.

use super::{math, vmath, Codegen};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::Signature;
use cranelift_codegen::ir::{types, AbiParam, FuncRef, InstBuilder, MemFlagsData, Type, Value};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{Linkage, Module};
use nabla_ir::{BinOp, UnOp};
use nabla_passes::schedule::{Expr, Kernel};
use std::collections::HashMap;
use std::sync::Mutex;

/// Instruction selection state for one kernel.
pub struct Ops<'a, 'k> {
    /// The function being built.
    pub b: FunctionBuilder<'a>,
    module: &'k Mutex<JITModule>,
    isa: &'k dyn TargetIsa,
    k: &'k Kernel,
    cg: Codegen,
    /// Scalar element type.
    pub ty: Type,
    /// Vector type (`f32x4` or `f64x2`).
    pub vty: Type,
    /// Element size in bytes.
    pub size: usize,
    /// Lanes per vector.
    pub lanes: u32,
    /// Scalar and splatted value of each `Const` instruction, made in the entry block.
    consts: Vec<Option<[Value; 2]>>,
    /// Products folded into their only user, an add or subtract, as an FMA.
    fused: Vec<bool>,
    refs: HashMap<&'static str, FuncRef>,
}

impl<'a, 'k> Ops<'a, 'k> {
    /// State for kernel `k`.
    pub fn new(
        b: FunctionBuilder<'a>,
        (module, isa): (&'k Mutex<JITModule>, &'k dyn TargetIsa),
        k: &'k Kernel,
        cg: Codegen,
    ) -> Self {
        let (ty, vty, size) = if cg.f64 {
            (types::F64, types::F64X2, 8)
        } else {
            (types::F32, types::F32X4, 4)
        };
        Ops {
            b,
            module,
            isa,
            k,
            cg,
            ty,
            vty,
            size,
            lanes: 16 / size as u32,
            consts: vec![None; k.body.len()],
            fused: if cg.fma {
                fusable(k)
            } else {
                vec![false; k.body.len()]
            },
            refs: HashMap::new(),
        }
    }

    /// Materialises every constant of the body (call in the entry block).
    pub fn constants(&mut self) {
        for (i, e) in self.k.body.iter().enumerate() {
            if let Expr::Const(c) = e {
                let s = self.scalar_const(*c);
                let v = self.b.ins().splat(self.vty, s);
                self.consts[i] = Some([s, v]);
            }
        }
    }

    fn scalar_const(&mut self, c: f64) -> Value {
        if self.cg.f64 {
            self.b.ins().f64const(c)
        } else {
            self.b.ins().f32const(c as f32)
        }
    }

    /// A constant of the current form (scalar or splat).
    pub fn konst(&mut self, c: f64, vector: bool) -> Value {
        let s = self.scalar_const(c);
        if vector {
            self.b.ins().splat(self.vty, s)
        } else {
            s
        }
    }

    /// The value of body instruction `e` (not a load), or `None` for a product folded
    /// into its user.
    pub fn expr(&mut self, e: usize, vals: &[Option<Value>], vector: bool) -> Option<Value> {
        let v = |x: nabla_passes::schedule::Val| vals[x.index()].expect("operand computed");
        Some(match &self.k.body[e] {
            Expr::Load { .. } => unreachable!("loads are emitted by the loop code"),
            Expr::Const(_) => self.consts[e].expect("constant made")[vector as usize],
            Expr::Unary(u, a) => self.unary(*u, v(*a), vector),
            Expr::Powi(n, a) => self.powi(*n, v(*a), vector),
            Expr::Binary(_, _, _) if self.fused[e] => return None,
            Expr::Binary(op, x, y) => self.binary(*op, x.index(), y.index(), vals, vector),
        })
    }

    fn binary(
        &mut self,
        op: BinOp,
        x: usize,
        y: usize,
        vals: &[Option<Value>],
        vector: bool,
    ) -> Value {
        if let Some(r) = self.try_fma(op, x, y, vals) {
            return r;
        }
        let (a, c) = (vals[x].expect("operand"), vals[y].expect("operand"));
        if let Some(f) = math::binary(op, self.cg.f64) {
            return self.call2(f, a, c, vector);
        }
        let ins = self.b.ins();
        match op {
            BinOp::Add => ins.fadd(a, c),
            BinOp::Sub => ins.fsub(a, c),
            BinOp::Mul => ins.fmul(a, c),
            BinOp::Div => ins.fdiv(a, c),
            BinOp::Pow | BinOp::Atan2 => unreachable!("`{}` is a host function", op.name()),
        }
    }

    /// `a·b + c`, `c + a·b`, `a·b − c`, `c − a·b` with a folded product.
    fn try_fma(&mut self, op: BinOp, x: usize, y: usize, vals: &[Option<Value>]) -> Option<Value> {
        let mul_ops = |i: usize| match self.k.body[i] {
            Expr::Binary(BinOp::Mul, a, b) if self.fused[i] => Some((a.index(), b.index())),
            _ => None,
        };
        let val = |i: usize| vals[i].expect("operand");
        let (p, other, product_first) = match (mul_ops(x), mul_ops(y)) {
            (Some(p), _) => (p, y, true),
            (None, Some(p)) => (p, x, false),
            (None, None) => return None,
        };
        let (a, b, c) = (val(p.0), val(p.1), val(other));
        let ins = self.b.ins();
        Some(match (op, product_first) {
            (BinOp::Add, _) => ins.fma(a, b, c),
            (BinOp::Sub, true) => {
                let nc = ins.fneg(c);
                self.b.ins().fma(a, b, nc)
            }
            (BinOp::Sub, false) => {
                let na = ins.fneg(a);
                self.b.ins().fma(na, b, c)
            }
            _ => unreachable!("only add and sub fuse"),
        })
    }

    fn unary(&mut self, u: UnOp, x: Value, vector: bool) -> Value {
        if u == UnOp::Tanh && self.cg.inline_tanh {
            return if self.cg.f64 {
                vmath::tanh64(self, x, vector)
            } else {
                vmath::tanh(self, x, vector)
            };
        }
        if let Some(f) = math::unary(u, self.cg.f64) {
            return self.call1(f, x, vector);
        }
        match u {
            UnOp::Neg => self.b.ins().fneg(x),
            UnOp::Abs => self.b.ins().fabs(x),
            UnOp::Sqrt => self.b.ins().sqrt(x),
            UnOp::Square => self.b.ins().fmul(x, x),
            UnOp::Recip => {
                let one = self.konst(1.0, vector);
                self.b.ins().fdiv(one, x)
            }
            UnOp::Sign => self.sign(x, vector),
            _ => unreachable!("{} has a host function", u.name()),
        }
    }

    /// `1` if `x > 0`, `−1` if `x < 0`, else `x·0` (keeps ±0 and NaN).
    fn sign(&mut self, x: Value, vector: bool) -> Value {
        let zero = self.konst(0.0, vector);
        let one = self.konst(1.0, vector);
        let minus = self.konst(-1.0, vector);
        let x0 = self.b.ins().fmul(x, zero);
        let gt = self.b.ins().fcmp(FloatCC::GreaterThan, x, zero);
        let lt = self.b.ins().fcmp(FloatCC::LessThan, x, zero);
        let neg = self.select(lt, minus, x0, vector);
        self.select(gt, one, neg, vector)
    }

    /// `c ? a : b` for a compare result `c` of the current form.
    pub fn select(&mut self, c: Value, a: Value, b: Value, vector: bool) -> Value {
        if vector {
            let mask = self.b.ins().bitcast(
                self.vty,
                MemFlagsData::new().with_endianness(cranelift_codegen::ir::Endianness::Little),
                c,
            );
            self.b.ins().bitselect(mask, a, b)
        } else {
            self.b.ins().select(c, a, b)
        }
    }

    /// `x^n` by binary powering.
    fn powi(&mut self, n: i32, x: Value, vector: bool) -> Value {
        let mut e = n.unsigned_abs();
        let mut acc: Option<Value> = None;
        let mut base = x;
        while e > 0 {
            if e & 1 == 1 {
                acc = Some(match acc {
                    Some(a) => self.b.ins().fmul(a, base),
                    None => base,
                });
            }
            e >>= 1;
            if e > 0 {
                base = self.b.ins().fmul(base, base);
            }
        }
        let p = acc.unwrap_or_else(|| self.konst(1.0, vector));
        if n < 0 {
            let one = self.konst(1.0, vector);
            self.b.ins().fdiv(one, p)
        } else {
            p
        }
    }

    fn func_ref(&mut self, f: &math::HostFn, arity: usize) -> FuncRef {
        if let Some(r) = self.refs.get(f.name) {
            return *r;
        }
        let mut sig = Signature::new(self.isa.default_call_conv());
        sig.params
            .extend(std::iter::repeat_n(AbiParam::new(self.ty), arity));
        sig.returns.push(AbiParam::new(self.ty));
        let mut module = super::emit::lock(self.module);
        let id = module
            .declare_function(f.name, Linkage::Import, &sig)
            .expect("host function declared once with one signature");
        let r = module.declare_func_in_func(id, self.b.func);
        self.refs.insert(f.name, r);
        r
    }

    /// Calls a one-argument host function (per lane for vectors).
    fn call1(&mut self, f: math::HostFn, x: Value, vector: bool) -> Value {
        let r = self.func_ref(&f, 1);
        self.per_lane(vector, &[x], |b, args| {
            let call = b.ins().call(r, args);
            b.inst_results(call)[0]
        })
    }

    /// Calls a two-argument host function (per lane for vectors).
    fn call2(&mut self, f: math::HostFn, x: Value, y: Value, vector: bool) -> Value {
        let r = self.func_ref(&f, 2);
        self.per_lane(vector, &[x, y], |b, args| {
            let call = b.ins().call(r, args);
            b.inst_results(call)[0]
        })
    }

    fn per_lane(
        &mut self,
        vector: bool,
        args: &[Value],
        mut f: impl FnMut(&mut FunctionBuilder<'a>, &[Value]) -> Value,
    ) -> Value {
        if !vector {
            return f(&mut self.b, args);
        }
        let mut out = args[0];
        for lane in 0..self.lanes as u8 {
            let xs: Vec<Value> = args
                .iter()
                .map(|&a| self.b.ins().extractlane(a, lane))
                .collect();
            let r = f(&mut self.b, &xs);
            out = self.b.ins().insertlane(out, r, lane);
        }
        out
    }
}

/// Products whose only use is as an operand of an add or subtract (and that are not
/// stored): they fold into an FMA there. At most one product per user is folded.
fn fusable(k: &Kernel) -> Vec<bool> {
    let n = k.body.len();
    let mut uses = vec![0u32; n];
    for e in &k.body {
        match e {
            Expr::Unary(_, a) | Expr::Powi(_, a) => uses[a.index()] += 1,
            Expr::Binary(_, a, b) => {
                uses[a.index()] += 1;
                uses[b.index()] += 1;
            }
            Expr::Load { .. } | Expr::Const(_) => {}
        }
    }
    for s in &k.stores {
        uses[s.value.index()] += 2;
    }
    let is_mul = |i: usize| matches!(k.body[i], Expr::Binary(BinOp::Mul, _, _)) && uses[i] == 1;
    let mut fused = vec![false; n];
    for e in &k.body {
        if let Expr::Binary(BinOp::Add | BinOp::Sub, a, b) = e {
            if is_mul(a.index()) {
                fused[a.index()] = true;
            } else if is_mul(b.index()) {
                fused[b.index()] = true;
            }
        }
    }
    fused
}
