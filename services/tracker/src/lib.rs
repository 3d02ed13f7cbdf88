//! ferrodfs tracker.
