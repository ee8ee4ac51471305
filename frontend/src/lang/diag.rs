//! Diagnostics: an error with its place in the source, rendered as
//!
//! ```text
//! error: unknown name `sinn`
//!  --> poisson.nabla:9:9
//!   |
//! 9 | let f = sinn(x)
//!   |         ^^^^ did you mean `sin`?
//! ```

use std::fmt::Write;

/// A byte range of the source.
///
/// Spans never take part in equality: two syntax trees are equal when they say the same
/// thing, wherever it is written (the pretty-printer round trip relies on this).
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl PartialEq for Span {
    fn eq(&self, _: &Span) -> bool {
        true
    }
}

impl Span {
    /// The bytes `start..end`.
    pub fn new(start: usize, end: usize) -> Span {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
}

/// How serious a diagnostic is.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Severity {
    /// The file cannot be used.
    #[default]
    Error,
    /// The file can be used, but probably does not say what was meant (a point set that no
    /// residual uses is sampled for nothing).
    Warning,
}

impl Severity {
    /// The word that starts a rendered diagnostic.
    pub fn label(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// One error (or warning) in a source text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// Where.
    pub span: Span,
    /// What is wrong (the headline).
    pub message: String,
    /// A note under the caret: what was expected, or a suggestion.
    pub note: Option<String>,
    /// The undeclared name this error is about, if it is about one: errors about a name
    /// whose declaration failed to parse are left out, as consequences of that error.
    pub about: Option<String>,
}

impl Diagnostic {
    /// An error at `span`.
    pub fn new(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Error,
            span,
            message: message.into(),
            note: None,
            about: None,
        }
    }

    /// A warning at `span`.
    pub fn warning(span: Span, message: impl Into<String>) -> Diagnostic {
        Diagnostic {
            severity: Severity::Warning,
            ..Diagnostic::new(span, message)
        }
    }

    /// The same error, marked as being about the undeclared name `name`.
    pub fn about(mut self, name: &str) -> Diagnostic {
        self.about = Some(name.into());
        self
    }

    /// The same error with a note under the caret.
    pub fn note(mut self, note: impl Into<String>) -> Diagnostic {
        self.note = Some(note.into());
        self
    }
}

/// All the errors of one source text, with what is needed to show them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.render())]
pub struct Diagnostics {
    /// The file name shown in locations.
    pub file: String,
    /// The source text.
    pub src: String,
    /// The errors, in source order.
    pub errors: Vec<Diagnostic>,
}

impl Diagnostics {
    /// Collects `errors` of `src` (sorted by position).
    pub fn new(file: &str, src: &str, mut errors: Vec<Diagnostic>) -> Diagnostics {
        errors.sort_by_key(|d| (d.span.start, d.span.end));
        errors.dedup_by(|a, b| a.span.start == b.span.start && a.message == b.message);
        Diagnostics {
            file: file.into(),
            src: src.into(),
            errors,
        }
    }

    /// Every error rendered with its location, source line and caret, then a count.
    pub fn render(&self) -> String {
        format!("{}{}", self.render_errors(), self.summary())
    }

    /// Every diagnostic rendered with its severity, location, source line and caret.
    pub fn render_errors(&self) -> String {
        let mut out = String::new();
        for d in &self.errors {
            render_one(&mut out, &self.file, &self.src, d);
        }
        out
    }

    /// `N errors in FILE`.
    pub fn summary(&self) -> String {
        let n = self.errors.len();
        let s = if n == 1 { "" } else { "s" };
        format!("{n} error{s} in {}", self.file)
    }
}

/// Line (1-based), column (1-based, in characters) and the line's byte range.
pub fn line_col(src: &str, pos: usize) -> (usize, usize, usize, usize) {
    let pos = pos.min(src.len());
    let start = src[..pos].rfind('\n').map_or(0, |i| i + 1);
    let end = src[pos..].find('\n').map_or(src.len(), |i| pos + i);
    let line = src[..start].matches('\n').count() + 1;
    let col = src[start..pos].chars().count() + 1;
    (line, col, start, end)
}

