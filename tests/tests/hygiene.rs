//! Input and output hygiene: hostile bytes get a 400 with the documented error shape, unknown
//! API paths never answer with the web page, browsers get the security headers, and common
//! passwords are refused.

use parley_testkit::Stack;
use parley_testkit::Worker::{Delivery, Directory, Persist};
use serde_json::{Value, json};

async fn stack_with_web_dir(dir: &std::path::Path) -> anyhow::Result<Stack> {
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>Parley</title>",
    )?;
    Stack::with(&[Directory])
        .env(&[("PARLEY_WEB_DIR", &dir.display().to_string())])
        .start()
        .await
}

#[tokio::test]
async fn nul_bytes_anywhere_are_a_bad_request_not_an_outage() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    let (alice, _bob, conv) = api.direct_pair().await?;
    let (s, body) = api
        .call(
            "POST",
            "/auth/login",
            None,
            Some(json!({"username": "ali\u{0}ce", "password": "whatever-it-is"})),
        )
        .await?;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let (s, body) = api
        .call("GET", "/users/search?q=al%00", Some(&alice.token), None)
        .await?;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    let mut ws = parley_testkit::Ws::connect(&stack.edge_url(0), &alice.token).await?;
    let id = ws.send_message(conv, "report me").await?;
    // Reports need the message stored, not just accepted.
    ws.recv_until(|v| v["type"] == "message:new").await?;
    let (s, body) = api
        .call(
            "POST",
            &format!("/conversations/{conv}/messages/{id}/report"),
            Some(&alice.token),
            Some(json!({"reason": "spam\u{0}"})),
        )
        .await?;
    assert_eq!(
        (s, body["code"].as_str()),
        (400, Some("bad_request")),
        "{body}"
    );
    // A literal backslash-u text is ordinary text.
    let (s, body) = api
        .call(
            "POST",
            &format!("/conversations/{conv}/messages/{id}/report"),
            Some(&alice.token),
            Some(json!({"reason": "it says \\u0000 here"})),
        )
        .await?;
    assert_eq!(s, 201, "{body}");
    // Everything still works for everyone.
    let (s, _) = api
        .call("GET", "/users/search?q=bob", Some(&alice.token), None)
        .await?;
    assert_eq!(s, 200);
    Ok(())
}

#[tokio::test]
async fn query_errors_unknown_api_paths_and_headers() -> anyhow::Result<()> {
    let web = std::env::temp_dir().join(format!("parley-web-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&web)?;
    let stack = stack_with_web_dir(&web).await;
    let stack = stack?;
    let api = stack.api();
    let alice = api.register("alice").await?;
    let conv = Value::String(uuid::Uuid::now_v7().to_string());
    let http = reqwest::Client::new();
    let base = stack.edge_url(0);

    let r = http
        .get(format!(
            "{base}/api/v1/conversations/{}/messages?limit=lots",
            conv.as_str().unwrap_or_default()
        ))
        .bearer_auth(&alice.token)
        .send()
        .await?;
    assert_eq!(r.status(), 400);
    assert!(is_json(&r), "query errors are JSON");
    let body: Value = r.json().await?;
    assert_eq!(body["code"], "bad_request", "{body}");

    for path in [
        "/api/v1/nope",
        "/api/v2/conversations",
        "/api",
        "/api/v1/users/me/nothing",
    ] {
        let r = http.get(format!("{base}{path}")).send().await?;
        assert_eq!(r.status(), 404, "{path}");
        assert!(is_json(&r), "{path} answers JSON, not the web page");
        let body: Value = r.json().await?;
        assert_eq!(body["code"], "not_found", "{path}: {body}");
    }

    // The web client (and its client-side routes) are still served, with the headers.
    for path in ["/", "/c/anything"] {
        let r = http.get(format!("{base}{path}")).send().await?;
        assert_eq!(r.status(), 200, "{path}");
        let h = r.headers();
        let csp = h
            .get("content-security-policy")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default();
        assert!(csp.contains("frame-ancestors 'none'"), "{path}: {csp}");
        assert!(csp.contains("script-src 'self'"), "{path}: {csp}");
        assert_eq!(
            h.get("x-content-type-options").map(|v| v.as_bytes()),
            Some(&b"nosniff"[..])
        );
        assert_eq!(
            h.get("x-frame-options").map(|v| v.as_bytes()),
            Some(&b"DENY"[..])
        );
        assert_eq!(
            h.get("referrer-policy").map(|v| v.as_bytes()),
            Some(&b"no-referrer"[..])
        );
    }
    let _ = std::fs::remove_dir_all(&web);
    Ok(())
}

fn is_json(r: &reqwest::Response) -> bool {
    r.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

#[tokio::test]
async fn common_passwords_are_refused_and_presence_defaults_to_contacts() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory, Persist, Delivery]).start().await?;
    let api = stack.api();
    for pw in ["password", "12345678", "qwerty123", "iloveyou"] {
        let (s, body) = api
            .call(
                "POST",
                "/auth/register",
                None,
                Some(json!({"username": format!("u{}", &uuid::Uuid::now_v7().simple().to_string()[20..]), "password": pw})),
            )
            .await?;
        assert_eq!(
            (s, body["code"].as_str()),
            (400, Some("bad_request")),
            "{pw}: {body}"
        );
        assert!(
            body["message"]
                .as_str()
                .unwrap_or_default()
                .contains("too easy to guess"),
            "{body}"
        );
    }
    let alice = api.register("alice").await?;
    let (s, me) = api
        .call("GET", "/users/me", Some(&alice.token), None)
        .await?;
    assert_eq!(s, 200);
    assert_eq!(me["presencePrivacy"], "contacts", "{me}");
    Ok(())
}

