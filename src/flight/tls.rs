//! TLS for the Flight endpoint, and the principal a verified client
//! certificate names (mTLS).

use tonic::transport::server::{TcpConnectInfo, TlsConnectInfo};
use tonic::transport::{Certificate, Identity, ServerTlsConfig};
use x509_cert::der::Decode;

/// The listener's TLS: its certificate and key (PEM), and when client
/// certificates are required, the CA that must have signed them.
pub fn server_config(cert: &[u8], key: &[u8], client_ca: Option<&[u8]>) -> ServerTlsConfig {
    let config = ServerTlsConfig::new().identity(Identity::from_pem(cert, key));
    match client_ca {
        Some(ca) => config.client_ca_root(Certificate::from_pem(ca)),
        None => config,
    }
}

/// The subject of the client certificate TLS verified for this request:
/// its common name, or the whole subject when it has none.
pub fn client_subject<B>(request: &http::Request<B>) -> Option<String> {
    let info = request.extensions().get::<TlsConnectInfo<TcpConnectInfo>>()?;
    let certificates = info.peer_certs()?;
    let leaf = certificates.first()?;
    let certificate = x509_cert::Certificate::from_der(leaf.as_ref()).ok()?;
    subject_name(&certificate.tbs_certificate.subject.to_string())
}

/// `CN=alice,O=Acme` → `alice`.
fn subject_name(subject: &str) -> Option<String> {
    let common_name = subject.split(',').find_map(|part| part.trim().strip_prefix("CN="));
    let name = common_name.unwrap_or(subject).trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_common_name_is_the_principal() {
        assert_eq!(super::subject_name("CN=alice,O=Acme").as_deref(), Some("alice"));
        assert_eq!(super::subject_name("O=Acme,CN=bob").as_deref(), Some("bob"));
        assert_eq!(super::subject_name("O=Acme").as_deref(), Some("O=Acme"));
        assert_eq!(super::subject_name(""), None);
    }
}
