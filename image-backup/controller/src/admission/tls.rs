//! The webhook's certificates: a self-signed CA (10 years) and a serving certificate it signs
//! (1 year) for the Service's DNS names, both renewed at two thirds of their life; and the
//! rustls certificate resolver that lets a running server switch to a renewed certificate
//! without a restart.
//!
//! Keys are ECDSA P-256, made with rcgen on ring. Validity is whole days (a day's margin
//! before "now", so a node with a clock slightly behind still accepts a fresh certificate).

use std::sync::{Arc, RwLock};

use k8s_openapi::jiff::civil::Date;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{Span, Timestamp};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

pub const CA_DAYS: i64 = 3650;
pub const SERVING_DAYS: i64 = 365;
/// Common name of the CA; the serving certificate's issuer must be exactly this.
const CA_NAME: &str = "image-backup-webhook-ca";

/// Keys of the Secret.
pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const TLS_CERT: &str = "tls.crt";
pub const TLS_KEY: &str = "tls.key";

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("loading the serving certificate: {0}")]
    Load(String),
}

/// PEM documents, as stored in the Secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Bundle {
    pub ca_cert: String,
    pub ca_key: String,
    pub cert: String,
    pub key: String,
}

/// What to do with the bundle found in the Secret.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Renewal {
    /// Valid, for the right names, and not yet two thirds through its life.
    Keep,
    /// The CA is fine; issue a new serving certificate with it.
    Serving,
    /// Start over: a new CA and serving certificate.
    All,
}

/// Decides what `bundle` needs at `now` for serving `dns_names`.
pub fn renewal(bundle: Option<&Bundle>, dns_names: &[String], now: Timestamp) -> Renewal {
    let Some(bundle) = bundle else {
        return Renewal::All;
    };
    let ca_ok = validity(&bundle.ca_cert).is_some_and(|v| !due(v, now))
        && KeyPair::from_pem(&bundle.ca_key).is_ok();
    if !ca_ok {
        return Renewal::All;
    }
    let serving_ok = validity(&bundle.cert).is_some_and(|v| !due(v, now))
        && serves(bundle, dns_names, now)
        && certified_key(bundle).is_ok();
    if serving_ok {
        Renewal::Keep
    } else {
        Renewal::Serving
    }
}

/// Past two thirds of `(not_before, not_after)`.
fn due((not_before, not_after): (Timestamp, Timestamp), now: Timestamp) -> bool {
    let life = not_after.as_second() - not_before.as_second();
    now.as_second() >= not_before.as_second() + life * 2 / 3
}

/// Whether the serving certificate chains to the bundle's CA and is valid now for every name.
fn serves(bundle: &Bundle, dns_names: &[String], now: Timestamp) -> bool {
    use rustls::client::danger::ServerCertVerifier;
    let (Ok(ca), Ok(cert)) = (
        CertificateDer::from_pem_slice(bundle.ca_cert.as_bytes()),
        CertificateDer::from_pem_slice(bundle.cert.as_bytes()),
    ) else {
        return false;
    };
    let mut roots = rustls::RootCertStore::empty();
    if roots.add(ca).is_err() {
        return false;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let Ok(verifier) =
        rustls::client::WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider)
            .build()
    else {
        return false;
    };
    let at =
        UnixTime::since_unix_epoch(std::time::Duration::from_secs(now.as_second().max(0) as u64));
    dns_names.iter().all(|name| {
        ServerName::try_from(name.clone()).is_ok_and(|server| {
            verifier
                .verify_server_cert(&cert, &[], &server, &[], at)
                .is_ok()
        })
    })
}

/// A new CA and a serving certificate for `dns_names`, valid from the day before `now`.
pub fn generate(dns_names: &[String], now: Timestamp) -> Result<Bundle, TlsError> {
    let ca_key = KeyPair::generate()?;
    let ca = ca_params(now)?.self_signed(&ca_key)?;
    let ca_key_pem = ca_key.serialize_pem();
    let (cert, key) = issue(ca_key, dns_names, now)?;
    Ok(Bundle {
        ca_cert: ca.pem(),
        ca_key: ca_key_pem,
        cert,
        key,
    })
}

/// `bundle` with a new serving certificate from its CA.
pub fn reissue(bundle: &Bundle, dns_names: &[String], now: Timestamp) -> Result<Bundle, TlsError> {
    let ca_key = KeyPair::from_pem(&bundle.ca_key)?;
    let (cert, key) = issue(ca_key, dns_names, now)?;
    Ok(Bundle {
        cert,
        key,
        ..bundle.clone()
    })
}

fn ca_params(now: Timestamp) -> Result<CertificateParams, rcgen::Error> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, CA_NAME);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    valid_for(&mut params, now, CA_DAYS);
    Ok(params)
}

