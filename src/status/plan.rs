//! `migcheck plan` (below).
