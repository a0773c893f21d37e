//! Errors that name the file, line and key.

use std::{fmt, ops::Range, path::Path};

/// A scenario that cannot be used, with where and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScenarioError {
    #[error("{file}: cannot read: {message}")]
    Read { file: String, message: String },
    #[error("{0}")]
    Invalid(Located),
}

/// A problem at a place in a scenario file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Located {
    pub file: String,
    /// 1-based; 0 when the problem has no place in the file (a missing table).
    pub line: usize,
    pub column: usize,
    /// The key, as a dotted path where known (`phases[2].users`).
    pub key: String,
    pub message: String,
}

impl fmt::Display for Located {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line > 0 {
            write!(f, "{}:{}:{}: ", self.file, self.line, self.column)?;
        } else {
            write!(f, "{}: ", self.file)?;
        }
        if !self.key.is_empty() {
            write!(f, "key `{}`: ", self.key)?;
        }
        f.write_str(&self.message)
    }
}

impl ScenarioError {
    /// The located problem, when it is one.
    pub fn located(&self) -> Option<&Located> {
        match self {
            ScenarioError::Invalid(l) => Some(l),
            ScenarioError::Read { .. } => None,
        }
    }
}

/// Where in a source text problems are reported.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Source<'a> {
    pub(crate) file: &'a str,
    pub(crate) text: &'a str,
}

impl<'a> Source<'a> {
    pub(crate) fn new(file: &'a Path, text: &'a str) -> Source<'a> {
        let file = file.to_str().unwrap_or("<scenario>");
        Source { file, text }
    }

    /// 1-based line and column of a byte offset.
    pub(crate) fn line_col(&self, offset: usize) -> (usize, usize) {
        let offset = offset.min(self.text.len());
        let before = self.text.get(..offset).unwrap_or(self.text);
        let line = before.matches('\n').count() + 1;
        let column = before.rfind('\n').map_or(offset, |nl| offset - nl - 1) + 1;
        (line, column)
    }

    /// A problem at `span` about `key`.
    pub(crate) fn at(&self, span: Range<usize>, key: &str, message: String) -> ScenarioError {
        let (line, column) = if span == (0..0) {
            (0, 0)
        } else {
            self.line_col(span.start)
        };
        ScenarioError::Invalid(Located {
            file: self.file.to_owned(),
            line,
            column,
            key: key.to_owned(),
            message,
        })
    }

    /// A TOML syntax or type error, with the key read from the source at its span.
    pub(crate) fn toml_error(&self, e: &toml::de::Error) -> ScenarioError {
        let span = e.span().unwrap_or(0..0);
        let key = self.key_at(span.clone());
        let (line, column) = self.line_col(span.start);
        let mut message = e.message().trim().to_owned();
        if message.is_empty() {
            // the toml crate says nothing about some bad bytes (a NUL in a comment)
            message = match self.text.get(span.start..).and_then(|t| t.chars().next()) {
                Some(c) if c.is_control() => {
                    format!("invalid character {c:?}: control characters are not allowed here")
                }
                Some(c) => format!("unexpected character {c:?}"),
                None => "unexpected end of file".to_owned(),
            };
        }
        ScenarioError::Invalid(Located {
            file: self.file.to_owned(),
            line,
            column,
            key,
            message,
        })
    }

    /// The key a span points at or into: the span itself when it covers a key,
    /// else the key before `=` on its line, else a `[table]` header.
    fn key_at(&self, span: Range<usize>) -> String {
        let text = self.text;
        let start = span.start.min(text.len());
        let line_start = text
            .get(..start)
            .and_then(|b| b.rfind('\n'))
            .map_or(0, |i| i + 1);
        let line_end = text
            .get(start..)
            .and_then(|a| a.find('\n'))
            .map_or(text.len(), |i| start + i);
        let line = text.get(line_start..line_end).unwrap_or("").trim();
        if line.starts_with('[') {
            return line
                .trim_matches(|c| c == '[' || c == ']')
                .trim()
                .to_owned();
        }
        let spanned = text.get(span.clone()).unwrap_or("").trim();
        match line.split_once('=') {
            Some((key, _)) if start < line_start + line.len() => {
                let key = key.trim();
                // the span may cover an inner key of an inline table
                let is_key = !spanned.is_empty()
                    && !spanned.contains(['=', '{', '[', '"', '\n'])
                    && spanned != key;
                if is_key && span.start > line_start + key.len() {
                    format!("{key}.{spanned}")
                } else {
                    key.to_owned()
                }
            }
            _ => spanned.lines().next().unwrap_or("").to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::Scenario;

    /// Found by the `scenario_toml` fuzz target: toml's own message for a NUL
    /// in a comment is empty, which left the error with no reason.
    #[test]
    fn a_control_character_in_a_comment_is_named() {
        let text = "# a comment\n# with a NUL \0 in it\nname = \"x\"\n";
        let err = Scenario::parse(text, Path::new("nul.toml"))
            .err()
            .and_then(|e| e.located().cloned());
        let located = err.expect("a NUL byte is invalid TOML");
        assert_eq!(located.line, 2, "{located}");
        assert!(located.message.contains("control character"), "{located}");
    }
}
