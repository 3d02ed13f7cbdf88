//! ferrodfs storage.
