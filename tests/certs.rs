//! The test PKI in `certs/`, `certs/rsa/` and `tests/data/`: present, long-lived, and accepted
//! (or rejected) by rustls the way the other tests expect.
//!
//! Validity dates are read from the certificates' DER here, so these tests need neither openssl
//! nor a date-parsing crate.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lltls::programs::config;
use rustls::client::danger::ServerCertVerifier;
use rustls::client::WebPkiServerVerifier;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::{CertificateError, RootCertStore};

/// Certificates must stay valid this long, so they are regenerated well before tests break.
const MIN_REMAINING: Duration = Duration::from_secs(90 * 24 * 60 * 60);

const REGENERATED_DIRS: &[&str] = &["certs", "certs/rsa", "tests/data/bigchain"];

fn path(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn certs(rel: &str) -> Vec<CertificateDer<'static>> {
    config::load_certs(path(rel)).unwrap_or_else(|err| panic!("{err}"))
}

fn now() -> UnixTime {
    UnixTime::now()
}

// ---- a minimal DER reader, for the validity dates ----

/// One DER element: its tag, its content, and what follows it.
fn read_element(der: &[u8]) -> Result<(u8, &[u8], &[u8]), String> {
    let (&tag, rest) = der.split_first().ok_or("truncated tag")?;
    let (&first, rest) = rest.split_first().ok_or("truncated length")?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let num_bytes = usize::from(first & 0x7f);
        if num_bytes == 0 || num_bytes > 4 || rest.len() < num_bytes {
            return Err(format!("unsupported length form 0x{first:02x}"));
        }
        let (len_bytes, rest) = rest.split_at(num_bytes);
        let len = len_bytes
            .iter()
            .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
        (len, rest)
    };
    if rest.len() < len {
        return Err(format!("element of {len}B overruns its {}B", rest.len()));
    }
    let (content, rest) = rest.split_at(len);
    Ok((tag, content, rest))
}

fn expect_element<'a>(
    der: &'a [u8],
    expected_tag: u8,
    what: &str,
) -> Result<(&'a [u8], &'a [u8]), String> {
    let (tag, content, rest) = read_element(der)?;
    if tag != expected_tag {
        return Err(format!(
            "{what}: tag 0x{tag:02x}, expected 0x{expected_tag:02x}"
        ));
    }
    Ok((content, rest))
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0; // [0] EXPLICIT
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// A certificate time, UTC, to the second.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Time {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
}

impl Time {
    /// Parses UTCTime (`YYMMDDHHMMSSZ`) or GeneralizedTime (`YYYYMMDDHHMMSSZ`), the two forms
    /// RFC 5280 §4.1.2.5 allows.
    fn from_der(tag: u8, content: &[u8]) -> Result<Self, String> {
        let text = std::str::from_utf8(content).map_err(|_| "time is not ASCII")?;
        let digits = text
            .strip_suffix('Z')
            .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
            .ok_or_else(|| format!("time {text:?} is not in the form RFC 5280 requires"))?;
        let (year, rest) = match (tag, digits.len()) {
            (UTC_TIME, 12) => {
                // RFC 5280: YY >= 50 means 19YY, otherwise 20YY.
                let yy: i64 = digits[..2].parse().map_err(|_| "bad year")?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
            }
            (GENERALIZED_TIME, 14) => (digits[..4].parse().map_err(|_| "bad year")?, &digits[4..]),
            _ => return Err(format!("unsupported time {text:?} with tag 0x{tag:02x}")),
        };
        let field = |i: usize| -> u32 { rest[i..i + 2].parse().unwrap_or(u32::MAX) };
        let time = Self {
            year,
            month: field(0),
            day: field(2),
            hour: field(4),
            minute: field(6),
            second: field(8),
        };
        let valid = (1..=12).contains(&time.month)
            && (1..=31).contains(&time.day)
            && time.hour < 24
            && time.minute < 60
            && time.second < 60;
        match valid {
            true => Ok(time),
            false => Err(format!("time {text:?} is out of range")),
        }
    }

    /// Seconds since the Unix epoch (proleptic Gregorian calendar; Howard Hinnant's
    /// `days_from_civil`).
    fn unix_seconds(&self) -> i64 {
        let month = i64::from(self.month);
        let year = if month <= 2 { self.year - 1 } else { self.year };
        let era = year.div_euclid(400);
        let year_of_era = year - era * 400;
        let month_index = (month + 9) % 12; // March = 0
        let day_of_year = (153 * month_index + 2) / 5 + i64::from(self.day) - 1;
        let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
        let days = era * 146_097 + day_of_era - 719_468;
        days * 86_400
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }
}

impl fmt::Display for Time {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )
    }
}

