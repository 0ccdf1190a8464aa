use std::path::PathBuf;
use std::process::Command;

fn main() {
    glib_build_tools::compile_resources(
        &["resources"],
        "resources/resources.gresource.xml",
        "piecewise.gresource",
    );
    compile_schema();
}

/// Compiles the GSettings schema into `OUT_DIR/schemas`, so runs and tests
/// from the build tree find it without an install (`ui::settings`). Without
/// `glib-compile-schemas` the app still runs, without saved settings.
fn compile_schema() {
    println!("cargo:rerun-if-changed=data/io.github.piecewise.Piecewise.gschema.xml");
    let Some(out_dir) = std::env::var_os("OUT_DIR") else {
        return;
    };
    let target = PathBuf::from(out_dir).join("schemas");
    let compiled = std::fs::create_dir_all(&target).is_ok()
        && std::fs::copy(
            "data/io.github.piecewise.Piecewise.gschema.xml",
            target.join("io.github.piecewise.Piecewise.gschema.xml"),
        )
        .is_ok()
        && Command::new("glib-compile-schemas")
            .arg(&target)
            .status()
            .is_ok_and(|status| status.success());
    if !compiled {
        println!("cargo:warning=GSettings schema not compiled; settings will not be saved");
    }
}
