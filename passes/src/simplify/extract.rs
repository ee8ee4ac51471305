//! Extraction: one e-node per e-class, chosen so that the graph it spells out is cheap by
//! the [`cost`](super::cost) model, with shared values paid for once.
//!
//! The optimum is an integer program (egg's `LpExtractor` solves it with an external
//! solver, far too slowly for e-graphs of thousands of classes), so extraction is three
//! cheap steps:
//!
//! 1. **Greedy DAG choice.** A tree cost (egg's `Extractor`) counts a shared node once
//!    per use, so it would prefer recomputing a `tanh` to sharing it, and it grows
//!    exponentially with depth in derivative graphs, which share heavily. The greedy
//!    heuristic instead costs a node as the sum, over the *set* of e-classes it depends
//!    on, of each class's chosen node cost, relaxed to a fixpoint from the leaves up with
//!    a worklist. It never double-counts a class below one node, but it cannot see
//!    sharing *between* siblings, and it can pick a cyclic choice in rare cases.
//! 2. **The seed.** The input graph is in the e-graph: every e-class of a live input node
//!    takes the earliest such node. This choice is acyclic (operands come before their
//!    users) and costs at most what the input did.
//! 3. **Local search** from the cheaper of the two: switch one class to another of its
//!    nodes whenever that lowers the cost of the whole extracted graph. The change in cost
//!    is exact and local: reference counts say which classes a switch brings to life and
//!    which it frees. A switch that would close a cycle is refused; the check walks down
//!    from the new node's operands and prunes at classes too low (by rank, which falls
//!    along every edge of the current graph) to reach the switched class.
//!
//! So extraction never returns a graph costlier than its input, and whatever the greedy
//! step or the rewrites found is kept when it pays.

use super::analysis::EG;
use super::convert;
use super::cost::enode_cost;
use super::lang::ENode;
use egg::{Id, Language};
use nabla_ir::Graph;
// Fx, not std's SipHash: the keys are e-class ids, and hashing was a tenth of B7's
// simplification time
use rustc_hash::FxHashMap as HashMap;
use std::collections::VecDeque;

/// Local-search passes over the extracted graph (each tries every class once).
const PASSES: usize = 4;

/// The cheapest graph found in `eg` for the outputs of `g`, whose nodes were added as the
/// classes `map` (one per node of `g`, as [`convert::to_egraph_mapped`] returns).
pub fn extract(eg: &EG, g: &Graph, roots: &[Id], map: &[Id]) -> Graph {
    let costs: HashMap<Id, Vec<f64>> = eg
        .classes()
        .map(|c| {
            let out = &c.data.ty.shape;
            (
                c.id,
                c.nodes.iter().map(|n| enode_cost(eg, out, n)).collect(),
            )
        })
        .collect();
    let roots: Vec<Id> = roots.iter().map(|&r| eg.find(r)).collect();
    let greedy = greedy(eg, &costs);
    let mut seeded = greedy.clone();
    seeded.extend(seed(eg, g, map));
    // The seed is acyclic whenever every live input node was found in its class, which
    // rebuilding guarantees; the input itself is the answer of last resort.
    let start = match (
        dag_cost(eg, &costs, &greedy, &roots),
        dag_cost(eg, &costs, &seeded, &roots),
    ) {
        (Some(a), Some(b)) if a < b => greedy,
        (Some(_), None) => greedy,
        (_, Some(_)) => seeded,
        (None, None) => return g.clone(),
    };
    let mut dag = Dag::new(eg, &costs, start, &roots);
    for _ in 0..PASSES {
        if !dag.improve() {
            break;
        }
    }
    let choice: HashMap<Id, ENode> = dag
        .rc
        .keys()
        .map(|&c| (c, eg[c].nodes[dag.choice[&c]].clone()))
        .collect();
    convert::from_choice(eg, &choice, g, &roots)
        .expect("internal error: local search keeps the choice acyclic")
}

