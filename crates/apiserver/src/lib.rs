//! berth's API server.