#[tokio::test]
async fn a_connection_that_sends_no_complete_request_head_is_closed() -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stack = Stack::with(&[])
        .env(&[("PARLEY_HTTP_HEADER_TIMEOUT_SECONDS", "1")])
        .start()
        .await?;
    let addr = stack.edge_url(0).trim_start_matches("http://").to_string();
    // A slow head (a byte now and then) and a connection that says nothing.
    let mut slow = tokio::net::TcpStream::connect(&addr).await?;
    slow.write_all(b"GET /api/v1/openapi.json HTTP/1.1\r\nHost: x\r\n")
        .await?;
    let mut silent = tokio::net::TcpStream::connect(&addr).await?;
    let started = std::time::Instant::now();
    for conn in [&mut slow, &mut silent] {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(std::time::Duration::from_secs(10), async {
            loop {
                match conn.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "connection still open after 10 s");
    }
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
    // Ordinary requests are unaffected.
    let (s, _) = stack.api().call("GET", "/openapi.json", None, None).await?;
    assert_eq!(s, 200);
    Ok(())
}

/// One client address connecting, calling REST or signing in in a loop spends only its own
/// budget: a user at another address still connects, registers and logs in.
#[tokio::test]
async fn one_address_cannot_use_up_everyone_elses_budget() -> anyhow::Result<()> {
    let env = [
        ("PARLEY_ADDR_ACCEPT_RATE", "0.01"),
        ("PARLEY_ADDR_ACCEPT_BURST", "5"),
        ("PARLEY_ADDR_REST_RATE", "0.01"),
        ("PARLEY_ADDR_REST_BURST", "60"),
        ("PARLEY_ADDR_AUTH_RATE", "0.01"),
        ("PARLEY_ADDR_AUTH_BURST", "6"),
        // The edge-wide limiter stays as it was: generous.
        ("PARLEY_ACCEPT_RATE", "1000"),
        ("PARLEY_ACCEPT_BURST", "1000"),
    ];
    let stack = Stack::with(&[Directory]).env(&env).start().await?;
    let base = stack.edge_url(0);
    let attacker = stack.api();
    let other: std::net::IpAddr = "127.0.0.2".parse()?;
    let user_api = parley_testkit::Api::from_address(&base, other)?;

    // The attacker signs in for 40 usernames, one attempt each: only the burst is answered.
    let mut limited = 0;
    for i in 0..40 {
        let (s, body) = attacker
            .call(
                "POST",
                "/auth/login",
                None,
                Some(json!({"username": format!("victim{i}"), "password": "guess-guess-guess"})),
            )
            .await?;
        match s {
            401 => {}
            429 => {
                assert_eq!(body["code"], "rate_limited", "{body}");
                limited += 1;
            }
            other => anyhow::bail!("unexpected {other}: {body}"),
        }
    }
    assert!(limited >= 34, "only {limited} of 40 sign-ins were limited");

    // The attacker opens sockets in a loop.
    let ws_url = format!("{}/ws", base.replacen("http", "ws", 1));
    let mut refused = 0;
    let mut open = Vec::new();
    for _ in 0..20 {
        match tokio_tungstenite::connect_async(ws_url.as_str()).await {
            Ok((socket, _)) => open.push(socket),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                assert_eq!(resp.status().as_u16(), 429);
                refused += 1;
            }
            Err(e) => return Err(e.into()),
        }
    }
    assert_eq!((open.len(), refused), (5, 15));

    // Meanwhile a user at another address registers, connects and is served.
    let user = user_api.register("real").await?;
    let mut ws = parley_testkit::Ws::connect_from(&base, &user.token, other).await?;
    ws.send(json!({"type": "ping", "ref": "p"})).await?;
    assert_eq!(ws.recv_type("pong").await?["ref"], "p");
    let (s, _) = user_api
        .call("GET", "/users/me", Some(&user.token), None)
        .await?;
    assert_eq!(s, 200);
    Ok(())
}

/// Every frame spends from the connection's budget, invalid ones too, and a typing hint for
/// an unknown conversation (a membership lookup each) spends like a command.
#[tokio::test]
async fn every_frame_is_metered_typing_for_random_conversations_too() -> anyhow::Result<()> {
    let stack = Stack::with(&[Directory])
        .env(&[
            ("PARLEY_CONN_FRAME_RATE", "0.01"),
            ("PARLEY_CONN_FRAME_BURST", "30"),
            ("PARLEY_CONN_RATE", "0.01"),
            ("PARLEY_CONN_BURST", "10"),
        ])
        .start()
        .await?;
    let alice = stack.api().register("alice").await?;
    let mut ws = parley_testkit::Ws::connect(&stack.edge_url(0), &alice.token).await?;
    for _ in 0..20 {
        let conv = uuid::Uuid::now_v7();
        ws.send(json!({"type": "typing:start", "conversationId": conv}))
            .await?;
    }
    let mut limited = 0;
    let mut other = 0;
    // Everything answered arrives within the quiet period (a time-out ends the reading).
    while let Ok(Some(frame)) = ws.recv(std::time::Duration::from_millis(1500)).await {
        match frame["code"].as_str() {
            Some("rate_limited") => limited += 1,
            Some(_) => other += 1,
            None => {}
        }
    }
    // 10 hints were looked up (and refused: not a member); the other 10 never were.
    assert_eq!((other, limited), (10, 10));
    // Garbage is metered too: the frame budget (30, 20 spent so far) runs out.
    for _ in 0..20 {
        ws.send_text("not json".into()).await?;
    }
    let mut limited = 0;
    while let Ok(Some(frame)) = ws.recv(std::time::Duration::from_millis(1000)).await {
        if frame["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(
        limited >= 10,
        "only {limited} of 20 garbage frames were limited"
    );
    Ok(())
}
