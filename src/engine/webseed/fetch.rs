//! One byte-range request to a web seed, checked before its bytes are
//! trusted with anything but the hash check: the status, the range the
//! server says it sent, the length, and a cap on what is buffered.

use std::ops::Range;
use std::sync::OnceLock;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{CONTENT_RANGE, RANGE};
use url::Url;

use super::{BlockAssembly, WebSeedError};
use crate::engine::http_guard::{client_builder, error_chain};
use crate::engine::limits::{CONNECT_TIMEOUT, MAX_WEB_SEED_REDIRECTS, MAX_WEB_SEED_RESPONSE_BYTES};
use crate::engine::rate_limit::RateLimiter;

/// One client for every web seed: its pool keeps connections alive
/// between ranges (HTTP/1.1 keep-alive, or HTTP/2 over TLS), and
/// certificates are verified as `http_guard::client_builder` says.
pub(super) fn client() -> Result<&'static reqwest::Client, WebSeedError> {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    if let Some(client) = CLIENT.get() {
        return Ok(client);
    }
    let client = client_builder(MAX_WEB_SEED_REDIRECTS)
        .connect_timeout(CONNECT_TIMEOUT)
        .build()
        .map_err(|e| WebSeedError::Http(error_chain(&e)))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Fetches bytes `range` of the file at `url` (`file_length` bytes long)
/// into `blocks` as they arrive, the server silent for at most `silence`.
pub(super) async fn fetch_range(
    client: &reqwest::Client,
    url: &Url,
    range: Range<u64>,
    file_length: u64,
    download_limit: &RateLimiter,
    silence: Duration,
    blocks: &mut BlockAssembly,
) -> Result<(), WebSeedError> {
    let asked = range.end.saturating_sub(range.start);
    if asked == 0 {
        return Ok(());
    }
    if asked > MAX_WEB_SEED_RESPONSE_BYTES {
        return Err(WebSeedError::TooLarge {
            limit: MAX_WEB_SEED_RESPONSE_BYTES,
        });
    }
    let request = client
        .get(url.clone())
        .header(RANGE, format!("bytes={}-{}", range.start, range.end - 1))
        .send();
    let mut response = tokio::time::timeout(silence, request)
        .await
        .map_err(|_| WebSeedError::Silent(silence))?
        .map_err(|e| WebSeedError::Http(error_chain(&e)))?;
    if response
        .content_length()
        .is_some_and(|len| len > MAX_WEB_SEED_RESPONSE_BYTES)
    {
        return Err(WebSeedError::TooLarge {
            limit: MAX_WEB_SEED_RESPONSE_BYTES,
        });
    }
    match response.status() {
        StatusCode::PARTIAL_CONTENT => {
            let header = response
                .headers()
                .get(CONTENT_RANGE)
                .and_then(|value| value.to_str().ok())
                .unwrap_or_default();
            if content_range(header) != Some((range.start, range.end - 1)) {
                return Err(WebSeedError::WrongRange {
                    asked: format!("{}-{}", range.start, range.end - 1),
                    got: header.to_owned(),
                });
            }
        }
        // A whole file is what we asked for only if the range was the file.
        StatusCode::OK if range.start == 0 && range.end == file_length => {}
        StatusCode::OK => return Err(WebSeedError::IgnoredRange),
        status => return Err(WebSeedError::Status(status.as_u16())),
    }
    let mut received = 0u64;
    loop {
        let chunk = tokio::time::timeout(silence, response.chunk())
            .await
            .map_err(|_| WebSeedError::Silent(silence))?
            .map_err(|e| WebSeedError::Http(error_chain(&e)))?;
        let Some(chunk) = chunk else {
            break;
        };
        received += chunk.len() as u64;
        if received > asked {
            return Err(WebSeedError::TooLarge { limit: asked });
        }
        download_limit.acquire(chunk.len() as u64).await;
        blocks.push(&chunk).await?;
    }
    if received < asked {
        return Err(WebSeedError::Short {
            got: received,
            asked,
        });
    }
    Ok(())
}

/// First and last byte of a `Content-Range: bytes FIRST-LAST/TOTAL` header.
fn content_range(header: &str) -> Option<(u64, u64)> {
    let (span, _total) = header.strip_prefix("bytes ")?.split_once('/')?;
    let (first, last) = span.split_once('-')?;
    Some((first.trim().parse().ok()?, last.trim().parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_header_is_parsed_strictly() {
        assert_eq!(content_range("bytes 0-99/1000"), Some((0, 99)));
        assert_eq!(content_range("bytes 5-9/*"), Some((5, 9)));
        for bad in [
            "",
            "bytes */1000",
            "items 0-9/10",
            "bytes 0-x/10",
            "bytes 0-9",
        ] {
            assert_eq!(content_range(bad), None, "{bad}");
        }
    }
}
