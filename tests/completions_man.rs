//! `migcheck completions SHELL` and `migcheck man`, from the built binary.

mod support;

use std::process::Output;

use clap::CommandFactory;
use support::migcheck;

fn run(args: &[&str]) -> Output {
    migcheck().args(args).output().expect("run migcheck")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The subcommands, from the same clap definition the binary uses (`help` aside).
fn subcommands() -> Vec<String> {
    let names: Vec<String> = migcheck::cli::Cli::command()
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    assert!(names.len() >= 11, "{names:?}");
    names
}

#[test]
fn the_bash_script_completes_every_subcommand_and_parses() {
    let o = run(&["completions", "bash"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let script = stdout(&o);
    for sub in subcommands() {
        assert!(
            script.contains(&format!("migcheck,{sub})")),
            "no completion case for {sub}"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("migcheck.bash");
    std::fs::write(&file, &script).unwrap();
    let check = std::process::Command::new("bash")
        .arg("-n")
        .arg(&file)
        .output()
        .expect("bash must be installed");
    assert!(
        check.status.success(),
        "bash -n: {}",
        String::from_utf8_lossy(&check.stderr)
    );
    // And it completes: `migcheck <TAB>` offers every subcommand, `migcheck completions <TAB>`
    // the shells.
    let probe = format!(
        "source '{}'\n\
         COMP_WORDS=(migcheck ''); COMP_CWORD=1; _migcheck migcheck '' migcheck; echo \"${{COMPREPLY[*]}}\"\n\
         COMP_WORDS=(migcheck completions ''); COMP_CWORD=2; _migcheck migcheck '' completions; echo \"${{COMPREPLY[*]}}\"\n",
        file.display()
    );
    let done = std::process::Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &probe])
        .output()
        .unwrap();
    let lines = String::from_utf8_lossy(&done.stdout).into_owned();
    let mut lines = lines.lines();
    let top: Vec<&str> = lines.next().unwrap_or_default().split(' ').collect();
    for sub in subcommands() {
        assert!(top.contains(&sub.as_str()), "{sub} not offered: {top:?}");
    }
    let shells = lines.next().unwrap_or_default();
    assert!(
        shells.contains("bash") && shells.contains("powershell"),
        "{shells}"
    );
}

#[test]
fn every_shell_gets_a_script() {
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let o = run(&["completions", shell]);
        assert_eq!(o.status.code(), Some(0), "{shell}");
        let script = stdout(&o);
        for sub in subcommands() {
            assert!(script.contains(&sub), "{shell}: {sub}");
        }
    }
    let o = run(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn the_man_page_names_every_subcommand() {
    let o = run(&["man"]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let page = stdout(&o);
    assert!(page.contains(".TH migcheck 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in subcommands() {
        assert!(page.contains(&format!("migcheck\\-{sub}")), "{sub} missing");
    }
}

#[test]
fn man_writes_one_page_per_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("share/man/man1");
    let o = run(&["man", "-o", out.to_str().unwrap()]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let listed = stdout(&o);
    let mut wanted = vec![
        "migcheck.1".to_string(),
        "migcheck-evidence-check.1".to_string(),
    ];
    wanted.extend(subcommands().iter().map(|s| format!("migcheck-{s}.1")));
    for name in &wanted {
        let page =
            std::fs::read_to_string(out.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(page.contains(".TH "), "{name}");
        assert!(listed.contains(name), "{listed}");
    }
    assert_eq!(std::fs::read_dir(&out).unwrap().count(), wanted.len());
}
