//! The app list decoded while it arrives ([`crate::observed::streamed`]), converting each app
//! as it is parsed ([`ObservedList`]): neither the whole body nor the whole list of DTOs is
//! ever in memory, and a body larger than a bound is refused instead of read.

use std::sync::Arc;

use galley_common::observed::{AppSnapshot, ObservedApp};

use super::MarathonError;
use super::dto::ListSeed;
use crate::observed::streamed::{self, StreamedError};

/// The largest list body accepted: ten times that of 50,000 apps with a task each.
pub(super) const MAX_LIST_BYTES: u64 = 1 << 30;

/// Decodes a success response's body as an app list, an app equal to one in `held` as that
/// same `Arc`.
pub(super) async fn decode_app_list(
    op: &'static str,
    url: String,
    resp: reqwest::Response,
    limit: u64,
    held: AppSnapshot,
) -> Result<Vec<Arc<ObservedApp>>, MarathonError> {
    match streamed::decode_seed(resp, limit, ListSeed { held }).await {
        Ok(list) => Ok(list),
        Err(StreamedError::Request(source)) => Err(MarathonError::Request { op, url, source }),
        Err(StreamedError::TooLarge) => Err(MarathonError::TooLarge { op, url, limit }),
        Err(StreamedError::Decode(source)) => Err(MarathonError::Decode { op, url, source }),
    }
}

#[cfg(test)]
mod tests {
    use tokio::io::AsyncWriteExt;

    use super::*;

    fn response(body: &'static str) -> reqwest::Response {
        http::Response::new(body).into()
    }

    async fn decode(
        body: &'static str,
        limit: u64,
    ) -> Result<Vec<Arc<ObservedApp>>, MarathonError> {
        decode_app_list(
            "list apps",
            "http://m/v2/apps".into(),
            response(body),
            limit,
            AppSnapshot::default(),
        )
        .await
    }

    const TWO_APPS: &str = r#"{"apps": [
        {"id": "/web.main.gitaa.configbb", "instances": 2, "tasks": [
            {"id": "web.main.t1", "appId": "/web.main.gitaa.configbb", "host": "slave1"}],
         "unknownKey": {"nested": [1, 2]}},
        {"id": "/api.main.gitcc.configdd", "instances": 1}
    ], "extra": true}"#;

    #[tokio::test]
    async fn a_list_decodes_into_observed_apps_ignoring_unknown_keys() {
        let apps = decode(TWO_APPS, MAX_LIST_BYTES).await.expect("decodes");
        let ids: Vec<&str> = apps.iter().map(|a| a.id.as_str()).collect();
        assert_eq!(
            ids,
            ["/web.main.gitaa.configbb", "/api.main.gitcc.configdd"]
        );
        assert_eq!(apps[0].instances, 2);
        assert_eq!(apps[0].tasks.len(), 1);
        assert_eq!(apps[0].tasks[0].host, "slave1");
    }

    #[tokio::test]
    async fn a_list_reuses_every_held_app_it_equals() {
        let mut first = decode(TWO_APPS, MAX_LIST_BYTES).await.expect("decodes");
        first.sort_by(|a, b| a.id.cmp(&b.id));
        let held: AppSnapshot = Arc::new(first);
        let changed = TWO_APPS.replace(r#""instances": 1"#, r#""instances": 3"#);
        let body: &'static str = Box::leak(changed.into_boxed_str());
        for (body, api_same) in [(TWO_APPS, true), (body, false)] {
            let again = decode_app_list(
                "list apps",
                "http://m/v2/apps".into(),
                response(body),
                MAX_LIST_BYTES,
                held.clone(),
            )
            .await
            .expect("decodes");
            let web = again
                .iter()
                .find(|a| a.id.starts_with("/web"))
                .expect("web");
            let api = again
                .iter()
                .find(|a| a.id.starts_with("/api"))
                .expect("api");
            assert!(Arc::ptr_eq(web, &held[1]), "unchanged: the held Arc");
            assert_eq!(Arc::ptr_eq(api, &held[0]), api_same, "{body}");
        }
    }

    #[tokio::test]
    async fn bad_bodies_are_decode_errors_and_a_large_one_is_refused() {
        for bad in [
            r#"{"apps": [{"id": 5}]}"#,
            r#"{"apps": ["#,
            r#"{"apps": []} trailing"#,
            r#"{"other": []}"#,
            r#"{"apps": [], "apps": []}"#,
            "",
        ] {
            let err = decode(bad, MAX_LIST_BYTES).await.expect_err(bad);
            assert!(
                matches!(err, MarathonError::Decode { .. }),
                "{bad}: {err:?}"
            );
        }
        let err = decode(TWO_APPS, 64).await.expect_err("over the limit");
        assert!(
            matches!(err, MarathonError::TooLarge { limit: 64, .. }),
            "{err:?}"
        );
    }

    /// A body cut short by the server is a transport error (the cause), not a parse error.
    #[tokio::test]
    async fn a_cut_body_is_a_request_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let (mut sock, _) = listener.accept().await.expect("accept");
            let mut buf = [0u8; 4096];
            let _ = tokio::io::AsyncReadExt::read(&mut sock, &mut buf).await;
            let head = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 100000\r\n\r\n";
            sock.write_all(head.as_bytes()).await.expect("head");
            sock.write_all(br#"{"apps": [{"id": "/web.main.gita.configb"#)
                .await
                .expect("part");
            // dropped: the connection closes 99,9xx bytes early
        });
        let url = format!("http://{addr}/v2/apps");
        let client = crate::observed::http::client(std::time::Duration::from_secs(5), 1);
        let resp = client.get(&url).send().await.expect("head arrives");
        let err = decode_app_list(
            "list apps",
            url,
            resp,
            MAX_LIST_BYTES,
            AppSnapshot::default(),
        )
        .await
        .expect_err("cut");
        assert!(matches!(err, MarathonError::Request { .. }), "{err:?}");
    }
}
