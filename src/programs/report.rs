//! A connection's failure in words, for the programs' one-line errors and
//! logs: the library's message, except that a certificate's validity times
//! are UTC dates rather than seconds since the epoch (the library has no
//! calendar; the programs have `jiff`).

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

use core::fmt;

use rustls::pki_types::UnixTime;
use rustls::CertificateError;

use crate::error::{alert_name, Error};
use crate::programs::net::NetError;

/// [`NetError`]'s message, with dates: `TLS error: invalid peer certificate:
/// expired: not valid after 2025-11-28 17:52:35 UTC, now 2026-12-02
/// 05:03:46 UTC (sent fatal alert certificate_expired)`.
pub struct Readable<'a>(pub &'a NetError);

impl fmt::Display for Readable<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let NetError::Tls(Error::Tls {
            error: rustls::Error::InvalidCertificate(certificate),
            alert_sent,
        }) = self.0
        else {
            return write!(f, "{}", self.0);
        };
        let Some(validity) = validity(certificate) else {
            return write!(f, "{}", self.0);
        };
        // The library's wording around the reason (NetError's and
        // Error's), which the tests compare.
        write!(f, "TLS error: invalid peer certificate: {validity}")?;
        if let Some(alert) = alert_sent {
            write!(f, " (sent fatal alert {})", alert_name(*alert))?;
        }
        Ok(())
    }
}

/// Why a certificate was not valid at the time it was checked, with dates;
/// `None` for other certificate errors.
fn validity(error: &CertificateError) -> Option<String> {
    match error {
        CertificateError::ExpiredContext { time, not_after } => Some(format!(
            "expired: not valid after {}, now {}",
            utc(*not_after),
            utc(*time)
        )),
        CertificateError::NotValidYetContext { time, not_before } => Some(format!(
            "not valid yet: not valid before {}, now {}",
            utc(*not_before),
            utc(*time)
        )),
        _ => None,
    }
}

/// `2025-11-28 17:52:35 UTC`; seconds since the epoch past jiff's range
/// (year 9999), which no certificate time parsed by webpki reaches.
pub fn utc(time: UnixTime) -> String {
    let secs = time.as_secs();
    match i64::try_from(secs).map(jiff::Timestamp::from_second) {
        Ok(Ok(timestamp)) => timestamp.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
        _ => format!("{secs}s since the epoch"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::AlertDescription;

    fn expired(alert_sent: Option<AlertDescription>) -> NetError {
        NetError::Tls(Error::Tls {
            error: rustls::Error::InvalidCertificate(CertificateError::ExpiredContext {
                // 2026-12-02 05:03:46 and 2025-11-28 17:52:35.
                time: UnixTime::since_unix_epoch(core::time::Duration::from_secs(1_796_187_826)),
                not_after: UnixTime::since_unix_epoch(core::time::Duration::from_secs(
                    1_764_352_355,
                )),
            }),
            alert_sent,
        })
    }

    #[test]
    fn validity_times_are_utc_dates() {
        let error = expired(Some(AlertDescription::CertificateExpired));
        assert_eq!(
            Readable(&error).to_string(),
            "TLS error: invalid peer certificate: expired: not valid after 2025-11-28 17:52:35 \
             UTC, now 2026-12-02 05:03:46 UTC (sent fatal alert certificate_expired)"
        );
        let not_yet = NetError::Tls(Error::Tls {
            error: rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext {
                time: UnixTime::since_unix_epoch(core::time::Duration::from_secs(0)),
                not_before: UnixTime::since_unix_epoch(core::time::Duration::from_secs(86_399)),
            }),
            alert_sent: None,
        });
        assert_eq!(
            Readable(&not_yet).to_string(),
            "TLS error: invalid peer certificate: not valid yet: not valid before 1970-01-01 \
             23:59:59 UTC, now 1970-01-01 00:00:00 UTC"
        );
    }

    /// Only the reason differs from the library's message: the wording
    /// around it is the same, so the two cannot drift apart unnoticed.
    #[test]
    fn the_rest_is_the_library_message() {
        for alert in [None, Some(AlertDescription::CertificateExpired)] {
            let error = expired(alert);
            let (ours, library) = (Readable(&error).to_string(), error.to_string());
            let (our_head, our_tail) = ours.split_once(": not valid after").unwrap();
            assert!(
                library.starts_with(&format!("{our_head} (not after")),
                "{library}"
            );
            let tail = our_tail.split_once(" UTC").unwrap().1;
            let tail = tail.split_once(" UTC").unwrap().1;
            assert!(
                library.ends_with(&format!("s){tail}")),
                "{library} / {ours}"
            );
        }
        let other = NetError::Tls(Error::Tls {
            error: rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer),
            alert_sent: Some(AlertDescription::UnknownCA),
        });
        assert_eq!(Readable(&other).to_string(), other.to_string());
    }

    #[test]
    fn times_past_the_calendar_stay_seconds() {
        let far = UnixTime::since_unix_epoch(core::time::Duration::from_secs(u64::MAX));
        assert_eq!(utc(far), format!("{}s since the epoch", u64::MAX));
    }
}
