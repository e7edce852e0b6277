//! The shared fuzz harness (`galley_e2e::fuzz`), plus the README's YAML documents as seeds.

pub use galley_e2e::fuzz::*;

/// The YAML documents of README.md: fenced ```yaml blocks and `<<'END'` heredocs.
pub fn readme_yaml() -> Vec<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
    let readme = std::fs::read_to_string(path).expect("README.md");
    let mut out = Vec::new();
    let mut current: Option<(String, &str)> = None;
    for line in readme.lines() {
        match &mut current {
            Some((text, end)) if line.trim() == *end => {
                out.push(std::mem::take(text));
                current = None;
            }
            Some((text, _)) => {
                text.push_str(line);
                text.push('\n');
            }
            None if line.trim_start().starts_with("```yaml") => {
                current = Some((String::new(), "```"))
            }
            None if line.ends_with("<<'END'") => current = Some((String::new(), "END")),
            None => {}
        }
    }
    out
}
