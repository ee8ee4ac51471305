//! Tokens of the problem language, each with its byte span.
//!
//! Newlines are tokens (one statement per line); `#` starts a comment that runs to the end
//! of the line. A character that starts no token is reported and skipped, so lexing always
//! produces a token list and every error of a file can be reported in one run.

use super::diag::{Diagnostic, Span};

/// What a token is.
#[derive(Clone, Debug, PartialEq)]
pub enum Tok {
    /// A name `[A-Za-z_][A-Za-z0-9_]*` (keywords are names too; the parser decides).
    Name(String),
    /// A non-negative number literal.
    Num(f64),
    /// `+`
    Plus,
    /// `-`
    Minus,
    /// `*`
    Star,
    /// `/`
    Slash,
    /// `^`
    Caret,
    /// `(`
    LParen,
    /// `)`
    RParen,
    /// `[`
    LBracket,
    /// `]`
    RBracket,
    /// `,`
    Comma,
    /// `;`
    Semi,
    /// `=`
    Eq,
    /// `->`
    Arrow,
    /// `&` (intersection of shapes)
    Amp,
    /// End of a line.
    Newline,
    /// End of the file.
    Eof,
}

impl Tok {
    /// How the token is described in "expected ..., found ..." messages.
    pub fn describe(&self) -> String {
        match self {
            Tok::Name(n) => format!("`{n}`"),
            Tok::Num(v) => format!("number `{v}`"),
            Tok::Newline => "end of line".into(),
            Tok::Eof => "end of file".into(),
            t => format!("`{}`", t.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Caret => "^",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::LBracket => "[",
            Tok::RBracket => "]",
            Tok::Comma => ",",
            Tok::Semi => ";",
            Tok::Eq => "=",
            Tok::Arrow => "->",
            Tok::Amp => "&",
            Tok::Name(_) | Tok::Num(_) | Tok::Newline | Tok::Eof => "",
        }
    }
}

/// A token and where it is.
#[derive(Clone, Debug, PartialEq)]
pub struct Token {
    /// The token.
    pub tok: Tok,
    /// Its bytes in the source.
    pub span: Span,
}

/// Splits `src` into tokens (ending with [`Tok::Eof`]) and the errors met on the way.
pub fn lex(src: &str) -> (Vec<Token>, Vec<Diagnostic>) {
    let mut lx = Lexer {
        src,
        pos: 0,
        toks: Vec::new(),
        errors: Vec::new(),
    };
    while let Some(c) = lx.peek() {
        lx.step(c);
    }
    lx.push(Tok::Eof, src.len());
    (lx.toks, lx.errors)
}

struct Lexer<'s> {
    src: &'s str,
    pos: usize,
    toks: Vec<Token>,
    errors: Vec<Diagnostic>,
}

impl Lexer<'_> {
    fn peek(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    fn push(&mut self, tok: Tok, start: usize) {
        let span = Span::new(start, self.pos);
        self.toks.push(Token { tok, span });
    }

    fn step(&mut self, c: char) {
        let start = self.pos;
        match c {
            '\n' => {
                self.pos += 1;
                self.push(Tok::Newline, start);
            }
            '#' => self.skip_while(|c| c != '\n'),
            c if c.is_whitespace() => self.pos += c.len_utf8(),
            c if c.is_ascii_alphabetic() || c == '_' => self.name(),
            c if c.is_ascii_digit() || c == '.' => self.number(),
            '-' if self.src[start..].starts_with("->") => {
                self.pos += 2;
                self.push(Tok::Arrow, start);
            }
            c => self.symbol(c),
        }
    }

    fn skip_while(&mut self, f: impl Fn(char) -> bool) {
        while let Some(c) = self.peek().filter(|&c| f(c)) {
            self.pos += c.len_utf8();
        }
    }

    fn name(&mut self) {
        let start = self.pos;
        self.skip_while(|c| c.is_ascii_alphanumeric() || c == '_');
        let name = self.src[start..self.pos].to_string();
        self.push(Tok::Name(name), start);
    }

    /// `digits [. digits] [(e|E) [+|-] digits]`, or `. digits ...`.
    fn number(&mut self) {
        let start = self.pos;
        self.skip_while(|c| c.is_ascii_digit());
        if self.peek() == Some('.') {
            self.pos += 1;
            self.skip_while(|c| c.is_ascii_digit());
        }
        self.exponent();
        let text = &self.src[start..self.pos];
        // A bad number is reported and read as 0 so that the rest of the line still parses.
        match text.parse::<f64>() {
            Ok(v) if v.is_finite() => return self.push(Tok::Num(v), start),
            Ok(_) => self.error(start, format!("number `{text}` is too large")),
            Err(_) => self.error(start, format!("`{text}` is not a number")),
        }
        self.push(Tok::Num(0.0), start);
    }

    fn exponent(&mut self) {
        let rest = &self.src.as_bytes()[self.pos..];
        let sign = matches!(rest.get(1), Some(b'+' | b'-')) as usize;
        let has_exp = matches!(rest.first(), Some(b'e' | b'E'))
            && rest.get(1 + sign).is_some_and(|c| c.is_ascii_digit());
        if has_exp {
            self.pos += 1 + sign;
            self.skip_while(|c| c.is_ascii_digit());
        }
    }

    fn symbol(&mut self, c: char) {
        let start = self.pos;
        self.pos += c.len_utf8();
        let tok = match c {
            '+' => Tok::Plus,
            '&' => Tok::Amp,
            '-' => Tok::Minus,
            '*' => Tok::Star,
            '/' => Tok::Slash,
            '^' => Tok::Caret,
            '(' => Tok::LParen,
            ')' => Tok::RParen,
            '[' => Tok::LBracket,
            ']' => Tok::RBracket,
            ',' => Tok::Comma,
            ';' => Tok::Semi,
            '=' => Tok::Eq,
            _ => {
                return self.error(
                    start,
                    format!("unexpected character `{}`", c.escape_debug()),
                )
            }
        };
        self.push(tok, start);
    }

    fn error(&mut self, start: usize, msg: String) {
        let span = Span::new(start, self.pos);
        self.errors.push(Diagnostic::new(span, msg));
    }
}
