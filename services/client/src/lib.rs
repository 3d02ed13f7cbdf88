//! ferrodfs client.
