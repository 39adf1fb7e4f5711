use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = migcheck::cli::Cli::parse();
    init_logging(cli.verbose);
    // One thread: migcheck's work is sequential I/O, and server processes it spawns are tied to
    // this thread's lifetime (PR_SET_PDEATHSIG), which must be the process's main thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(migcheck::error::exit::ENVIRONMENT);
        }
    };
    runtime.block_on(migcheck::run(cli))
}

fn init_logging(verbose: u8) {
    // sqlx logs slow statements with their SQL text at WARN: third-party logs stay quiet
    // unless asked for (`-v`), since a migration's text can hold a credential.
    let default = match verbose {
        0 => "warn,sqlx=error",
        1 => "migcheck=info,sqlx=warn",
        _ => "migcheck=debug,sqlx=warn",
    };
    let filter = tracing_subscriber::EnvFilter::try_from_env("MIGCHECK_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    use std::io::IsTerminal;
    let colour = std::io::stderr().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(colour)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
