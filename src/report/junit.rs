//! (Implementation owned by the report work.)