/// `(notBefore, notAfter)` of a DER certificate:
/// `Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL, serialNumber,
/// signature, issuer, validity SEQUENCE { notBefore, notAfter }, .. }, .. }`.
fn validity(cert: &[u8]) -> Result<(Time, Time), String> {
    let (certificate, _) = expect_element(cert, SEQUENCE, "Certificate")?;
    let (tbs, _) = expect_element(certificate, SEQUENCE, "TBSCertificate")?;
    let mut rest = tbs;
    if rest.first() == Some(&VERSION) {
        rest = read_element(rest)?.2;
    }
    let (_, rest) = expect_element(rest, INTEGER, "serialNumber")?;
    let (_, rest) = expect_element(rest, SEQUENCE, "signature")?;
    let (_, rest) = expect_element(rest, SEQUENCE, "issuer")?;
    let (validity, _) = expect_element(rest, SEQUENCE, "validity")?;
    let (tag, not_before, rest) = read_element(validity)?;
    let not_before = Time::from_der(tag, not_before)?;
    let (tag, not_after, _) = read_element(rest)?;
    let not_after = Time::from_der(tag, not_after)?;
    Ok((not_before, not_after))
}

fn unix_now() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970");
    i64::try_from(since_epoch.as_secs()).expect("seconds fit in i64")
}