/// The seed choice: for each e-class of a live node of `g`, the earliest such node.
fn seed(eg: &EG, g: &Graph, map: &[Id]) -> HashMap<Id, usize> {
    let out_ids: Vec<_> = g.outputs().iter().map(|o| o.1).collect();
    let live = g.live(&out_ids);
    let mut seed = HashMap::default();
    for id in g.ids().filter(|i| live[i.index()]) {
        let c = eg.find(map[id.index()]);
        if seed.contains_key(&c) {
            continue;
        }
        let args: Vec<Id> = g.args(id).iter().map(|a| eg.find(map[a.index()])).collect();
        let node = ENode::new(g.op(id).clone(), &args);
        if let Some(i) = eg[c].nodes.iter().position(|n| *n == node) {
            seed.insert(c, i);
        }
    }
    seed
}

/// The cost of the graph spelled out by `choice` from `roots`, or `None` when it is
/// cyclic or incomplete.
fn dag_cost(
    eg: &EG,
    costs: &HashMap<Id, Vec<f64>>,
    choice: &HashMap<Id, usize>,
    roots: &[Id],
) -> Option<f64> {
    // Iterative DFS with three colours: absent = unseen, false = on the path, true = done.
    let mut state: HashMap<Id, bool> = HashMap::default();
    let mut total = 0.0;
    for &r in roots {
        let mut stack = vec![(r, false)];
        while let Some((c, expanded)) = stack.pop() {
            if expanded {
                state.insert(c, true);
                total += costs[&c][choice[&c]];
                continue;
            }
            match state.get(&c) {
                Some(true) => continue,
                Some(false) => return None,
                None => {}
            }
            let i = *choice.get(&c)?;
            state.insert(c, false);
            stack.push((c, true));
            for &a in eg[c].nodes[i].children() {
                let a = eg.find(a);
                if state.get(&a) == Some(&false) {
                    return None;
                }
                if !state.contains_key(&a) {
                    stack.push((a, false));
                }
            }
        }
    }
    Some(total)
}

/// The extracted graph under local search: the choice, reference counts of the live
/// classes (uses by live chosen nodes, plus one per root) and their ranks.
///
/// A rank is any number above every operand's rank (the height after [`Dag::heights`]):
/// all the cycle check needs is that ranks fall along every edge. After a switch only
/// the classes it brought to life are ranked afresh; the whole graph is re-ranked only
/// when the switched class is no longer above its new operands. Re-ranking after every
/// switch took 95% of extraction on a 25,000-class e-graph (a twelfth-order derivative:
/// 2.3 s in 378 calls in one phase).
struct Dag<'a> {
    eg: &'a EG,
    costs: &'a HashMap<Id, Vec<f64>>,
    choice: HashMap<Id, usize>,
    rc: HashMap<Id, u32>,
    height: HashMap<Id, u32>,
    /// Classes brought to life since the last switch began.
    revived: Vec<Id>,
    total: f64,
}

