//! Finds and loads every template file under a path, all or nothing.
//!
//! Owns the directory walk and the duplicate-key check across files; it must not parse a
//! file itself (that is `parse`) nor register anything: callers decide what to do with the
//! list.

use super::TaskTemplate;
use crate::error::{TaskerError, TaskerResult};
use std::path::{Path, PathBuf};

/// Loads every template under `path`: the file itself, or each `*.yml` / `*.yaml` file in
/// the directory tree, in path order. Fails on the first bad file, or when two files declare
/// the same (namespace, name, version), so a caller registers all or nothing.
pub fn load_templates(path: &Path) -> TaskerResult<Vec<TaskTemplate>> {
    let source = path.display().to_string();
    let meta = std::fs::metadata(path)
        .map_err(|e| TaskerError::validation(&source, format!("cannot read: {e}")))?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        collect_yaml_files(path, &mut files)?;
        files.sort();
        if files.is_empty() {
            return Err(TaskerError::validation(
                &source,
                "no *.yml or *.yaml template files in this directory",
            ));
        }
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut templates: Vec<TaskTemplate> = Vec::with_capacity(files.len());
    for file in files {
        let t = TaskTemplate::from_file(&file)?;
        if let Some(prev) = templates.iter().find(|p| p.key() == t.key()) {
            return Err(TaskerError::validation(
                &t.source,
                format!("template {} is also defined in {}", t.key(), prev.source),
            ));
        }
        templates.push(t);
    }
    Ok(templates)
}

fn collect_yaml_files(dir: &Path, out: &mut Vec<PathBuf>) -> TaskerResult<()> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        TaskerError::validation(dir.display().to_string(), format!("cannot read: {e}"))
    })?;
    for entry in entries {
        let path = entry
            .map_err(|e| TaskerError::validation(dir.display().to_string(), e.to_string()))?
            .path();
        if path.is_dir() {
            collect_yaml_files(&path, out)?;
        } else if matches!(
            path.extension().and_then(|e| e.to_str()),
            Some("yml") | Some("yaml")
        ) {
            out.push(path);
        }
    }
    Ok(())
}
