//! A file test cut into its parts: the `test` header, the `; set` lines, the IR text and
//! the expectation block.

use crate::targets::Target;
use nabla_ir::interp::Env;
use nabla_ir::{Graph, Op, Tensor};

/// The line that starts the expectation block.
pub const MARKER: &str = "; expect:";

/// What a file tests: the first word after `test`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The graph printed back by the text format, or the parse error.
    Parse,
    /// The verifier's and the checked parser's verdicts on the text as written.
    VerifyError,
    /// Output values, from the interpreter and checked on each listed target.
    Run,
    /// The graph after derivative expansion (`passes::ad`), printed.
    Ad,
    /// The graph after the egg simplifier, printed, with values checked before/after.
    Simplify,
    /// The schedule (`passes::schedule`) as it displays.
    Schedule,
}

impl Kind {
    /// Every kind, in pipeline order.
    pub const ALL: [Kind; 6] = [
        Kind::Parse,
        Kind::VerifyError,
        Kind::Run,
        Kind::Ad,
        Kind::Simplify,
        Kind::Schedule,
    ];

    /// The word after `test` in a header.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Parse => "parse",
            Kind::VerifyError => "verify-error",
            Kind::Run => "run",
            Kind::Ad => "ad",
            Kind::Simplify => "simplify",
            Kind::Schedule => "schedule",
        }
    }

    fn parse(word: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.name() == word)
    }
}

/// The first line of a file: `test <kind> [target ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    /// What the file tests.
    pub kind: Kind,
    /// Where a `run` file runs; `test run` alone means `test run interp`. Empty for the
    /// other kinds, which take no targets.
    pub targets: Vec<Target>,
}

impl Header {
    /// Parses the header line.
    pub fn parse(line: &str) -> Result<Header, String> {
        let mut words = line
            .strip_prefix("test ")
            .ok_or("the first line must be `test <kind> [target ...]`")?
            .split_whitespace();
        let word = words.next().unwrap_or("");
        let kind = Kind::parse(word).ok_or_else(|| format!("unknown test kind `{word}`"))?;
        let mut targets = Vec::new();
        for w in words {
            let t = Target::parse(w).ok_or_else(|| format!("unknown target `{w}`"))?;
            if kind != Kind::Run {
                return Err(format!("`test {}` takes no targets", kind.name()));
            }
            if targets.contains(&t) {
                return Err(format!("target `{w}` listed twice"));
            }
            targets.push(t);
        }
        if kind == Kind::Run && targets.is_empty() {
            targets.push(Target::Interp);
        }
        Ok(Header { kind, targets })
    }
}

/// One `.ir` file test.
#[derive(Clone, Debug)]
pub struct TestFile {
    /// The first line, parsed.
    pub header: Header,
    /// Everything before the expectation block, with the header line blanked so that line
    /// numbers in messages stay the file's.
    pub input: String,
    /// The text before the marker, verbatim (kept when blessing).
    head: String,
    /// The expected output lines, `; ` removed.
    pub expected: Vec<String>,
}

impl TestFile {
    /// Cuts `src` into its parts.
    pub fn parse(src: &str) -> Result<TestFile, String> {
        let first = src.lines().next().unwrap_or("");
        let header = Header::parse(first.trim_end())?;
        let cut = marker_offset(src).unwrap_or(src.len());
        let head = src[..cut].to_string();
        let input = head[first.len()..].to_string();
        // Blank lines at the end are not output: an empty output line is written `;`.
        let block = src[cut..].trim_end();
        let expected = block.lines().skip(1).map(uncomment).collect();
        Ok(TestFile {
            header,
            input,
            head,
            expected,
        })
    }

    /// The file with its expectation block replaced by `actual`.
    pub fn blessed(&self, actual: &[String]) -> String {
        let mut out = self.head.clone();
        if !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(MARKER);
        out.push('\n');
        for l in actual {
            out.push_str(if l.is_empty() { ";" } else { "; " });
            out.push_str(l);
            out.push('\n');
        }
        out
    }

    /// The `; set KEY = VALUE` lines of the input, in order.
    pub fn sets(&self) -> impl Iterator<Item = (&str, &str)> {
        self.input.lines().filter_map(|l| {
            let (k, v) = l.strip_prefix("; set ")?.split_once('=')?;
            Some((k.trim(), v.trim()))
        })
    }

    /// The value of the option `; set KEY = VALUE`.
    pub fn setting(&self, key: &str) -> Option<&str> {
        self.options().find(|(k, _)| *k == key).map(|(_, v)| v)
    }

