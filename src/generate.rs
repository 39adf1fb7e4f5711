//! `migcheck completions SHELL` and `migcheck man`: shell completions and man pages, generated
//! from the clap definition in `crate::cli`, so they always match the flags of this binary.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::{exit, Error, Result};

/// The completion script for `args.shell`, on stdout.
pub fn completions(args: CompletionsArgs) -> Result<u8> {
    let mut out = Vec::new();
    completion_script(args.shell, &mut out);
    write_stdout(&out)?;
    Ok(exit::PASS)
}

pub fn completion_script(shell: clap_complete::Shell, out: &mut dyn Write) {
    let mut cmd = Cli::command();
    clap_complete::generate(shell, &mut cmd, "migcheck", out);
}

/// The man pages: every page into `--output-dir`, else migcheck.1 on stdout.
pub fn man(args: ManArgs) -> Result<u8> {
    match args.output_dir {
        None => {
            let mut out = Vec::new();
            top_page(&mut out).map_err(|source| Error::Io {
                path: PathBuf::from("<stdout>"),
                source,
            })?;
            write_stdout(&out)?;
        }
        Some(dir) => {
            for page in write_pages(&dir)? {
                println!("{}", page.display());
            }
        }
    }
    Ok(exit::PASS)
}

/// migcheck.1.
pub fn top_page(out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(Cli::command()).render(out)
}

/// Write migcheck.1 and one page per subcommand (`migcheck-verify.1`, `migcheck-evidence-check.1`)
/// into `dir`; returns their paths.
pub fn write_pages(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(io)?;
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let mut pages = Vec::new();
    page_names(&cmd, &mut pages);
    Ok(pages.into_iter().map(|p| dir.join(p)).collect())
}

/// The file name of `cmd`'s page and of every visible subcommand's, as clap_mangen names them.
fn page_names(cmd: &clap::Command, out: &mut Vec<String>) {
    let name = cmd.get_display_name().unwrap_or_else(|| cmd.get_name());
    out.push(format!("{name}.1"));
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        page_names(sub, out);
    }
}

/// Write to stdout; a closed pipe (`migcheck man | head`) is not an error.
fn write_stdout(bytes: &[u8]) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(bytes).and_then(|()| stdout.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(Error::Io {
            path: PathBuf::from("<stdout>"),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every subcommand's name, from the clap definition (`help` aside).
    pub(crate) fn subcommands() -> Vec<String> {
        Cli::command()
            .get_subcommands()
            .map(|s| s.get_name().to_string())
            .collect()
    }

    #[test]
    fn every_page_is_written_and_named() {
        let dir = tempfile::tempdir().unwrap();
        let pages = write_pages(&dir.path().join("man1")).unwrap();
        for p in &pages {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.contains(".TH "), "{}", p.display());
        }
        let names: Vec<String> = pages
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert!(names.contains(&"migcheck.1".to_string()), "{names:?}");
        assert!(
            names.contains(&"migcheck-evidence-check.1".to_string()),
            "{names:?}"
        );
        for sub in subcommands() {
            assert!(
                names.contains(&format!("migcheck-{sub}.1")),
                "{sub}: {names:?}"
            );
        }
        // Nothing else was written.
        assert_eq!(
            std::fs::read_dir(dir.path().join("man1")).unwrap().count(),
            pages.len()
        );
    }
}
