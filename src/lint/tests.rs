//! Driver tests: suppression, exemptions, versions, columns.