fn render_one(out: &mut String, file: &str, src: &str, d: &Diagnostic) {
    let (line, col, ls, le) = line_col(src, d.span.start);
    let text = src[ls..le].trim_end_matches('\r');
    let gutter = line.to_string().len();
    let pad = " ".repeat(gutter);
    let caret_at = col - 1;
    // as many carets as the span takes columns on a terminal: two under a wide character
    let spanned = &src[d.span.start.min(le)..d.span.end.clamp(d.span.start.min(le), le)];
    let width = spanned.chars().map(columns).sum::<usize>().max(1);
    let _ = writeln!(out, "{}: {}", d.severity.label(), d.message);
    let _ = writeln!(out, "{pad}--> {file}:{line}:{col}");
    let _ = writeln!(out, "{pad} |");
    // control characters shown as U+FFFD, tabs kept, so that the caret line (a tab under
    // each tab) stays aligned with the text in any terminal
    let shown: String = (text.chars())
        .map(|c| match c.is_control() && c != '\t' {
            true => '\u{fffd}',
            false => c,
        })
        .collect();
    let _ = writeln!(out, "{line} | {shown}");
    let lead: String = (text.chars().take(caret_at))
        .map(|c| match c {
            '\t' => "\t".to_string(),
            c => " ".repeat(columns(c)),
        })
        .collect();
    let carets = format!("{lead}{}", "^".repeat(width));
    match &d.note {
        Some(n) => writeln!(out, "{pad} | {carets} {n}"),
        None => writeln!(out, "{pad} | {carets}"),
    }
    .ok();
    out.push('\n');
}

/// The columns character `c` takes on a terminal as the source line shows it: two for a
/// wide one (CJK, most emoji), none for a combining mark, one otherwise (a control
/// character is shown as U+FFFD, one column).
fn columns(c: char) -> usize {
    match c.is_control() {
        true => 1,
        false => unicode_width::UnicodeWidthChar::width(c).unwrap_or(1),
    }
}

/// Levenshtein distance between two names.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, &cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// The candidate nearest to `name`, when it is close enough to be a plausible misspelling:
/// one edit for names of 2 to 4 characters, two for longer ones, none for one-letter names
/// (any other letter would be as near).
pub fn nearest<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    let limit = match name.chars().count() {
        0 | 1 => return None,
        2..=4 => 1,
        _ => 2,
    };
    candidates
        .into_iter()
        .filter(|c| *c != name)
        .map(|c| (edit_distance(name, c), c))
        .filter(|(d, _)| *d <= limit)
        .min_by_key(|(d, c)| (*d, *c))
        .map(|(_, c)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("sinn", "sin"), 1);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(nearest("lapp", ["lap", "log"]), Some("lap"));
        assert_eq!(nearest("q", ["x", "yy"]), None);
        assert_eq!(nearest("widht", ["widths", "act"]), Some("widths"));
        assert_eq!(nearest("zzzz", ["x", "yy"]), None);
    }

    #[test]
    fn warnings_render_as_warnings() {
        let src = "points extra = interior(8)\n";
        let d = Diagnostic::warning(Span::new(7, 12), "point set `extra` is not used");
        let r = Diagnostics::new("p.nabla", src, vec![d]).render_errors();
        assert!(
            r.starts_with("warning: point set `extra` is not used\n"),
            "{r}"
        );
        assert!(
            r.contains("1 | points extra = interior(8)\n  |        ^^^^^\n"),
            "{r}"
        );
    }

    #[test]
    fn renders_line_and_caret() {
        let src = "input x in [0, 1]\nlet f = sinn(x)\n";
        let d =
            Diagnostic::new(Span::new(26, 30), "unknown name `sinn`").note("did you mean `sin`?");
        let r = Diagnostics::new("p.nabla", src, vec![d]).render();
        assert!(r.contains("--> p.nabla:2:9"), "{r}");
        assert!(
            r.contains("2 | let f = sinn(x)\n  |         ^^^^ did you mean `sin`?"),
            "{r}"
        );
    }

    /// A wide character (two terminal columns) before the span moves the caret two
    /// columns, and one inside it takes two carets: the carets stay under the text.
    #[test]
    fn carets_stay_under_wide_characters() {
        let src = "let 温 = sinn(x)\n";
        let sinn = src.find("sinn").unwrap();
        let d = Diagnostic::new(Span::new(sinn, sinn + 4), "unknown name `sinn`");
        let r = Diagnostics::new("p.nabla", src, vec![d]).render();
        assert!(r.contains("--> p.nabla:1:9"), "{r}");
        assert!(
            r.contains("1 | let 温 = sinn(x)\n  |          ^^^^\n"),
            "{r}"
        );
        let d = Diagnostic::new(Span::new(4, 7), "unexpected character `温`");
        let r = Diagnostics::new("p.nabla", src, vec![d]).render();
        assert!(r.contains("1 | let 温 = sinn(x)\n  |     ^^\n"), "{r}");
    }
}
