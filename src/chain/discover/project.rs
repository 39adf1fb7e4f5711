//! Which tool runs a `{version}_{name}.up.sql` folder: golang-migrate and sqlx share the names
//! but not the semantics, so the project around the folder decides (walking up from the folder,
//! the nearest manifest that names one of the tools wins).

use std::path::{Path, PathBuf};

use crate::chain::Format;

/// The tool a manifest names, and a sentence saying where that was read.
pub(super) struct Evidence {
    pub format: Format,
    pub reason: String,
}

/// Walk up from `root` to the filesystem root and return the first manifest that names sqlx
/// (`Cargo.toml` depending on sqlx with its migrator), golang-migrate or popx (`go.mod`).
pub(super) fn detect(root: &Path) -> Option<Evidence> {
    let start = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    for dir in start.ancestors() {
        let cargo = dir.join("Cargo.toml");
        if let Ok(text) = std::fs::read_to_string(&cargo) {
            if cargo_uses_sqlx_migrate(&text) {
                return Some(found(Format::Sqlx, &cargo, "depends on sqlx"));
            }
        }
        let gomod = dir.join("go.mod");
        if let Ok(text) = std::fs::read_to_string(&gomod) {
            if let Some(format) = go_mod_tool(&text) {
                let what = match format {
                    Format::Popx => "requires github.com/ory/x (popx)",
                    _ => "requires github.com/golang-migrate/migrate",
                };
                return Some(found(format, &gomod, what));
            }
        }
    }
    None
}

fn found(format: Format, file: &Path, what: &str) -> Evidence {
    Evidence {
        format,
        reason: format!("{} {what}", display(file)),
    }
}

fn display(p: &Path) -> String {
    // Relative to the working directory when possible: shorter and stable in reports.
    let cwd = std::env::current_dir().ok();
    let rel: Option<PathBuf> = cwd.and_then(|c| p.strip_prefix(c).ok().map(Path::to_path_buf));
    rel.unwrap_or_else(|| p.to_path_buf()).display().to_string()
}

/// A dependency on sqlx that can run migrations: sqlx's default features include `migrate`, so
/// only `default-features = false` without `migrate` rules it out (a crate such as migcheck
/// itself uses sqlx as a driver, not as a migrator).
pub(super) fn cargo_uses_sqlx_migrate(text: &str) -> bool {
    let Ok(table) = toml::from_str::<toml::Table>(text) else {
        return false;
    };
    let tables = ["dependencies", "dev-dependencies", "build-dependencies"];
    let mut deps: Vec<&toml::Table> = tables
        .iter()
        .filter_map(|t| table.get(*t).and_then(toml::Value::as_table))
        .collect();
    if let Some(ws) = table.get("workspace").and_then(toml::Value::as_table) {
        deps.extend(ws.get("dependencies").and_then(toml::Value::as_table));
    }
    deps.iter().any(|d| {
        d.iter().any(|(key, spec)| {
            let package = spec
                .get("package")
                .and_then(toml::Value::as_str)
                .unwrap_or(key);
            package == "sqlx" && spec_can_migrate(spec)
        })
    })
}

fn spec_can_migrate(spec: &toml::Value) -> bool {
    let Some(t) = spec.as_table() else {
        return true; // `sqlx = "0.8"`: default features
    };
    let defaults = t
        .get("default-features")
        .or_else(|| t.get("default_features"))
        .and_then(toml::Value::as_bool)
        .unwrap_or(true);
    let migrate = t
        .get("features")
        .and_then(toml::Value::as_array)
        .is_some_and(|f| f.iter().any(|v| v.as_str() == Some("migrate")));
    defaults || migrate
}

/// golang-migrate or popx named in a `go.mod`'s requirements.
pub(super) fn go_mod_tool(text: &str) -> Option<Format> {
    let mentions = |module: &str| {
        text.lines().any(|l| {
            let l = l.trim_start().trim_start_matches("require").trim_start();
            l.starts_with(module)
        })
    };
    if mentions("github.com/golang-migrate/migrate") {
        Some(Format::GolangMigrate)
    } else if mentions("github.com/ory/x ") || mentions("github.com/ory/x\t") {
        Some(Format::Popx)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo() {
        assert!(cargo_uses_sqlx_migrate("[dependencies]\nsqlx = \"0.8\"\n"));
        assert!(cargo_uses_sqlx_migrate(
            "[dependencies]\nsqlx = { version = \"0.8\", default-features = false, features = [\"migrate\", \"postgres\"] }\n"
        ));
        assert!(!cargo_uses_sqlx_migrate(
            "[dependencies]\nsqlx = { version = \"0.8\", default-features = false, features = [\"postgres\"] }\n"
        ));
        assert!(cargo_uses_sqlx_migrate(
            "[workspace.dependencies]\ndb = { package = \"sqlx\", version = \"0.8\" }\n"
        ));
        assert!(!cargo_uses_sqlx_migrate("[dependencies]\nserde = \"1\"\n"));
        assert!(!cargo_uses_sqlx_migrate("not toml ["));
    }

    #[test]
    fn go_mod() {
        let gm = "module x\n\nrequire (\n\tgithub.com/golang-migrate/migrate/v4 v4.17.0\n)\n";
        assert_eq!(go_mod_tool(gm), Some(Format::GolangMigrate));
        let one = "module x\nrequire github.com/golang-migrate/migrate/v4 v4.17.0\n";
        assert_eq!(go_mod_tool(one), Some(Format::GolangMigrate));
        let ory = "module x\nrequire (\n\tgithub.com/ory/x v0.0.600\n)\n";
        assert_eq!(go_mod_tool(ory), Some(Format::Popx));
        assert_eq!(
            go_mod_tool("module x\nrequire github.com/ory/xyz v1\n"),
            None
        );
    }
}