    /// The option `; set KEY = VALUE` parsed as a `T`, or `default` when the file does
    /// not set it.
    pub fn option<T: std::str::FromStr>(&self, key: &str, default: T) -> Result<T, String> {
        match self.setting(key) {
            None => Ok(default),
            Some(v) => v
                .parse()
                .map_err(|_| format!("bad value `{v}` for `set {key}`")),
        }
    }

    /// Options (`set` lines whose value is not a list), checked against the keys this
    /// kind understands so that a misspelt option is an error, not silently ignored.
    pub fn check_options(&self, known: &[&str]) -> Result<(), String> {
        match self.options().find(|(k, _)| !known.contains(k)) {
            Some((k, _)) => Err(format!(
                "unknown option `set {k}` for `test {}` (known: {})",
                self.header.kind.name(),
                known.join(", ")
            )),
            None => Ok(()),
        }
    }

    fn options(&self) -> impl Iterator<Item = (&str, &str)> {
        self.sets().filter(|(_, v)| !v.starts_with('['))
    }

    /// Whether the file binds any leaf with `; set NAME = [...]`.
    pub fn has_bindings(&self) -> bool {
        self.sets().any(|(_, v)| v.starts_with('['))
    }

    /// Tensors for the `input` and `param` leaves bound by `; set NAME = [v, ...]`, shaped
    /// as the leaf of that name is in `g`, values row-major.
    pub fn bindings(&self, g: &Graph) -> Result<Env, String> {
        let mut env = Env::new();
        for (name, value) in self.sets().filter(|(_, v)| v.starts_with('[')) {
            let shape = leaf_shape(g, name)
                .ok_or(format!("`set {name}`: no input or param of that name"))?;
            let data = crate::values::parse_list(value)?;
            let t = Tensor::try_new(shape.clone(), data)
                .ok_or(format!("`set {name}`: wrong number of values for {shape}"))?;
            env.insert(name.to_string(), t);
        }
        Ok(env)
    }
}

fn leaf_shape<'g>(g: &'g Graph, name: &str) -> Option<&'g nabla_ir::Shape> {
    g.ids().find_map(|i| match g.op(i) {
        Op::Input { name: n, shape, .. } | Op::Param { name: n, shape, .. } if n == name => {
            Some(shape)
        }
        _ => None,
    })
}

/// An expectation line without its comment prefix.
fn uncomment(l: &str) -> String {
    l.strip_prefix("; ")
        .unwrap_or(l.trim_start_matches(';'))
        .to_string()
}

/// The byte offset of the first line that is the marker (trailing spaces allowed).
fn marker_offset(src: &str) -> Option<usize> {
    let mut offset = 0;
    for line in src.split_inclusive('\n') {
        if line.trim_end() == MARKER {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_name_a_kind_and_run_targets() {
        let h = Header::parse("test run interp cpu opencl").unwrap();
        assert_eq!(h.kind, Kind::Run);
        assert_eq!(h.targets, [Target::Interp, Target::Cpu, Target::OpenCl]);
        assert_eq!(Header::parse("test run").unwrap().targets, [Target::Interp]);
        assert_eq!(Header::parse("test ad").unwrap().kind, Kind::Ad);
        let err = |l| Header::parse(l).unwrap_err();
        assert_eq!(err("test ad cpu"), "`test ad` takes no targets");
        assert_eq!(err("test run gpu"), "unknown target `gpu`");
        assert_eq!(err("test run cpu cpu"), "target `cpu` listed twice");
        assert_eq!(err("test frobnicate"), "unknown test kind `frobnicate`");
        assert!(err("; test run").starts_with("the first line"));
    }

    #[test]
    fn files_split_at_the_marker_and_bless_in_place() {
        let src = "test run\n; set x = [1.0]\n; set tolerance = 0\n%0 = input \"x\" : f64[1]\n; expect:\n; run: x = [1.0]\n;\n";
        let f = TestFile::parse(src).unwrap();
        assert_eq!(f.expected, ["run: x = [1.0]", ""]);
        assert!(f.input.starts_with('\n'), "the header line is blanked");
        assert_eq!(f.setting("tolerance"), Some("0"));
        assert_eq!(f.setting("x"), None, "bindings are not options");
        assert!(f.has_bindings());
        assert!(f.check_options(&["precision"]).is_err());
        let out = f.blessed(&["run: x = [1.0]".into(), String::new()]);
        assert_eq!(out, src);
        let padded = TestFile::parse(&(src.to_string() + "\n\n")).unwrap();
        assert_eq!(
            padded.expected, f.expected,
            "trailing blank lines are not output"
        );
    }
}
