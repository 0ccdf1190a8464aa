//! Certificates made with `openssl` at test time for a TLS origin on
//! 127.0.0.1: one signed by a throwaway CA (trusted by pointing
//! `SSL_CERT_FILE` at the CA), or a self-signed one nobody trusts.

use std::path::{Path, PathBuf};
use std::process::Command;

/// A server certificate and key for `127.0.0.1` and `localhost`.
pub struct ServerCertificate {
    _dir: tempfile::TempDir,
    /// The CA that signed it, in PEM (for a self-signed one, itself).
    pub ca: PathBuf,
    pub certificate: PathBuf,
    pub key: PathBuf,
}

const SERVER_EXTENSIONS: &str = "subjectAltName=IP:127.0.0.1,DNS:localhost
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=serverAuth
";

impl ServerCertificate {
    /// Signed by a CA made for the purpose.
    pub fn signed_by_test_ca() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        self_signed_pair(
            "/CN=Piecewise test CA",
            &[
                "basicConstraints=critical,CA:TRUE",
                "keyUsage=critical,keyCertSign,cRLSign",
            ],
            &path("ca.key"),
            &path("ca.pem"),
        );
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &arg(&path("server.key")),
            "-out",
            &arg(&path("server.csr")),
        ]);
        std::fs::write(path("server.ext"), SERVER_EXTENSIONS).unwrap();
        openssl(&[
            "x509",
            "-req",
            "-days",
            "2",
            "-in",
            &arg(&path("server.csr")),
            "-CA",
            &arg(&path("ca.pem")),
            "-CAkey",
            &arg(&path("ca.key")),
            "-CAcreateserial",
            "-extfile",
            &arg(&path("server.ext")),
            "-out",
            &arg(&path("server.pem")),
        ]);
        Self {
            ca: path("ca.pem"),
            certificate: path("server.pem"),
            key: path("server.key"),
            _dir: dir,
        }
    }

    /// Self-signed: valid names, but no CA anyone trusts vouches for it.
    pub fn self_signed() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = |name: &str| dir.path().join(name);
        // A server certificate, not a CA: its only fault is that nobody
        // vouches for it.
        self_signed_pair(
            "/CN=127.0.0.1",
            &[
                "subjectAltName=IP:127.0.0.1,DNS:localhost",
                "basicConstraints=critical,CA:FALSE",
            ],
            &path("server.key"),
            &path("server.pem"),
        );
        Self {
            ca: path("server.pem"),
            certificate: path("server.pem"),
            key: path("server.key"),
            _dir: dir,
        }
    }
}

/// A new P-256 key at `key` and a certificate for it at `certificate`,
/// signed by itself, naming `subject`, with the `extensions`.
fn self_signed_pair(subject: &str, extensions: &[&str], key: &Path, certificate: &Path) {
    let (key, certificate) = (arg(key), arg(certificate));
    let mut args = vec![
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "2",
        "-subj",
        subject,
        "-keyout",
        &key,
        "-out",
        &certificate,
    ];
    for extension in extensions {
        args.extend(["-addext", extension]);
    }
    openssl(&args);
}

fn arg(path: &Path) -> String {
    path.display().to_string()
}

fn openssl(args: &[&str]) {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs (package openssl)");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}
