//! Tidiness as a test: every source file opens with a `//!` paragraph
//! saying what it holds, and none grows past 800 lines without a reason.

use std::path::{Path, PathBuf};

const LINES_MAX: usize = 800;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_source_file_says_what_it_holds_and_stays_small() {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    for krate in std::fs::read_dir(crates).unwrap() {
        let src = krate.unwrap().path().join("src");
        if src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 30, "found only {} files under {}", files.len(), crates.display());
    let mut problems = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        if !text.starts_with("//!") {
            problems.push(format!("{}: no //! doc at the top", f.display()));
        }
        let lines = text.lines().count();
        if lines > LINES_MAX {
            problems.push(format!("{}: {lines} lines (more than {LINES_MAX})", f.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
