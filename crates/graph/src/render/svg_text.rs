//! Text and numbers in the SVG: names escaped for XML (attributes and element text), a
//! box's label and its estimated width, coordinates with at most one decimal. Pure string
//! work for `svg.rs` and `svg_edge.rs`; it must not decide what is drawn or where.

use super::escape_with;
use std::fmt::Write;

/// Characters of a name shown in its box; the rest is in the title.
const MAX_LABEL_CHARS: usize = 40;
/// Space between a box's border and its text.
const PADDING: f64 = 12.0;
const MIN_WIDTH: f64 = 48.0;
pub(super) const FONT_SIZE: f64 = 12.0;

/// What a step's box shows: its name, shortened when long.
pub(super) fn label(name: &str) -> String {
    if name.chars().count() <= MAX_LABEL_CHARS {
        return name.to_string();
    }
    let mut short: String = name.chars().take(MAX_LABEL_CHARS - 1).collect();
    short.push('…');
    short
}

/// A box wide enough for `label`, estimated from its characters (no font metrics here):
/// narrow, ordinary, wide Latin and full-width characters get different widths.
pub(super) fn text_width(label: &str) -> f64 {
    let text: f64 = label
        .chars()
        .map(|ch| match ch {
            'i' | 'l' | 'j' | 't' | 'f' | 'r' | 'I' | '.' | ',' | ':' | ';' | '|' | '!' | '\''
            | ' ' => 0.32,
            'm' | 'w' | 'M' | 'W' | '@' => 0.9,
            'A'..='Z' | '_' => 0.68,
            c if c.is_ascii() => 0.56,
            c if is_wide(c) => 1.0,
            _ => 0.62,
        })
        .sum();
    (text * FONT_SIZE + 2.0 * PADDING).max(MIN_WIDTH).ceil()
}

/// East Asian wide characters and emoji, roughly: drawn about one em wide.
fn is_wide(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x115F | 0x2E80..=0xA4CF | 0xAC00..=0xD7A3 | 0xF900..=0xFAFF
        | 0xFE30..=0xFE4F | 0xFF00..=0xFF60 | 0xFFE0..=0xFFE6 | 0x1F300..=0x1FAFF | 0x20000..=0x3FFFD)
}

/// Characters XML 1.0 cannot contain, even escaped.
fn forbidden(ch: char) -> bool {
    (ch < ' ' && !matches!(ch, '\t' | '\n' | '\r')) || matches!(ch, '\u{FFFE}' | '\u{FFFF}')
}

/// `name` safe inside a double-quoted attribute, line breaks kept as character references.
pub(super) fn attr(name: &str) -> String {
    escape_with(name, |ch| match ch {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '"' => Some("&quot;"),
        '\'' => Some("&apos;"),
        '\n' => Some("&#10;"),
        '\r' => Some("&#13;"),
        '\t' => Some("&#9;"),
        c if forbidden(c) => Some("\u{FFFD}"),
        _ => None,
    })
}

/// `name` safe as element text; line breaks become spaces (a box holds one line).
pub(super) fn text(name: &str) -> String {
    escape_with(name, |ch| match ch {
        '&' => Some("&amp;"),
        '<' => Some("&lt;"),
        '>' => Some("&gt;"),
        '\n' | '\r' | '\t' => Some(" "),
        c if forbidden(c) => Some("\u{FFFD}"),
        _ => None,
    })
}

/// `x,y`.
pub(super) fn point(out: &mut String, x: f64, y: f64) {
    num(out, x);
    out.push(',');
    num(out, y);
}

/// A coordinate with at most one decimal (and no `-0`), so output is compact and stable.
pub(super) fn num(out: &mut String, v: f64) {
    let tenths = (v * 10.0).round() as i64;
    if tenths < 0 {
        out.push('-');
    }
    let t = tenths.unsigned_abs();
    let _ = write!(out, "{}", t / 10);
    match t % 10 {
        0 => {}
        tenth => {
            let _ = write!(out, ".{tenth}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{attr, label, num, text, text_width};

    #[test]
    fn names_are_escaped_for_attributes_and_text() {
        assert_eq!(
            attr("a<b>&\"c\"'\n\u{1}"),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;&#10;\u{FFFD}"
        );
        assert_eq!(text("a<b>&\"\nc\u{1b}"), "a&lt;b&gt;&amp;\" c\u{FFFD}");
    }

    #[test]
    fn long_names_are_shortened_and_widths_grow_with_text() {
        let long = "x".repeat(100);
        assert_eq!(label(&long).chars().count(), 40);
        assert!(label(&long).ends_with('…'));
        assert!(text_width("a_much_longer_step_name") > text_width("short"));
        assert!(text_width("注文を処理する") > text_width("abcdefg"));
    }

    #[test]
    fn numbers_have_at_most_one_decimal() {
        let mut out = String::new();
        for v in [0.0, -0.01, 12.34, -3.25, 100.0] {
            num(&mut out, v);
            out.push(' ');
        }
        assert_eq!(out, "0 0 12.3 -3.3 100 ");
    }
}