/// Every `.pem` file under `dir` (not recursive) that holds certificates, sorted.
fn pem_cert_files(dir: &str) -> Vec<PathBuf> {
    let dir = path(dir);
    let mut files: Vec<PathBuf> = fs::read_dir(&dir)
        .unwrap_or_else(|err| panic!("cannot list {}: {err}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|file| file.extension().is_some_and(|ext| ext == "pem"))
        .filter(|file| {
            fs::read_to_string(file).is_ok_and(|text| text.contains("BEGIN CERTIFICATE"))
        })
        .collect();
    files.sort();
    files
}

fn rel(file: &Path) -> String {
    file.strip_prefix(env!("CARGO_MANIFEST_DIR"))
        .unwrap_or(file)
        .display()
        .to_string()
}

fn is_deliberately_invalid(file: &Path) -> bool {
    let name = file
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("");
    name.starts_with("expired") || name.starts_with("notyet")
}

/// Problems with the validity of every certificate in `files`, one line each.
fn validity_problems(files: &[PathBuf], hint: &str) -> Vec<String> {
    let deadline = unix_now() + MIN_REMAINING.as_secs() as i64;
    let mut problems = Vec::new();
    for file in files {
        let name = rel(file);
        let file_certs = certs(&name);
        for (index, cert) in file_certs.iter().enumerate() {
            // Chain files repeat the CA's dates; say which certificate is meant.
            let name = match file_certs.len() {
                1 => name.clone(),
                count => format!("{name} (certificate {} of {count})", index + 1),
            };
            match validity(cert) {
                Err(err) => problems.push(format!("{name}: certificate {index}: {err}")),
                Ok((not_before, not_after)) => {
                    if not_after.unix_seconds() < deadline {
                        problems.push(format!(
                            "{name} expires {not_after}, within {} days: {hint}",
                            MIN_REMAINING.as_secs() / 86_400
                        ));
                    }
                    if not_before.unix_seconds() > unix_now() {
                        problems.push(format!("{name} is not valid until {not_before}: {hint}"));
                    }
                }
            }
        }
    }
    problems
}

#[test]
fn der_validity_reader_matches_known_dates() {
    // Dates from `openssl x509 -noout -dates` on the reference files, which never change.
    let ca = certs("tests/data/reference/pki/rsa-ca.pem");
    let (not_before, not_after) = validity(&ca[0]).expect("reference CA parses");
    assert_eq!(not_before.to_string(), "2026-11-28T16:07:26Z");
    assert_eq!(not_after.to_string(), "2036-11-25T16:07:26Z");
    let server = certs("tests/data/reference/pki/rsa-server-fullchain.pem");
    let (_, not_after) = validity(&server[0]).expect("reference leaf parses");
    assert_eq!(not_after.to_string(), "2029-03-02T16:07:26Z");

    assert_eq!(
        Time::from_der(UTC_TIME, b"700101000000Z").map(|t| t.unix_seconds()),
        Ok(0)
    );
    assert_eq!(
        Time::from_der(GENERALIZED_TIME, b"20380119031408Z").map(|t| t.unix_seconds()),
        Ok(i64::from(i32::MAX) + 1)
    );
    assert_eq!(
        Time::from_der(UTC_TIME, b"491231235959Z").map(|t| t.year),
        Ok(2049)
    );
    assert!(
        Time::from_der(UTC_TIME, b"261328000000Z").is_err(),
        "month 13"
    );
    assert!(
        Time::from_der(UTC_TIME, b"2611280000Z").is_err(),
        "no seconds"
    );
    assert!(
        validity(b"\x30\x03\x02\x01\x00").is_err(),
        "no TBSCertificate"
    );
}

#[test]
fn generated_certificates_stay_valid_for_90_days() {
    let mut files = Vec::new();
    for dir in REGENERATED_DIRS {
        files.extend(
            pem_cert_files(dir)
                .into_iter()
                .filter(|file| !is_deliberately_invalid(file)),
        );
    }
    assert!(
        files.len() >= 15,
        "too few certificate files found: {files:?}"
    );
    let problems = validity_problems(&files, "run scripts/gen-certs.sh");
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn reference_certificates_stay_valid_for_90_days() {
    let files = pem_cert_files("tests/data/reference/pki");
    assert_eq!(files.len(), 2, "{files:?}");
    let problems = validity_problems(
        &files,
        "copied from the upstream reference run; record a new run with a fresh PKI",
    );
    assert!(problems.is_empty(), "\n{}", problems.join("\n"));
}

#[test]
fn expired_and_not_yet_valid_certificates_are_so() {
    let now = unix_now();
    let (_, not_after) = validity(&certs("certs/expired.pem")[0]).expect("parses");
    assert!(
        not_after.unix_seconds() < now,
        "certs/expired.pem is still valid until {not_after}"
    );
    let (not_before, _) = validity(&certs("certs/notyet.pem")[0]).expect("parses");
    assert!(
        not_before.unix_seconds() > now + MIN_REMAINING.as_secs() as i64,
        "certs/notyet.pem becomes valid {not_before}, within 90 days: run scripts/gen-certs.sh"
    );
    // Only the leaf is meant to be out of its validity period.
    for name in ["expired", "notyet"] {
        let chain = path(&format!("certs/{name}-fullchain.pem"));
        let chain_certs = certs(&rel(&chain));
        assert_eq!(
            chain_certs.len(),
            3,
            "{name}-fullchain.pem is leaf, inter, root"
        );
        assert_eq!(chain_certs[0], certs(&format!("certs/{name}.pem"))[0]);
        assert_eq!(chain_certs[1..], certs("certs/fullchain.pem")[1..]);
    }
}

/// File names other code relies on.
const LAYOUT: &[&str] = &[
    "certs/ca.pem",
    "certs/ca.key",
    "certs/inter.pem",
    "certs/server.pem",
    "certs/fullchain.pem",
    "certs/server.key",
    "certs/client.pem",
    "certs/client.key",
    "certs/client-fullchain.pem",
    "certs/revoked-client.pem",
    "certs/revoked-client.key",
    "certs/crl.pem",
    "certs/crl.der",
    "certs/ocsp.der",
    "certs/other-ca.pem",
    "certs/other-ca.key",
    "certs/expired.pem",
    "certs/expired.key",
    "certs/expired-fullchain.pem",
    "certs/notyet.pem",
    "certs/notyet.key",
    "certs/notyet-fullchain.pem",
    "certs/README.md",
    "certs/rsa/ca.pem",
    "certs/rsa/inter.pem",
    "certs/rsa/server.pem",
    "certs/rsa/fullchain.pem",
    "certs/rsa/server.key",
    "certs/rsa/client.pem",
    "certs/rsa/client.key",
    "certs/rsa/crl.pem",
    "certs/rsa/crl.der",
    "certs/rsa/revoked-client.pem",
    "certs/rsa/revoked-client.key",
    "tests/data/bigchain/fullchain.pem",
    "tests/data/bigchain/server.key",
    "tests/data/bigchain/ca.pem",
    "tests/data/reference/pki/rsa-ca.pem",
    "tests/data/reference/pki/rsa-server-fullchain.pem",
    "tests/data/reference/pki/rsa-server.key",
    "scripts/gen-certs.sh",
];

#[test]
fn every_contracted_file_exists() {
    let missing: Vec<_> = LAYOUT.iter().filter(|file| !path(file).is_file()).collect();
    assert!(
        missing.is_empty(),
        "missing: {missing:?}; run scripts/gen-certs.sh"
    );
}

#[test]
fn chains_are_in_leaf_intermediate_root_order() {
    for dir in ["certs", "certs/rsa"] {
        let chain = certs(&format!("{dir}/fullchain.pem"));
        let expected = [
            certs(&format!("{dir}/server.pem")),
            certs(&format!("{dir}/inter.pem")),
            certs(&format!("{dir}/ca.pem")),
        ]
        .concat();
        assert_eq!(chain, expected, "{dir}/fullchain.pem");
        assert_eq!(certs(&format!("{dir}/server.pem")).len(), 1, "leaf only");
        config::load_certified_key(
            &rustls::crypto::aws_lc_rs::default_provider(),
            path(&format!("{dir}/fullchain.pem")),
            path(&format!("{dir}/server.key")),
        )
        .unwrap_or_else(|err| panic!("{err}"));
    }
}

fn server_verifier(ca: &str) -> Arc<WebPkiServerVerifier> {
    let mut roots = RootCertStore::empty();
    for cert in certs(ca) {
        roots.add(cert).expect("CA parses");
    }
    WebPkiServerVerifier::builder_with_provider(
        Arc::new(roots),
        Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
    )
    .build()
    .expect("verifier builds")
}

fn verify_server_chain(ca: &str, chain: &str, name: &str) -> Result<(), rustls::Error> {
    let chain = certs(chain);
    let name = ServerName::try_from(name.to_owned()).expect("valid name");
    server_verifier(ca)
        .verify_server_cert(&chain[0], &chain[1..], &name, &[], now())
        .map(|_| ())
}

#[test]
fn server_chains_verify_for_localhost_and_loopback_addresses() {
    for dir in ["certs", "certs/rsa"] {
        for name in ["localhost", "127.0.0.1", "::1"] {
            verify_server_chain(
                &format!("{dir}/ca.pem"),
                &format!("{dir}/fullchain.pem"),
                name,
            )
            .unwrap_or_else(|err| panic!("{dir} for {name}: {err}"));
        }
        let err = verify_server_chain(
            &format!("{dir}/ca.pem"),
            &format!("{dir}/fullchain.pem"),
            "example.com",
        )
        .expect_err("wrong name");
        assert!(
            matches!(
                err,
                rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { .. })
            ),
            "{err:?}"
        );
    }
}

#[test]
fn other_ca_and_client_certs_do_not_verify_as_servers() {
    let err = verify_server_chain("certs/other-ca.pem", "certs/fullchain.pem", "localhost")
        .expect_err("unrelated CA");
    assert_eq!(
        err,
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
    );
    // The client certificate has clientAuth, not serverAuth.
    let err = verify_server_chain("certs/ca.pem", "certs/client-fullchain.pem", "localhost")
        .expect_err("client certificate used as a server's");
    assert!(
        matches!(err, rustls::Error::InvalidCertificate(_)),
        "{err:?}"
    );
}

#[test]
fn client_certificates_verify_and_the_crl_revokes_one() {
    for dir in ["certs", "certs/rsa"] {
        let mut roots = RootCertStore::empty();
        roots
            .add(certs(&format!("{dir}/ca.pem")).remove(0))
            .expect("CA parses");
        let crls = config::load_crls([path(&format!("{dir}/crl.der"))]).expect("DER CRL");
        assert_eq!(
            crls,
            config::load_crls([path(&format!("{dir}/crl.pem"))]).expect("PEM CRL"),
            "{dir}: crl.der and crl.pem hold the same CRL"
        );
        let verifier = WebPkiClientVerifier::builder_with_provider(
            Arc::new(roots),
            Arc::new(rustls::crypto::aws_lc_rs::default_provider()),
        )
        .with_crls(crls)
        .build()
        .expect("verifier with the CRL builds");

        let good = certs(&format!("{dir}/client.pem"));
        verifier
            .verify_client_cert(&good[0], &[], now())
            .unwrap_or_else(|err| panic!("{dir}/client.pem: {err}"));
        let revoked = certs(&format!("{dir}/revoked-client.pem"));
        let err = verifier
            .verify_client_cert(&revoked[0], &[], now())
            .expect_err("revoked");
        assert_eq!(
            err,
            rustls::Error::InvalidCertificate(CertificateError::Revoked),
            "{dir}/revoked-client.pem"
        );
    }
}

#[test]
fn ocsp_staple_loads() {
    let ocsp = config::load_ocsp(path("certs/ocsp.der")).unwrap_or_else(|err| panic!("{err}"));
    assert!(ocsp.len() > 100, "a signed response, not a bare status");
}

#[test]
fn big_chain_exceeds_one_record_and_verifies_for_localhost() {
    let chain = certs("tests/data/bigchain/fullchain.pem");
    let total: usize = chain.iter().map(|cert| cert.len()).sum();
    assert!(
        total > 16 * 1024,
        "bigchain is only {total}B; it must not fit one record"
    );
    assert!(
        total < 60 * 1024,
        "bigchain is {total}B; webpki refuses 64 KiB messages"
    );
    verify_server_chain(
        "tests/data/bigchain/ca.pem",
        "tests/data/bigchain/fullchain.pem",
        "localhost",
    )
    .unwrap_or_else(|err| panic!("bigchain for localhost: {err}"));
}
