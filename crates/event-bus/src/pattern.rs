//! Subscription patterns: `*` (everything), `prefix.*` (a family), or an exact name; a
//! subscriber may hold several.

/// A compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    All,
    /// `step.*` is stored as `step.`.
    Prefix(String),
    Exact(String),
    /// Any of several patterns.
    Any(Vec<Pattern>),
}

impl Pattern {
    /// Parses a pattern; only a trailing `*` is a wildcard.
    pub fn parse(text: &str) -> Result<Pattern, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("an event pattern must not be empty".to_string());
        }
        if text == "*" {
            return Ok(Pattern::All);
        }
        match text.find('*') {
            None => Ok(Pattern::Exact(text.to_string())),
            Some(i) if i == text.len() - 1 => Ok(Pattern::Prefix(text[..i].to_string())),
            Some(_) => Err(format!(
                "event pattern {text:?}: only a trailing * is supported (e.g. \"step.*\")"
            )),
        }
    }

    /// Parses several patterns into one that matches what any of them matches.
    pub fn parse_all<S: AsRef<str>>(texts: &[S]) -> Result<Pattern, String> {
        let mut parsed = texts
            .iter()
            .map(|t| Pattern::parse(t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        match parsed.len() {
            0 => Err("a subscriber needs at least one event pattern".to_string()),
            1 => Ok(parsed.pop().expect("one")),
            _ if parsed.contains(&Pattern::All) => Ok(Pattern::All),
            _ => Ok(Pattern::Any(parsed)),
        }
    }

    /// Whether a custom event (any name that is not a lifecycle event's) could match.
    pub fn may_match_custom(&self) -> bool {
        match self {
            Pattern::All | Pattern::Prefix(_) => true,
            Pattern::Exact(e) => !crate::event::LifecycleEvent::ALL
                .iter()
                .any(|l| l.as_str() == e),
            Pattern::Any(all) => all.iter().any(Pattern::may_match_custom),
        }
    }

    /// Whether `name` matches.
    #[inline]
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Pattern::All => true,
            Pattern::Prefix(p) => name.starts_with(p.as_str()),
            Pattern::Exact(e) => name == e,
            Pattern::Any(all) => all.iter().any(|p| p.matches(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_as_documented() {
        let all = Pattern::parse("*").unwrap();
        let steps = Pattern::parse("step.*").unwrap();
        let done = Pattern::parse("task.completed").unwrap();
        assert!(all.matches("task.failed"));
        assert!(steps.matches("step.completed") && !steps.matches("task.completed"));
        assert!(done.matches("task.completed") && !done.matches("task.completed_x"));
        assert!(Pattern::parse("st*ep").is_err());
        assert!(Pattern::parse("").is_err());
        let some = Pattern::parse_all(&["task.completed", "step.*"]).unwrap();
        assert!(some.matches("task.completed") && some.matches("step.failed"));
        assert!(!some.matches("task.failed"));
        assert_eq!(Pattern::parse_all(&["step.*", "*"]).unwrap(), Pattern::All);
        assert!(Pattern::parse_all::<&str>(&[]).is_err());
        assert!(Pattern::parse_all(&["ok", "b*d"]).is_err());
    }
}
