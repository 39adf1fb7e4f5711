//! `migcheck cleanup`: remove what killed runs (or `--keep`) left behind.
//!
//! * containers labelled as migcheck's, started on this host by a process that no longer runs;
//! * what the runs' records (see `provision::leftovers`) name: temporary directories with any
//!   server still running in them, and throwaway databases and sandbox roles on the servers
//!   given with `--url`.
//!
//! A run in progress, or another machine's run on a shared engine, is never touched.

use crate::cli::CleanupArgs;
use crate::error::{exit, Error, Result};
use crate::provision::local::template;
use crate::provision::{docker, leftovers};
use crate::redact::SecretUrl;

pub async fn run(args: CleanupArgs) -> Result<u8> {
    let mut urls = Vec::new();
    for raw in &args.url {
        let url = SecretUrl::new(raw.clone());
        if ::url::Url::parse(raw).is_err() {
            return Err(Error::Usage(format!("invalid --url {url}")));
        }
        urls.push(url);
    }
    let mut failed = 0;
    let mut anything = false;

    let sweep = leftovers::sweep(&urls, args.dry_run).await;
    for line in &sweep.live {
        println!("keeping   {line}");
    }
    for line in &sweep.removed {
        anything = true;
        if args.dry_run {
            println!("would remove {line}");
        } else {
            println!("removed   {line}");
        }
    }
    for line in &sweep.kept {
        anything = true;
        println!("left      {line}");
    }
    for line in &sweep.failed {
        eprintln!("error: {line}");
        failed += 1;
    }

    let containers = match docker::list_labelled().await {
        Ok(containers) => containers,
        Err(e) => {
            println!("containers: not checked ({e})");
            Vec::new()
        }
    };
    let host = docker::hostname();
    let (leftovers, others): (Vec<_>, Vec<_>) =
        containers.into_iter().partition(|c| c.is_leftover(&host));
    for c in &others {
        println!(
            "keeping   {} ({}): {}",
            &c.id[..c.id.len().min(12)],
            c.image,
            if c.host.as_deref() == Some(host.as_str()) {
                "its run is still in progress"
            } else {
                "started on another host"
            }
        );
    }
    for c in &leftovers {
        anything = true;
        let id = &c.id[..c.id.len().min(12)];
        let why = if c.kept {
            "kept with --keep"
        } else {
            "its run is gone"
        };
        if args.dry_run {
            println!("would remove {id} ({}): {why}", c.image);
            continue;
        }
        match docker::remove(&c.id).await {
            Ok(()) => println!("removed   {id} ({}): {why}", c.image),
            Err(e) => {
                eprintln!("error: {e}");
                failed += 1;
            }
        }
    }
    if !anything {
        println!("nothing to clean up");
    }
    failed += templates(&args).await;
    Ok(if failed > 0 {
        exit::ENVIRONMENT
    } else {
        exit::PASS
    })
}

/// The local provider's template data directories are a cache, not a leftover: listed, and
/// removed only with `--templates`. Returns the number of failures.
async fn templates(args: &CleanupArgs) -> u32 {
    let Some(dir) = template::templates_dir() else {
        return 0;
    };
    let found = template::list(&dir);
    if found.is_empty() {
        return 0;
    }
    let mut failed = 0;
    for (path, size) in found {
        let size = format!("{:.1} MB", size as f64 / 1e6);
        if !args.templates {
            println!(
                "template  {} ({size}): a cache, kept (--templates removes it)",
                path.display()
            );
        } else if args.dry_run {
            println!("would remove template {} ({size})", path.display());
        } else {
            match template::remove(&path).await {
                Ok(()) => println!("removed   template {} ({size})", path.display()),
                Err(e) => {
                    eprintln!("error: template {}: {e}", path.display());
                    failed += 1;
                }
            }
        }
    }
    failed
}
