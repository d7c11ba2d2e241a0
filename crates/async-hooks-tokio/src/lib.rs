//! async-hooks tokio integration: under construction.