/// A serving certificate and key signed by the CA key. The issuer is rebuilt from the CA's
/// fixed name and key, so renewing needs no certificate parser.
fn issue(
    ca_key: KeyPair,
    dns_names: &[String],
    now: Timestamp,
) -> Result<(String, String), rcgen::Error> {
    let issuer = Issuer::new(ca_params(now)?, ca_key);
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(dns_names.to_vec())?;
    params.distinguished_name = DistinguishedName::new();
    if let Some(first) = dns_names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    valid_for(&mut params, now, SERVING_DAYS);
    let cert = params.signed_by(&key, &issuer)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// Valid from the day before `now` to `length` days after it.
fn valid_for(params: &mut CertificateParams, now: Timestamp, length: i64) {
    let today = now.to_zoned(TimeZone::UTC).date();
    let at = |date: Date| {
        rcgen::date_time_ymd(
            i32::from(date.year()),
            date.month().unsigned_abs(),
            date.day().unsigned_abs(),
        )
    };
    let shift = |n: i64| today.checked_add(Span::new().days(n)).unwrap_or(today);
    params.not_before = at(shift(-1));
    params.not_after = at(shift(length));
}

/// `(notBefore, notAfter)` of the first certificate of a PEM document.
pub fn validity(pem: &str) -> Option<(Timestamp, Timestamp)> {
    let der = CertificateDer::from_pem_slice(pem.as_bytes()).ok()?;
    der::validity(&der)
}

/// The serving certificate (with the CA after it) and key, for rustls.
pub fn certified_key(bundle: &Bundle) -> Result<Arc<CertifiedKey>, TlsError> {
    let load = |what: &str, e: &dyn std::fmt::Display| TlsError::Load(format!("{what}: {e}"));
    let cert =
        CertificateDer::from_pem_slice(bundle.cert.as_bytes()).map_err(|e| load(TLS_CERT, &e))?;
    let ca =
        CertificateDer::from_pem_slice(bundle.ca_cert.as_bytes()).map_err(|e| load(CA_CERT, &e))?;
    let key =
        PrivateKeyDer::from_pem_slice(bundle.key.as_bytes()).map_err(|e| load(TLS_KEY, &e))?;
    let key =
        rustls::crypto::ring::sign::any_supported_type(&key).map_err(|e| load(TLS_KEY, &e))?;
    Ok(Arc::new(CertifiedKey::new(vec![cert, ca], key)))
}

/// The certificate a running server presents; [`ServingCert::set`] switches it for every new
/// handshake. Before the first `set`, handshakes fail (and the API server, with
/// `failurePolicy: Ignore`, admits pods unchanged).
#[derive(Debug, Default)]
pub struct ServingCert(RwLock<Option<Arc<CertifiedKey>>>);

impl ServingCert {
    pub fn set(&self, key: Arc<CertifiedKey>) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Some(key);
    }

    pub fn is_set(&self) -> bool {
        self.0.read().unwrap_or_else(|e| e.into_inner()).is_some()
    }
}

impl ResolvesServerCert for ServingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// The rustls server configuration over `cert`: ring, HTTP/1.1.
pub fn server_config(cert: Arc<ServingCert>) -> Result<rustls::ServerConfig, rustls::Error> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(cert);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// Just enough DER to read a certificate's validity (RFC 5280 4.1): no parser dependency for
/// two dates.
mod der {
    use k8s_openapi::jiff::Timestamp;
    use k8s_openapi::jiff::civil::DateTime;
    use k8s_openapi::jiff::tz::TimeZone;

    const SEQUENCE: u8 = 0x30;
    const VERSION: u8 = 0xa0;
    const UTC_TIME: u8 = 0x17;
    const GENERALIZED_TIME: u8 = 0x18;

