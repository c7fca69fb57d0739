// Hand-written, not a crate: two fixed fields need far fewer lines than an X.509/DER dependency.
//! The little DER reading the configuration needs: an OCSP response's status and a
//! certificate's issuer.

#[allow(unused_imports)] // The std prelude: the crate root is no_std.
use std::prelude::rust_2021::*;

/// Checks that `ocsp` is an `OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, .. }`
/// (RFC 6960 §4.2.1) filling the whole file, with status `successful` (0).
pub(super) fn check_ocsp_response(ocsp: &[u8]) -> Result<(), String> {
    const SEQUENCE: u8 = 0x30;
    const ENUMERATED: u8 = 0x0a;
    let not_der = || "not a DER OCSPResponse".to_owned();
    let (tag, header_len, content_len) = der_header(ocsp).ok_or_else(not_der)?;
    if tag != SEQUENCE || header_len + content_len != ocsp.len() {
        return Err(not_der());
    }
    let content = &ocsp[header_len..];
    match der_header(content) {
        Some((ENUMERATED, 2, 1)) if content.len() > 2 => match content[2] {
            0 => Ok(()),
            status => Err(format!("response status is {status}, not successful (0)")),
        },
        _ => Err(not_der()),
    }
}

/// The tag, header length and content length of the DER element at the start of `der`.
/// Only single-byte tags are handled; that is all the OCSP check needs.
fn der_header(der: &[u8]) -> Option<(u8, usize, usize)> {
    let (&tag, rest) = der.split_first()?;
    let (&first, rest) = rest.split_first()?;
    if first < 0x80 {
        return Some((tag, 2, usize::from(first)));
    }
    let num_bytes = usize::from(first & 0x7f);
    if num_bytes == 0 || num_bytes > std::mem::size_of::<usize>() || rest.len() < num_bytes {
        return None;
    }
    let len = rest[..num_bytes]
        .iter()
        .fold(0usize, |len, &byte| (len << 8) | usize::from(byte));
    Some((tag, 2 + num_bytes, len))
}

/// The issuer of a DER certificate as `CN=…, O=…` (the attributes people
/// recognise), or `None` if it does not parse.
pub fn issuer_name(cert: &[u8]) -> Option<String> {
    // Certificate ::= SEQUENCE { tbsCertificate SEQUENCE { [0] version OPTIONAL,
    //   serialNumber, signature AlgorithmIdentifier, issuer Name, ... } ... }
    /// Takes the next element off `fields`: its tag and contents.
    fn skip<'a>(fields: &mut &'a [u8]) -> Option<(u8, &'a [u8])> {
        let (tag, header, len) = der_header(fields)?;
        let element = fields.get(header..header + len)?;
        *fields = fields.get(header + len..)?;
        Some((tag, element))
    }
    let (_, header, _) = der_header(cert)?;
    let tbs = cert.get(header..)?;
    let (_, header, len) = der_header(tbs)?;
    let mut fields = tbs.get(header..header + len)?;
    let (tag, _) = skip(&mut fields)?;
    if tag == 0xa0 {
        skip(&mut fields)?; // the serial number follows the version
    }
    skip(&mut fields)?; // signature algorithm
    let (_, mut rdns) = skip(&mut fields)?;
    let mut parts = Vec::new();
    while !rdns.is_empty() {
        let (_, mut set) = skip(&mut rdns)?;
        while !set.is_empty() {
            let (_, mut attribute) = skip(&mut set)?;
            let (_, oid) = skip(&mut attribute)?;
            let (_, value) = skip(&mut attribute)?;
            let name = match oid {
                [0x55, 0x04, 0x03] => "CN",
                [0x55, 0x04, 0x0a] => "O",
                [0x55, 0x04, 0x0b] => "OU",
                [0x55, 0x04, 0x06] => "C",
                _ => continue,
            };
            parts.push(format!("{name}={}", String::from_utf8_lossy(value)));
        }
    }
    Some(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_header_reads_short_and_long_lengths() {
        assert_eq!(der_header(&[0x30, 0x03, 1, 2, 3]), Some((0x30, 2, 3)));
        assert_eq!(der_header(&[0x30, 0x82, 0x01, 0x00]), Some((0x30, 4, 256)));
        assert_eq!(
            der_header(&[0x30, 0x80]),
            None,
            "indefinite length is not DER"
        );
        assert_eq!(der_header(&[0x30]), None);
    }

    #[test]
    fn ocsp_check_rejects_unsuccessful_and_truncated_responses() {
        // OCSPResponse { responseStatus: tryLater (3) }
        assert_eq!(
            check_ocsp_response(&[0x30, 0x03, 0x0a, 0x01, 0x03]),
            Err("response status is 3, not successful (0)".to_owned())
        );
        assert!(check_ocsp_response(&[0x30, 0x03, 0x0a, 0x01, 0x00]).is_ok());
        assert!(check_ocsp_response(&[0x30, 0x05, 0x0a, 0x01, 0x00]).is_err());
        assert!(check_ocsp_response(b"-----BEGIN").is_err());
        assert!(check_ocsp_response(b"").is_err());
    }
}
