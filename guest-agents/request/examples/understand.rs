//! Prints the spec for each request given: `cargo run -p nexus-request
//! --example understand -- "a todo app" [--json] [--out DIR]`.

fn main() {
    let mut json = false;
    let mut out = None;
    let mut requests = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--json" => json = true,
            "--parse" => {
                for r in args.by_ref() {
                    println!("{}", nexus_request::parse_tree(&r));
                }
                return;
            }
            "--out" => out = args.next(),
            _ => requests.push(a),
        }
    }
    for (i, r) in requests.iter().enumerate() {
        let u = nexus_request::understand(r);
        if let Some(dir) = &out {
            let d = std::path::Path::new(dir).join(i.to_string());
            std::fs::create_dir_all(&d).unwrap();
            let record = serde_json::json!({ "spec": u.spec });
            std::fs::write(d.join("nexus-project.json"), record.to_string()).unwrap();
        } else if json {
            println!("{}", serde_json::to_string_pretty(&u.spec).unwrap());
        } else {
            println!("== {r}\n{}", nexus_request::summary(&u.spec));
            for n in &u.notes {
                println!("   · {n}");
            }
        }
    }
}