    /// `(tag, content, rest)` of the first element of `input`.
    fn element(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let n = usize::from(first & 0x7f);
            if n == 0 || n > 4 {
                return None;
            }
            let (bytes, after) = rest.split_at_checked(n)?;
            rest = after;
            bytes
                .iter()
                .fold(0usize, |acc, b| (acc << 8) | usize::from(*b))
        };
        let (content, rest) = rest.split_at_checked(len)?;
        Some((tag, content, rest))
    }

    pub fn validity(der: &[u8]) -> Option<(Timestamp, Timestamp)> {
        let (SEQUENCE, certificate, _) = element(der)? else {
            return None;
        };
        let (SEQUENCE, tbs, _) = element(certificate)? else {
            return None;
        };
        let mut rest = tbs;
        if rest.first() == Some(&VERSION) {
            rest = element(rest)?.2;
        }
        // serialNumber, signature, issuer.
        for _ in 0..3 {
            rest = element(rest)?.2;
        }
        let (SEQUENCE, validity, _) = element(rest)? else {
            return None;
        };
        let (tag, not_before, rest) = element(validity)?;
        let not_before = time(tag, not_before)?;
        let (tag, not_after, _) = element(rest)?;
        Some((not_before, time(tag, not_after)?))
    }

    /// `YYMMDDHHMMSSZ` (years 1950-2049) or `YYYYMMDDHHMMSSZ`.
    fn time(tag: u8, bytes: &[u8]) -> Option<Timestamp> {
        let text = std::str::from_utf8(bytes).ok()?.strip_suffix('Z')?;
        let (year, rest) = match tag {
            UTC_TIME => {
                let yy: i16 = text.get(..2)?.parse().ok()?;
                (if yy >= 50 { 1900 + yy } else { 2000 + yy }, text.get(2..)?)
            }
            GENERALIZED_TIME => (text.get(..4)?.parse().ok()?, text.get(4..)?),
            _ => return None,
        };
        if rest.len() != 10 {
            return None;
        }
        let n = |i: usize| rest.get(i..i + 2)?.parse::<i8>().ok();
        DateTime::new(year, n(0)?, n(2)?, n(4)?, n(6)?, n(8)?, 0)
            .ok()?
            .to_zoned(TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        [
            "image-backup-webhook",
            "image-backup-webhook.image-backup",
            "image-backup-webhook.image-backup.svc",
        ]
        .map(String::from)
        .to_vec()
    }

    fn at(date: &str) -> Timestamp {
        format!("{date}T12:00:00Z").parse().unwrap()
    }

    #[test]
    fn generated_certificates_have_the_planned_lives() {
        let now = at("2026-12-06");
        let bundle = generate(&names(), now).unwrap();
        let (ca_from, ca_until) = validity(&bundle.ca_cert).unwrap();
        let (from, until) = validity(&bundle.cert).unwrap();
        assert_eq!(ca_from.to_string(), "2026-12-05T00:00:00Z");
        assert_eq!(from, ca_from);
        assert_eq!(until.to_string(), "2027-12-06T00:00:00Z");
        assert_eq!(ca_until.to_string(), "2036-12-03T00:00:00Z");
        assert_eq!(renewal(Some(&bundle), &names(), now), Renewal::Keep);
        assert!(certified_key(&bundle).is_ok());
    }

    #[test]
    fn renewal_at_two_thirds_of_life_and_for_other_names() {
        let bundle = generate(&names(), at("2026-01-01")).unwrap();
        assert_eq!(
            renewal(Some(&bundle), &names(), at("2026-08-30")),
            Renewal::Keep
        );
        // Two thirds of 366 days from 2025-12-31 is 2026-09-01.
        assert_eq!(
            renewal(Some(&bundle), &names(), at("2026-09-02")),
            Renewal::Serving
        );
        let renewed = reissue(&bundle, &names(), at("2026-09-02")).unwrap();
        assert_eq!(renewed.ca_cert, bundle.ca_cert);
        assert_eq!(
            renewal(Some(&renewed), &names(), at("2026-09-02")),
            Renewal::Keep
        );
        // A new service name needs a new serving certificate, not a new CA.
        let mut other = names();
        other.push("renamed.image-backup.svc".into());
        assert_eq!(
            renewal(Some(&bundle), &other, at("2026-02-01")),
            Renewal::Serving
        );
        // The CA itself at two thirds of ten years, or unreadable: start over.
        assert_eq!(
            renewal(Some(&bundle), &names(), at("2032-09-01")),
            Renewal::All
        );
        let broken = Bundle {
            ca_key: "garbage".into(),
            ..bundle.clone()
        };
        assert_eq!(
            renewal(Some(&broken), &names(), at("2026-02-01")),
            Renewal::All
        );
        assert_eq!(renewal(None, &names(), at("2026-02-01")), Renewal::All);
    }

    #[test]
    fn a_serving_certificate_of_another_ca_is_replaced() {
        let now = at("2026-03-01");
        let a = generate(&names(), now).unwrap();
        let b = generate(&names(), now).unwrap();
        let mixed = Bundle {
            cert: b.cert.clone(),
            key: b.key.clone(),
            ..a
        };
        assert_eq!(renewal(Some(&mixed), &names(), now), Renewal::Serving);
    }

    #[test]
    fn der_times_in_both_encodings() {
        // UTCTime up to 2049, GeneralizedTime after (the CA's ten years cross it for
        // certificates made from 2040 on).
        let bundle = generate(&names(), at("2045-06-15")).unwrap();
        let (_, ca_until) = validity(&bundle.ca_cert).unwrap();
        assert_eq!(ca_until.to_string(), "2055-06-13T00:00:00Z");
        assert_eq!(validity("not a certificate"), None);
    }
}
