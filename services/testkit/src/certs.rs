//! A throwaway certificate authority, made with the openssl command: a CA, a server
//! certificate for `localhost` and 127.0.0.1, and a client certificate, each signed by it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// PEM files in a temporary folder, removed on drop.
pub struct Certs {
    dir: tempfile::TempDir,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl is installed");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Certs {
    /// A CA (`ca.pem`), `server.pem`/`server.key` and `client.pem`/`client.key` it
    /// signed, and a client pair another CA signed (`stranger.pem`/`stranger.key`).
    pub fn generate() -> Self {
        let dir = tempfile::tempdir().expect("a temp dir");
        let d = dir.path();
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ];
        let ca = |name: &str| {
            let (key, pem, subj) = (
                format!("{name}.key"),
                format!("{name}.pem"),
                format!("/CN={name}"),
            );
            let mut args = vec!["req", "-x509"];
            args.extend(ec);
            args.extend(["-keyout", &key, "-out", &pem, "-days", "2", "-subj", &subj]);
            args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
            args.extend(["-addext", "keyUsage=critical,keyCertSign"]);
            openssl(d, &args);
        };
        ca("ca");
        ca("other-ca");
        let leaf = |name: &str, issuer: &str, ext: &str| {
            let mut args = vec!["req"];
            args.extend(ec);
            let key = format!("{name}.key");
            let csr = format!("{name}.csr");
            let subj = format!("/CN={name}");
            args.extend(["-keyout", &key, "-out", &csr, "-subj", &subj]);
            openssl(d, &args);
            std::fs::write(d.join(format!("{name}.ext")), ext).unwrap();
            let (issuer_pem, issuer_key) = (format!("{issuer}.pem"), format!("{issuer}.key"));
            let (out, extfile) = (format!("{name}.pem"), format!("{name}.ext"));
            openssl(
                d,
                &[
                    "x509",
                    "-req",
                    "-in",
                    &csr,
                    "-CA",
                    &issuer_pem,
                    "-CAkey",
                    &issuer_key,
                    "-CAcreateserial",
                    "-days",
                    "2",
                    "-out",
                    &out,
                    "-extfile",
                    &extfile,
                ],
            );
        };
        leaf(
            "server",
            "ca",
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
        );
        leaf("client", "ca", "extendedKeyUsage=clientAuth\n");
        leaf("stranger", "other-ca", "extendedKeyUsage=clientAuth\n");
        Self { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }
}
