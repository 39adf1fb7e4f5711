//! `migcheck cleanup`: remove the containers that killed runs (or `--keep`) left behind.
//!
//! Only containers labelled as migcheck's, started on this host by a process that no longer
//! runs, are removed: a run in progress, or another machine's run on a shared engine, is never
//! touched.

use crate::cli::CleanupArgs;
use crate::error::{exit, Result};
use crate::provision::docker;

pub async fn run(args: CleanupArgs) -> Result<u8> {
    let host = docker::hostname();
    let containers = docker::list_labelled().await?;
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
    let mut failed = 0;
    for c in &leftovers {
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
    if leftovers.is_empty() {
        println!("nothing to clean up");
    }
    Ok(if failed > 0 {
        exit::ENVIRONMENT
    } else {
        exit::PASS
    })
}