impl<'a> Dag<'a> {
    fn new(
        eg: &'a EG,
        costs: &'a HashMap<Id, Vec<f64>>,
        choice: HashMap<Id, usize>,
        roots: &[Id],
    ) -> Dag<'a> {
        let mut dag = Dag {
            eg,
            costs,
            choice,
            rc: HashMap::default(),
            height: HashMap::default(),
            revived: Vec::new(),
            total: 0.0,
        };
        dag.inc(roots);
        dag.heights();
        dag
    }

    /// The operand classes of class `c`'s chosen node (canonical).
    fn kids(&self, c: Id, node: usize) -> Vec<Id> {
        self.eg[c].nodes[node]
            .children()
            .iter()
            .map(|&a| self.eg.find(a))
            .collect()
    }

    /// Adds one use of each class in `of`, bringing newly used classes (and what they
    /// use) to life.
    fn inc(&mut self, of: &[Id]) {
        let mut stack = of.to_vec();
        while let Some(c) = stack.pop() {
            let n = self.rc.entry(c).or_insert(0);
            *n += 1;
            if *n == 1 {
                let i = self.choice[&c];
                self.total += self.costs[&c][i];
                self.revived.push(c);
                stack.extend(self.kids(c, i));
            }
        }
    }

    /// Removes one use of each class in `of`, freeing classes no longer used.
    fn dec(&mut self, of: &[Id]) {
        let mut stack = of.to_vec();
        while let Some(c) = stack.pop() {
            let n = self.rc.get_mut(&c).expect("a live class");
            *n -= 1;
            if *n == 0 {
                self.rc.remove(&c);
                let i = self.choice[&c];
                self.total -= self.costs[&c][i];
                stack.extend(self.kids(c, i));
            }
        }
    }

    /// Heights of the live classes: 0 for leaves, one more than the highest operand.
    fn heights(&mut self) {
        self.height.clear();
        let live: Vec<Id> = self.rc.keys().copied().collect();
        self.rank(&live);
    }

    /// Ranks every class below `from` that has none, one above its highest operand
    /// (operands first).
    fn rank(&mut self, from: &[Id]) {
        for &c in from {
            let mut stack = vec![(c, false)];
            while let Some((x, expanded)) = stack.pop() {
                if self.height.contains_key(&x) {
                    continue;
                }
                let kids = self.kids(x, self.choice[&x]);
                if expanded {
                    let h = kids.iter().map(|k| self.height[k] + 1).max().unwrap_or(0);
                    self.height.insert(x, h);
                } else {
                    stack.push((x, true));
                    stack.extend(kids.into_iter().map(|k| (k, false)));
                }
            }
        }
    }

    /// Ranks after class `c` switched to a node with operands `kids`: the classes the
    /// switch brought to life are ranked from their operands (which are alive: ranked, or
    /// brought to life too; nothing alive before uses them); `c` keeps its rank if it is
    /// still above `kids`, and otherwise everything is re-ranked.
    fn rerank(&mut self, c: Id, kids: &[Id]) {
        let revived = std::mem::take(&mut self.revived);
        for r in &revived {
            self.height.remove(r);
        }
        self.rank(&revived);
        let need = kids.iter().map(|k| self.height[k] + 1).max().unwrap_or(0);
        if need > self.height[&c] {
            self.heights();
        }
    }

    /// Whether choosing a node with operands `from` for class `target` would close a
    /// cycle: `target` is reachable from `from`, or what `from` brings to life is itself
    /// cyclic (the greedy choice can be, for classes outside the extracted graph).
    fn closes_cycle(&self, from: &[Id], target: Id) -> bool {
        const OPEN: u8 = 1;
        const DONE: u8 = 2;
        let limit = self.height[&target];
        let mut state: HashMap<Id, u8> = HashMap::default();
        let mut stack: Vec<(Id, bool)> = from.iter().map(|&x| (x, false)).collect();
        while let Some((x, expanded)) = stack.pop() {
            if expanded {
                state.insert(x, DONE);
                continue;
            }
            match state.get(&x) {
                _ if x == target => return true,
                Some(&OPEN) => return true,
                Some(_) => continue,
                None => {}
            }
            // The live graph is acyclic, and a live class no higher than the target
            // cannot have it below.
            if self.height.get(&x).is_some_and(|&h| h <= limit) {
                continue;
            }
            state.insert(x, OPEN);
            stack.push((x, true));
            for k in self.kids(x, self.choice[&x]) {
                match state.get(&k) {
                    Some(&OPEN) => return true,
                    Some(_) => {}
                    None => stack.push((k, false)),
                }
            }
        }
        false
    }

    /// Points class `c` at node `to`; returns the change in total cost.
    fn switch(&mut self, c: Id, to: usize) -> f64 {
        let before = self.total;
        let from = self.choice[&c];
        let (old, new) = (self.kids(c, from), self.kids(c, to));
        self.total += self.costs[&c][to] - self.costs[&c][from];
        self.choice.insert(c, to);
        // Add before removing, so that classes both nodes use are never freed.
        self.inc(&new);
        self.dec(&old);
        self.total - before
    }

    /// One pass of local search over the live classes, lowest first; true if anything
    /// got cheaper.
    fn improve(&mut self) -> bool {
        let mut order: Vec<Id> = self.rc.keys().copied().collect();
        order.sort_by_key(|c| (self.height[c], *c));
        let mut improved = false;
        for c in order {
            if !self.rc.contains_key(&c) {
                continue;
            }
            for to in 0..self.eg[c].nodes.len() {
                if self.try_switch(c, to) {
                    improved = true;
                }
            }
        }
        improved
    }

    /// Switches class `c` to node `to` if that is acyclic and strictly cheaper.
    fn try_switch(&mut self, c: Id, to: usize) -> bool {
        let from = self.choice[&c];
        if to == from {
            return false;
        }
        let kids = self.kids(c, to);
        if kids.iter().any(|k| !self.choice.contains_key(k)) || self.closes_cycle(&kids, c) {
            return false;
        }
        self.revived.clear();
        let delta = self.switch(c, to);
        // Costs are sums of floats: only a clear gain counts, so a switch and its reverse
        // can never both be taken.
        if delta < -1e-9 * self.total.abs().max(1.0) {
            self.rerank(c, &kids);
            return true;
        }
        self.switch(c, from);
        false
    }
}

