//! Files installed beside the binary.

use std::process::Command;

#[test]
fn desktop_file_passes_desktop_file_validate() {
    let output = Command::new("desktop-file-validate")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/data/io.github.piecewise.Piecewise.desktop"
        ))
        .output()
        .expect("desktop-file-validate runs (package desktop-file-utils)");
    assert!(
        output.status.success() && output.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stdout)
    );
}
