//! The agents built for `wasm32-wasip2` by this crate's build script: the
//! roster (embedded as DEFLATE-compressed bytes), their shipped policies, and the test agents
//! (by path).

include!(concat!(env!("OUT_DIR"), "/guests.rs"));
