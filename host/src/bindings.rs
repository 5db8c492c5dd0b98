//! Host-side bindings for the `nexus:agent` WIT package.

wasmtime::component::bindgen!({
    path: "../wit",
    world: "agent",
    imports: {
        // Cheap, synchronous checks stay off the async path.
        "nexus:agent/log.enabled": exact,
        default: async,
    },
    exports: { default: async },
});

pub use self::nexus::agent::types::Error;

impl self::nexus::agent::types::Host for crate::task::TaskState {}
