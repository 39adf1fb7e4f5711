//! Format detection and chain assembly. (Implementation owned by the chain work.)

use std::path::Path;

use super::{Chain, DiscoverOptions};
use crate::error::{Error, Result};

pub(super) fn discover(root: &Path, _options: &DiscoverOptions) -> Result<Chain> {
    Err(Error::input(
        root,
        None,
        "chain discovery not implemented yet",
    ))
}