/// A class's current best: the chosen node, the classes that choosing it pays for and the
/// sum of their chosen nodes' costs.
#[derive(Clone)]
struct Best {
    node: usize,
    set: ClassSet,
    total: f64,
}

/// A set of class indices as 64-bit blocks sorted by block number. Derivative graphs share
/// heavily, so the classes a node pays for are a large, dense part of the e-graph: as
/// blocks, a union moves one word per 64 classes instead of one index per class.
#[derive(Clone, Default, Debug, PartialEq)]
struct ClassSet(Vec<(u32, u64)>);

impl ClassSet {
    /// The union of two sets.
    fn union(&self, other: &ClassSet) -> ClassSet {
        let (a, b) = (&self.0, &other.0);
        let mut out = Vec::with_capacity(a.len().max(b.len()));
        let (mut i, mut j) = (0, 0);
        while i < a.len() && j < b.len() {
            let ((x, xb), (y, yb)) = (a[i], b[j]);
            match x.cmp(&y) {
                std::cmp::Ordering::Less => out.push(a[i]),
                std::cmp::Ordering::Greater => out.push(b[j]),
                std::cmp::Ordering::Equal => out.push((x, xb | yb)),
            }
            i += usize::from(x <= y);
            j += usize::from(y <= x);
        }
        out.extend_from_slice(&a[i..]);
        out.extend_from_slice(&b[j..]);
        ClassSet(out)
    }

    /// Whether class `k` is in the set.
    fn contains(&self, k: u32) -> bool {
        let (block, bit) = (k / 64, k % 64);
        (self.0.binary_search_by_key(&block, |b| b.0)).is_ok_and(|at| self.0[at].1 >> bit & 1 == 1)
    }

    /// Adds class `k`.
    fn insert(&mut self, k: u32) {
        let (block, bit) = (k / 64, 1u64 << (k % 64));
        match self.0.binary_search_by_key(&block, |b| b.0) {
            Ok(at) => self.0[at].1 |= bit,
            Err(at) => self.0.insert(at, (block, bit)),
        }
    }

    /// The sum of `own` over the set's classes, in increasing class order.
    fn sum(&self, own: &[f64]) -> f64 {
        let mut total = 0.0;
        for &(block, mut bits) in &self.0 {
            while bits != 0 {
                let k = block as usize * 64 + bits.trailing_zeros() as usize;
                total += own[k];
                bits &= bits - 1;
            }
        }
        total
    }
}

/// The greedy step's state: each class's best so far and the cost of its chosen node, by
/// class index.
struct Greedy<'a> {
    eg: &'a EG,
    costs: &'a HashMap<Id, Vec<f64>>,
    best: HashMap<Id, Best>,
    own: Vec<f64>,
}

/// Chooses one e-node per e-class by the greedy DAG heuristic (see the module docs).
fn greedy(eg: &EG, costs: &HashMap<Id, Vec<f64>>) -> HashMap<Id, usize> {
    let parents = parent_index(eg);
    let size = eg
        .classes()
        .map(|c| usize::from(c.id) + 1)
        .max()
        .unwrap_or(0);
    let mut st = Greedy {
        eg,
        costs,
        best: HashMap::default(),
        own: vec![0.0; size],
    };
    // Start from the classes with a leaf node; every other class enters the worklist when
    // an operand class gets (or improves) its best.
    let mut queue: VecDeque<Id> = eg
        .classes()
        .filter(|c| c.nodes.iter().any(|n| n.is_leaf()))
        .map(|c| c.id)
        .collect();
    let mut queued = vec![false; size];
    for c in &queue {
        queued[usize::from(*c)] = true;
    }
    while let Some(c) = queue.pop_front() {
        queued[usize::from(c)] = false;
        if st.relax(c) {
            for &p in parents.get(&c).into_iter().flatten() {
                if !queued[usize::from(p)] {
                    queued[usize::from(p)] = true;
                    queue.push_back(p);
                }
            }
        }
    }
    st.best.iter().map(|(&c, b)| (c, b.node)).collect()
}

