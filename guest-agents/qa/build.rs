//! The QA agent parses and walks syntax trees, which recurses once per
//! nesting level: give its wasm build a larger stack in linear memory (the
//! default is 1 MiB). Its policy raises the host-side stack to match.

fn main() {
    if std::env::var("TARGET").is_ok_and(|t| t.starts_with("wasm32")) {
        println!("cargo:rustc-link-arg=-zstack-size=8388608");
    }
}
