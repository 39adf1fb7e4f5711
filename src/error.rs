//! One error type for the whole pipeline; each variant maps to a documented exit code.

use std::path::PathBuf;

/// Exit codes are part of migcheck's interface (README, "Exit codes").
pub mod exit {
    /// Every check passed.
    pub const PASS: u8 = 0;
    /// The gate failed: a check failed on valid input.
    pub const GATE_FAILED: u8 = 1;
    /// Bad input or usage: unreadable files, unknown format, bad flags.
    pub const BAD_INPUT: u8 = 2;
    /// No database could be started or reached.
    pub const ENVIRONMENT: u8 = 3;
    /// `migcheck status`: the database is fine but migrations are pending (something to deploy).
    pub const PENDING: u8 = 4;
    /// Interrupted by SIGINT (128 + 2), after cleaning up.
    pub const INTERRUPTED: u8 = 130;
    /// Terminated by SIGTERM (128 + 15), after cleaning up.
    pub const TERMINATED: u8 = 143;
    /// Hung up by SIGHUP (128 + 1), after cleaning up as for SIGTERM.
    pub const HUNG_UP: u8 = 129;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Input the user must fix; `file`/`line` point at it when known.
    #[error("{}{message}", location(file, line))]
    Input {
        file: Option<PathBuf>,
        line: Option<usize>,
        message: String,
    },
    /// Bad flags or flag combinations.
    #[error("{0}")]
    Usage(String),
    /// No database could be provisioned or reached; `hint` says what to install or pass.
    #[error("{message}{}", hint.as_deref().map(|h| format!("\n  hint: {h}")).unwrap_or_default())]
    Environment {
        message: String,
        hint: Option<String>,
    },
    /// Writing a report or another local file failed.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The run was interrupted by a signal (`"SIGINT"`, `"SIGTERM"`); resources were cleaned up.
    #[error("interrupted by {0}; cleaned up")]
    Interrupted(&'static str),
}

fn location(file: &Option<PathBuf>, line: &Option<usize>) -> String {
    match (file, line) {
        (Some(f), Some(l)) => format!("{}:{l}: ", f.display()),
        (Some(f), None) => format!("{}: ", f.display()),
        _ => String::new(),
    }
}

impl Error {
    pub fn input(
        file: impl Into<PathBuf>,
        line: Option<usize>,
        message: impl Into<String>,
    ) -> Self {
        Error::Input {
            file: Some(file.into()),
            line,
            message: message.into(),
        }
    }

    pub fn environment(message: impl Into<String>, hint: Option<String>) -> Self {
        Error::Environment {
            message: message.into(),
            hint,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            Error::Input { .. } | Error::Usage(_) => exit::BAD_INPUT,
            Error::Environment { .. } => exit::ENVIRONMENT,
            // A report that cannot be written means the gate produced no evidence: treat as environment.
            Error::Io { .. } => exit::ENVIRONMENT,
            Error::Interrupted("SIGTERM") => exit::TERMINATED,
            Error::Interrupted("SIGHUP") => exit::HUNG_UP,
            Error::Interrupted(_) => exit::INTERRUPTED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
