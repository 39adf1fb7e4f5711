//! Stage: apply one migration script to the throwaway database.