/// The classes that have a node using each class.
fn parent_index(eg: &EG) -> HashMap<Id, Vec<Id>> {
    let mut parents: HashMap<Id, Vec<Id>> = HashMap::default();
    for c in eg.classes() {
        for n in &c.nodes {
            for &a in n.children() {
                let v = parents.entry(eg.find(a)).or_default();
                if v.last() != Some(&c.id) {
                    v.push(c.id);
                }
            }
        }
    }
    parents
}

impl Greedy<'_> {
    /// Recomputes class `c`'s best node from its children's current bests; true if it
    /// improved.
    fn relax(&mut self, c: Id) -> bool {
        let mut improved: Option<Best> = None;
        for (i, n) in self.eg[c].nodes.iter().enumerate() {
            let bound = improved
                .as_ref()
                .or(self.best.get(&c))
                .map_or(f64::INFINITY, |b| b.total);
            if let Some(cand) = self.candidate(c, n, self.costs[&c][i], bound) {
                improved = Some(Best { node: i, ..cand });
            }
        }
        let Some(b) = improved else {
            return false;
        };
        self.own[usize::from(c)] = self.costs[&c][b.node];
        self.best.insert(c, b);
        true
    }

    /// The cost set of choosing node `n` (own cost `own`) for class `c`, if all its
    /// children have a best, none of them depends on `c` (which would make a cycle) and it
    /// costs less than `bound`.
    fn candidate(&self, c: Id, n: &ENode, own: f64, bound: f64) -> Option<Best> {
        let kids: Vec<&Best> = n
            .children()
            .iter()
            .map(|&a| self.best.get(&self.eg.find(a)))
            .collect::<Option<_>>()?;
        // The union costs at least its dearest part: most candidates stop here, unmerged.
        let lower = own + kids.iter().map(|b| b.total).fold(0.0, f64::max);
        if lower >= bound {
            return None;
        }
        let mut set = match kids.split_first() {
            None => ClassSet::default(),
            Some((first, rest)) => (rest.iter()).fold(first.set.clone(), |s, b| s.union(&b.set)),
        };
        let me = usize::from(c) as u32;
        if set.contains(me) {
            return None;
        }
        let mut total = set.sum(&self.own);
        // Every non-leaf class enters the set, even at zero cost, so that cycles are seen.
        if !n.is_leaf() {
            set.insert(me);
            total += own;
        }
        (total < bound).then_some(Best {
            node: 0,
            set,
            total,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::ClassSet;
    use std::collections::BTreeSet;

    /// A small deterministic generator (xorshift), so the test needs no crate.
    fn draws(seed: u64, n: usize, below: u32) -> Vec<u32> {
        let mut x = seed.max(1);
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x % u64::from(below)) as u32
            })
            .collect()
    }

    fn set_of(ks: &[u32]) -> ClassSet {
        let mut s = ClassSet::default();
        ks.iter().for_each(|&k| s.insert(k));
        s
    }

    #[test]
    fn class_sets_are_sets_of_indices() {
        for (seed, n, below) in [(1, 0, 10), (2, 5, 64), (3, 200, 130), (4, 3000, 5000)] {
            let (a, b) = (draws(seed, n, below), draws(seed + 100, n / 2 + 1, below));
            let (sa, sb) = (set_of(&a), set_of(&b));
            let (ra, rb): (BTreeSet<u32>, BTreeSet<u32>) =
                (a.iter().copied().collect(), b.iter().copied().collect());
            let union = sa.union(&sb);
            let expected: BTreeSet<u32> = ra.union(&rb).copied().collect();
            for k in 0..below + 70 {
                assert_eq!(sa.contains(k), ra.contains(&k), "seed {seed}, {k}");
                assert_eq!(union.contains(k), expected.contains(&k), "seed {seed}, {k}");
            }
            assert_eq!(union, sb.union(&sa));
            assert_eq!(union, set_of(&expected.iter().copied().collect::<Vec<_>>()));
            // the sum adds in increasing index order, as a sorted list of indices would
            let own: Vec<f64> = (0..below + 70).map(|k| 1.0 / f64::from(k + 3)).collect();
            let sorted: f64 = expected.iter().map(|&k| own[k as usize]).sum();
            assert_eq!(union.sum(&own).to_bits(), sorted.to_bits());
        }
    }
}
