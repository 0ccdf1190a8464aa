//! What every HTTP client of the engine (trackers, web seeds) shares: how
//! certificates are verified, the redirect rule against request forgery
//! and readable error messages.

use std::net::IpAddr;

use reqwest::redirect;
use url::{Host, Url};

/// The start of every engine HTTP client: our user agent, the redirect
/// rule, and certificates always verified by rustls against the system's
/// roots (the platform store, `/etc/ssl/certs` on Linux, or the bundle
/// named by `SSL_CERT_FILE`), so an origin signed by a CA the system trusts
/// works and anything else fails the handshake.
pub(crate) fn client_builder(max_redirects: usize) -> reqwest::ClientBuilder {
    reqwest::Client::builder()
        .user_agent(concat!("Piecewise/", env!("CARGO_PKG_VERSION")))
        .redirect(redirect_policy(max_redirects))
}

/// A redirect policy following at most `max_redirects` hops, only to
/// http(s), and never from a public host to a loopback or private address
/// (a public server must not make us reach into the local network).
fn redirect_policy(max_redirects: usize) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        match redirect_refusal(attempt.previous(), attempt.url(), max_redirects) {
            Some(reason) => attempt.error(reason),
            None => attempt.follow(),
        }
    })
}

/// Why a redirect from the chain `previous` (first: the URL asked) to
/// `next` is refused, or `None` to follow it.
pub(crate) fn redirect_refusal(
    previous: &[Url],
    next: &Url,
    max_redirects: usize,
) -> Option<&'static str> {
    let from_local = previous.first().is_some_and(is_local);
    if previous.len() > max_redirects {
        Some("too many redirects")
    } else if !matches!(next.scheme(), "http" | "https") {
        Some("redirect to a scheme other than http or https")
    } else if is_local(next) && !from_local {
        Some("redirect from a public host to a local address")
    } else {
        None
    }
}

/// Whether a URL names this machine or a private network by address.
pub(crate) fn is_local(url: &Url) -> bool {
    let ip = match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip),
        Some(Host::Ipv6(ip)) => IpAddr::V6(ip),
        Some(Host::Domain(name)) => return name.eq_ignore_ascii_case("localhost"),
        None => return false,
    };
    match ip {
        IpAddr::V4(ip) => {
            ip.is_loopback() || ip.is_private() || ip.is_link_local() || ip.is_unspecified()
        }
        IpAddr::V6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || ip.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback() || v4.is_private())
                // Unique local (fc00::/7) and link-local (fe80::/10).
                || (ip.segments()[0] & 0xfe00) == 0xfc00
                || (ip.segments()[0] & 0xffc0) == 0xfe80
        }
    }
}

/// The error with its causes: reqwest's own message alone says little.
pub(crate) fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    #[test]
    fn local_addresses_are_recognised_for_the_redirect_rule() {
        for local in [
            "http://127.0.0.1/",
            "http://localhost:80/",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://[::1]/",
            "http://[fd00::1]/",
            "http://169.254.1.1/",
        ] {
            assert!(is_local(&url(local)), "{local}");
        }
        for public in [
            "http://93.184.216.34/",
            "https://tracker.example/",
            "http://[2001:db8::1]/",
        ] {
            assert!(!is_local(&url(public)), "{public}");
        }
    }

    #[test]
    fn redirects_from_public_hosts_to_local_addresses_are_refused() {
        let public = [url("https://origin.example/movie.mkv")];
        for local in ["http://127.0.0.1/movie.mkv", "http://192.168.1.1/admin"] {
            assert_eq!(
                redirect_refusal(&public, &url(local), 3),
                Some("redirect from a public host to a local address"),
            );
        }
        assert_eq!(
            redirect_refusal(&public, &url("https://cdn.example/movie.mkv"), 3),
            None
        );
        // A local origin may redirect within the local network.
        let local = [url("http://127.0.0.1:8080/movie.mkv")];
        assert_eq!(
            redirect_refusal(&local, &url("http://127.0.0.1:8081/m"), 3),
            None
        );
    }

    #[test]
    fn redirects_to_other_schemes_or_past_the_limit_are_refused() {
        let start = url("http://127.0.0.1/a");
        assert_eq!(
            redirect_refusal(std::slice::from_ref(&start), &url("file:///etc/passwd"), 3),
            Some("redirect to a scheme other than http or https")
        );
        let chain = vec![start.clone(); 4];
        assert_eq!(
            redirect_refusal(&chain, &start, 3),
            Some("too many redirects")
        );
    }
}
